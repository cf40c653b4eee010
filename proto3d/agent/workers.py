"""A batch's designs in worker processes, so that it uses every core.

A design's CPU time (compiling, linting, rendering on llvmpipe, PNG encoding, the run folder)
is mostly Python holding the GIL, so threads of one process share one core. Each worker is a
process of its own (its own GIL and GL context), started with `spawn` because EGL contexts and
threads do not survive `fork`, and runs every design it is sent in a thread of its own, so a
few workers keep many designs waiting on the server. The batch process plans, schedules,
keeps the cost budget and shows progress; it sends a design to the worker running the fewest.

Messages over one pipe per worker: to it ("run", id, job), ("stop",) and ("close",); from it
("progress", id, message, cost so far) and ("done", id, summary, or None when interrupted).
A worker whose batch process is gone (the pipe reads end of file: the batch was killed) exits
at once, as the batch's own threads would have: its run folders resume like any killed run.
A worker that dies fails the designs it was running; the next design starts a new one.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field


class WorkerDied(Exception):
    """The worker process running a design ended before the design did (a crash in a native library)."""


def default_workers() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: object  # multiprocessing.connection.Connection
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    running: set[int] = field(default_factory=set)  # ids of the designs it runs

    def send(self, *message) -> None:
        with self.send_lock:
            self.connection.send(message)


class WorkerPool:
    """`processes` workers, started when first needed, each running `run_design(job, progress,
    live)` (see proto3d.agent.batch; it must pickle) for the designs it is sent."""

    def __init__(self, processes: int, run_design: Callable):
        self.run_design = run_design
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[_Worker | None] = [None] * max(1, processes)
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[Future, Callable[[str, float], None]]] = {}
        self._next_id = 0

    def run(self, job, progress: Callable[[str, float], None]) -> dict:
        """Run one design in a worker and return its summary; `progress(message, cost so far)` is
        called on each of its steps. Raises KeyboardInterrupt when the design was stopped."""
        future: Future = Future()
        with self._lock:
            self._next_id += 1
            job_id = self._next_id
            worker = self._least_busy()
            worker.running.add(job_id)
            self._waiting[job_id] = (future, progress)
        try:
            worker.send("run", job_id, job)
        except OSError:  # the worker has just died: its reader fails this design with WorkerDied
            pass
        return future.result()

    def stop(self) -> None:
        """Every running design stops at its next step (its folder says `interrupted`)."""
        for worker in self._started():
            try:
                worker.send("stop")
            except OSError:  # the worker is gone
                pass

    def close(self) -> None:
        """Let the workers finish what they run, then end them."""
        for worker in self._started():
            try:
                worker.send("close")
            except OSError:
                pass
            worker.process.join()

    def _started(self) -> list[_Worker]:
        with self._lock:
            return [w for w in self._slots if w is not None]

    def _least_busy(self) -> _Worker:
        """The worker running the fewest designs; an empty slot is started when every worker runs one."""
        loads = [len(w.running) if w is not None else 0.5 for w in self._slots]  # ties go to a running worker
        k = loads.index(min(loads))
        if self._slots[k] is None:
            ours, theirs = self._context.Pipe()
            process = self._context.Process(
                target=_serve, args=(theirs, self.run_design), name=f"proto3d-design-worker-{k}", daemon=True
            )
            process.start()
            theirs.close()
            self._slots[k] = _Worker(process, ours)
            threading.Thread(target=self._read, args=(k, self._slots[k]), daemon=True).start()
        return self._slots[k]

    def _read(self, slot: int, worker: _Worker) -> None:
        """Relay one worker's messages to the designs waiting on it, until it ends."""
        while True:
            try:
                kind, job_id, *rest = worker.connection.recv()
            except (EOFError, OSError):
                break
            future, progress = self._waiting[job_id]
            if kind == "progress":
                progress(*rest)
                continue
            with self._lock:
                del self._waiting[job_id]
                worker.running.discard(job_id)
            if rest[0] is None:
                future.set_exception(KeyboardInterrupt())
            else:
                future.set_result(rest[0])
        worker.process.join(timeout=10)
        with self._lock:
            self._slots[slot] = None
            lost = [(job_id, self._waiting.pop(job_id)[0]) for job_id in sorted(worker.running)]
        for _, future in lost:
            future.set_exception(
                WorkerDied(
                    f"worker process {worker.process.pid} ended (exit code {worker.process.exitcode}) "
                    "while running this design"
                )
            )


def _serve(connection, run_design: Callable) -> None:
    """A worker process: run each design it is sent in a thread, until told to close."""
    from proto3d.agent.batch import run_guarded

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch process's: it sends "stop"
    stop = threading.Event()
    send_lock = threading.Lock()
    threads: list[threading.Thread] = []

    def send(*message) -> None:
        with send_lock:
            connection.send(message)

    def design(job_id: int, job) -> None:
        agents: list = []

        def progress(message: str) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            send("progress", job_id, message, agents[0].recorder.total.cost if agents else 0.0)

        try:
            summary = run_guarded(run_design, job, progress, agents.append)
        except KeyboardInterrupt:
            summary = None
        send("done", job_id, summary)

    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the batch process is gone: stop now, as its threads would have
            os._exit(1)
        if message[0] == "run":
            threads = [t for t in threads if t.is_alive()]
            threads.append(threading.Thread(target=design, args=message[1:], daemon=True))
            threads[-1].start()
        elif message[0] == "stop":
            stop.set()
        else:  # close
            for thread in threads:
                thread.join()
            return
