"""Many categories, several designs each, `jobs` at a time: resumable, within a batch cost budget.

Each category with K > 1 designs first gets its designs (one designer call, `plan_designs`);
its design runs are queued as soon as they are known, so planning and running overlap. A
design whose folder already holds a finished run (accepted or budget) is not run again; any
other folder resumes from its recorded calls. `batch.json` sums it all per category.

With `workers` > 1 the designs run in that many worker processes (proto3d.agent.workers), so
the batch uses every core; this process's threads then only plan and wait on them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from proto3d.agent.run import read_summary, write_run_json
from proto3d.agent.workers import WorkerPool
from proto3d.llm.client import slug

FINISHED = ("accepted", "budget")  # a folder with this status is skipped when the batch runs again


@dataclass
class Job:
    category: str
    folder: Path
    plan: dict | None = None  # one design of several; None for K = 1


class Batch:
    """`run_design(job, progress, live)` runs one design and returns its summary; `live(agent)`
    registers the running agent so the batch can read its spending. `plan(category, folder,
    progress)` returns the designs of a category (see proto3d.agent.loop.plan_designs).
    `jobs` designs (or plans) run at a time, in `workers` processes when more than one (then
    `run_design` must pickle, and a design's spending is read at each of its steps)."""

    def __init__(
        self,
        root: Path,
        names: list[str],
        designs: int,
        run_design: Callable,
        plan: Callable,
        jobs: int,
        max_cost: float = 0.0,
        display=None,
        workers: int = 1,
    ):
        self.root, self.names, self.designs = Path(root), names, designs
        self.run_design, self.plan = run_design, plan
        self.jobs, self.max_cost = jobs, max_cost
        self.display = display  # rich Progress or None
        self.workers = WorkerPool(min(workers, jobs), run_design) if min(workers, jobs) > 1 else None
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._spent = 0.0  # by finished designs and plans
        self._running: dict[int, Callable[[], float]] = {}  # id -> what a running design has spent so far
        self.results: dict[str, list[dict]] = {name: [] for name in names}
        self.plans: dict[str, dict] = {}

    def spent(self) -> float:
        with self._lock:
            return self._spent + sum(spent() for spent in self._running.values())

    def run(self) -> dict:
        """Run everything; returns the batch summary (also written to ROOT/batch.json)."""
        pool = ThreadPoolExecutor(max_workers=self.jobs)
        pending: dict[Future, tuple[str, Job | None]] = {}
        for name in self.names:
            if self.designs == 1:
                job = Job(name, self.root / slug(name))
                pending[pool.submit(self._design, job)] = (name, job)
            else:
                pending[pool.submit(self._plan, name)] = (name, None)
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    name, job = pending.pop(future)
                    if job is not None:
                        self.results[name].append(future.result())
                        continue
                    for job in future.result():
                        pending[pool.submit(self._design, job)] = (name, job)
        except KeyboardInterrupt:
            self.stop.set()
            if self.workers:
                self.workers.stop()
            raise
        finally:
            pool.shutdown(wait=not self.stop.is_set(), cancel_futures=True)
            if self.workers:
                self.workers.close()
        summary = batch_summary(self.results, self.plans, self.max_cost)
        write_run_json(self.root / "batch.json", summary)
        return summary

    def _plan(self, name: str) -> list[Job]:
        folder = self.root / slug(name)
        if self._over_budget():
            self.results[name].append(_not_run(name, None, folder, "skipped", self._budget_reason()))
            return []
        try:
            plan = self.plan(name, folder, self._progress(name))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # no designs: the category fails, the batch goes on
            self.results[name].append(_not_run(name, None, folder, "failed", f"designs: {exc}"))
            return []
        with self._lock:
            self._spent += plan["usage"]["cost"]
        self.plans[name] = plan
        return [Job(name, folder / d["slug"], d) for d in plan["designs"]]

    def _design(self, job: Job) -> dict:
        design = job.plan["name"] if job.plan else None
        previous = read_summary(job.folder)
        if previous.get("status") in FINISHED:
            summary = {**previous, "skipped": "finished in an earlier run"}
        elif self._over_budget():
            return _not_run(job.category, design, job.folder, "skipped", self._budget_reason())
        else:
            label = f"{job.category}" + (f" / {design}" if design else "")
            task = self.display.add_task(f"{label}: starting", total=None) if self.display else None

            def show(message: str) -> None:
                if task is not None:
                    self.display.update(task, description=f"{label}: {message}")

            def progress(message: str) -> None:
                if self.stop.is_set():
                    raise KeyboardInterrupt
                show(message)

            def relay(message: str, cost: float) -> None:  # a worker's design: it stops itself
                self._register(job, lambda: cost)
                show(message)

            def in_worker(job: Job, progress, live) -> dict:
                return self.workers.run(job, relay)

            def live(agent) -> None:
                self._register(job, lambda: agent.recorder.total.cost)

            try:
                summary = run_guarded(in_worker if self.workers else self.run_design, job, progress, live)
            finally:
                with self._lock:
                    self._running.pop(id(job), None)
                if task is not None:
                    self.display.remove_task(task)
        with self._lock:
            self._spent += summary.get("usage", {}).get("cost", 0.0)
        return {**summary, "folder": str(job.folder)}

    def _register(self, job: Job, spent: Callable[[], float]) -> None:
        with self._lock:
            self._running[id(job)] = spent

    def _progress(self, name: str):
        def progress(message: str) -> None:
            if self.stop.is_set():
                raise KeyboardInterrupt

        return progress

    def _over_budget(self) -> bool:
        return bool(self.max_cost) and self.spent() >= self.max_cost

    def _budget_reason(self) -> str:
        return f"batch cost budget ({self.max_cost:g}) spent; not started"


def run_guarded(run_design: Callable, job: Job, progress, live) -> dict:
    """`run_design(job, progress, live)`, or a failed summary when it raises: one design's crash
    must not take the batch down (an interrupt must)."""
    try:
        return run_design(job, progress, live)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        design = job.plan["name"] if job.plan else None
        return _not_run(job.category, design, job.folder, "failed", f"{type(exc).__name__}: {exc}")


def _not_run(category: str, design: str | None, folder: Path, status: str, reason: str) -> dict:
    return {"category": category, "design": design, "status": status, "reason": reason, "folder": str(folder)}


def batch_summary(results: dict[str, list[dict]], plans: dict[str, dict], max_cost: float) -> dict:
    """Per category: designs by status, calls, tokens, cost, cost per accepted prototype, and the
    variant-check pass rate (variants the inspector accepted / variants sampled); then totals."""
    rows = [_row(name, runs, plans.get(name, {}).get("usage", {})) for name, runs in results.items()]
    totals = _row(
        "(all)",
        [r for runs in results.values() for r in runs],
        {
            key: sum(p.get("usage", {}).get(key, 0) for p in plans.values())
            for key in ("calls", "tokens", "cost")
        },
    )
    return {
        "max_batch_cost": max_cost,
        "categories": rows,
        "totals": {k: v for k, v in totals.items() if k != "runs"},
    }


def _row(name: str, runs: list[dict], planning: dict) -> dict:
    count = {
        status: sum(r["status"] == status for r in runs)
        for status in ("accepted", "budget", "failed", "skipped")
    }
    usage = [r.get("usage", {}) for r in runs] + [planning]
    calls, tokens = sum(u.get("calls", 0) for u in usage), sum(u.get("tokens", 0) for u in usage)
    cost = sum(u.get("cost", 0.0) for u in usage)
    checks = [
        r["variant_check"] for r in runs if r.get("variant_check") and r["variant_check"].get("sampled")
    ]
    shown = sum(c.get("shown_to_inspector", 0) for c in checks)
    return {
        "category": name,
        "designs": len(runs),
        **count,
        "calls": calls,
        "tokens": tokens,
        "cost": round(cost, 6),
        "cost_per_accepted": round(cost / count["accepted"], 6) if count["accepted"] else None,
        "variant_pass_rate": round(sum(c.get("accepted_by_inspector", 0) for c in checks) / shown, 4)
        if shown
        else None,
        "runs": [
            {k: r.get(k) for k in ("design", "status", "reason", "folder", "params", "variant_check")}
            for r in runs
        ],
    }
