"""Fuzzing: N hostile inputs through parse, checks, compile and export; each must be answered
with a shape or with diagnostics.

    python bench/fuzz.py [-n 100000] [-j 2] [--seed 0] [--start 0] [--families mutated,...]
                         [--out fuzz-findings] [--timeout 10] [--memory 2000] [--recycle 25000]
    python bench/fuzz.py --replay fuzz-findings/      # run saved inputs again, one by one, timed

Input i of a run is drawn from `random.Random(f"{seed}:{i}")`: its family (weighted as in
`tests/helpers/strategies.FAMILIES`) and then its text or bytes, so `--seed S --start i -n 1` replays
it. Each input goes through `strategies.run_input` (compile_text, then GLB/OBJ/PLY/manifest
export of what compiles) in one of `-j` worker processes, under a CPU-time limit (`--timeout`)
and an address-space limit (`--memory` MB above what the worker holds when it starts). A
worker is replaced by a fresh one after `--recycle` inputs, so that what glibc's malloc keeps of
memory freed by earlier inputs (fragments it does not give back) is not counted as a later
input's memory; `--recycle 0` keeps the workers for the whole run, and the report shows the
malloc heap either way (in use, and free but kept).

Progress goes to stderr. At the end, stdout gets inputs/s, the outcomes per family, the worst
input by CPU time, by memory (peak RSS while it ran) and by growth over the RSS before it,
and every distinct finding: an exception other than `Proto3dError` (grouped by type and the
project line that raised it), a broken promise (grouped by kind), an input over the time
limit. Each finding's shortest input and a minimised one are saved under `--out` for replay.
The exit status is 1 when there is a finding.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import re
import resource
import shutil
import signal
import sys
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from proto3d.files import slug

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers.strategies import FAMILIES, BrokenPromise, project_path, run_input, seed_corpus  # noqa: E402

CHUNK = 250  # inputs per task sent to a worker


class OverTime(BaseException):
    """The input ran past the CPU-time limit (a BaseException, so no `except Exception` eats it)."""


def _raise_over_time(signum, frame):
    raise OverTime


class PeakMemory:
    """Peak resident memory of this process during one input. Linux lets a process reset its
    high-water mark (/proc/self/clear_refs); elsewhere the lifetime peak is all there is."""

    def __init__(self):
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.resettable = True
        except OSError:
            self.resettable = False

    def reset(self) -> None:
        if self.resettable:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")

    def current_and_peak(self) -> tuple[int, int]:
        """(RSS now, peak RSS since the last reset), in bytes."""
        if not self.resettable:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return peak, peak
        status = Path("/proc/self/status").read_text()
        field = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
        return int(field["VmRSS"]) * 1024, int(field["VmHWM"]) * 1024


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
    ]


def malloc_heap() -> tuple[int, int]:
    """(bytes in use, bytes free but kept) in glibc's malloc heap, all arenas; (0, 0) elsewhere.
    The split tells a leak (in use grows) from fragments malloc keeps (free grows)."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return 0, 0
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd, info.fordblks


# ------------------------------------------------------------------------------ in the workers

_corpus: list[str] = []
_memory: PeakMemory | None = None
_timeout = 10.0


def _start_worker(generated: int, timeout: float, memory_mb: int) -> None:
    global _corpus, _memory, _timeout
    _corpus, _memory, _timeout = seed_corpus(generated), PeakMemory(), timeout
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C
    signal.signal(signal.SIGPROF, _raise_over_time)
    for text in _corpus:  # every kernel loaded (or compiled) before anything is measured: a kernel's
        run_input(text)  # first load costs up to 2 s once per process, and is no input's cost
    if memory_mb:
        size = int(re.search(r"^VmSize:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)[1]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + memory_mb * 2**20, resource.RLIM_INFINITY))


def draw(seed: int, index: int, families: list[str]) -> tuple[str, str | bytes]:
    """Input `index` of the run with `seed`: (family, text or bytes)."""
    rng = random.Random(f"{seed}:{index}")
    family = rng.choices(families, [FAMILIES[f][1] for f in families])[0]
    return family, FAMILIES[family][0](rng, _corpus)


def judge(data: str | bytes) -> tuple[str, str | None, str]:
    """(outcome, finding key or None, detail): outcome is compiled, rejected or a finding."""
    try:
        signal.setitimer(signal.ITIMER_PROF, _timeout)
        try:
            result = run_input(data)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    except OverTime:
        return "finding", f"over {_timeout:g} s CPU", ""
    except BrokenPromise as error:
        return "finding", str(error).split(":")[0], str(error)[:2000]
    except Exception as error:  # each one is a bug: keep where it was raised
        return "finding", _where(error), "".join(traceback.format_exception(error))[-4000:]
    return ("compiled", None, "") if not isinstance(result, list) else ("rejected", None, result[0].code)


def _where(error: BaseException) -> str:
    """`Type at file:line`: the innermost frame in the project, or the innermost at all."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [
        f for f in frames if f.filename.startswith(str(ROOT)) and "site-packages" not in f.filename
    ] or frames
    frame = ours[-1]
    return f"{type(error).__name__} at {project_path(frame.filename)}:{frame.lineno}"


def run_chunk(seed: int, start: int, count: int, families: list[str]) -> dict:
    """Run inputs start … start+count-1; return the counts, findings and worst inputs."""
    outcomes: Counter = Counter()
    codes: Counter = Counter()
    findings: dict = {}  # key -> [count, (size, family, index, data, detail)] with the shortest input
    worst_cpu = worst_memory = worst_growth = None
    cpu_by_family: Counter = Counter()
    for index in range(start, start + count):
        family, data = draw(seed, index, families)
        _memory.reset()
        before, _ = _memory.current_and_peak()
        began = time.process_time()
        outcome, key, detail = judge(data)
        cpu = time.process_time() - began
        _, peak = _memory.current_and_peak()
        outcomes[family, outcome] += 1
        cpu_by_family[family] += cpu
        if outcome == "rejected":
            codes[detail] += 1
        if key is not None:
            entry = findings.setdefault(key, [0, None])
            entry[0] += 1
            if entry[1] is None or len(data) < entry[1][0]:
                entry[1] = (len(data), family, index, data, detail)
        if worst_cpu is None or cpu > worst_cpu[0]:
            worst_cpu = (cpu, family, index, data)
        if worst_memory is None or peak > worst_memory[0]:
            worst_memory = (peak, family, index, data)
        if worst_growth is None or peak - before > worst_growth[0]:
            worst_growth = (peak - before, peak, family, index, data)
    return {
        "heap": malloc_heap(),
        "outcomes": outcomes,
        "codes": codes,
        "findings": findings,
        "worst_cpu": worst_cpu,
        "worst_memory": worst_memory,
        "worst_growth": worst_growth,
        "cpu_by_family": cpu_by_family,
        "count": count,
    }


def minimise(data: str | bytes, key: str, attempts: int = 400) -> str | bytes:
    """A shorter input with the same finding: drop runs of lines, then of characters (ddmin)."""
    for split in (lambda d: d.splitlines(keepends=True), lambda d: [d[i : i + 1] for i in range(len(d))]):
        pieces, n = split(data), 2
        while 2 <= n <= len(pieces) and attempts > 0:
            size = -(-len(pieces) // n)
            for i in range(0, len(pieces), size):
                attempts -= 1
                candidate = pieces[:i] + pieces[i + size :]
                if judge(data[:0].join(candidate))[1] == key:
                    pieces, n = candidate, max(n - 1, 2)
                    break
            else:
                n = len(pieces) + 1 if n == len(pieces) else min(2 * n, len(pieces))
        data = data[:0].join(pieces)
    return data


# ------------------------------------------------------------------------------ in the parent


def merge(total: dict, part: dict) -> None:
    for name in ("outcomes", "codes", "cpu_by_family"):
        total[name].update(part[name])
    total["count"] += part["count"]
    for key, (count, shortest) in part["findings"].items():
        entry = total["findings"].setdefault(key, [0, shortest])
        entry[0] += count
        if shortest[0] < entry[1][0]:
            entry[1] = shortest
    for name in ("worst_cpu", "worst_memory", "worst_growth"):
        if total[name] is None or part[name][0] > total[name][0]:
            total[name] = part[name]
    total["heap"] = tuple(map(max, total["heap"], part["heap"]))


def save(path: Path, data: str | bytes) -> Path:
    """Bytes as they are (.bin); text as UTF-8 (.pdsl), lone surrogates kept (surrogatepass)."""
    if isinstance(data, bytes):
        path = path.with_suffix(".bin")
        path.write_bytes(data)
    else:
        path = path.with_suffix(".pdsl")
        path.write_bytes(data.encode("utf-8", "surrogatepass"))
    return path


def load(path: Path) -> str | bytes:
    data = path.read_bytes()
    return data if path.suffix == ".bin" else data.decode("utf-8", "surrogatepass")


def _pool(args) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        args.j, initargs=(args.generated, args.timeout, args.memory), initializer=_start_worker
    )


def fuzz(args) -> int:
    families = args.families.split(",") if args.families else list(FAMILIES)
    unknown = set(families) - set(FAMILIES)
    if unknown:
        sys.exit(f"unknown families {sorted(unknown)}; known: {', '.join(FAMILIES)}")
    total = {
        "outcomes": Counter(),
        "codes": Counter(),
        "cpu_by_family": Counter(),
        "findings": {},
        "count": 0,
        "worst_cpu": None,
        "worst_memory": None,
        "worst_growth": None,
        "heap": (0, 0),
    }
    began = time.perf_counter()
    print(f"fuzz: {args.n:,} inputs, seed {args.seed}, {args.j} workers (starting them)", file=sys.stderr)
    chunks = [(s, min(CHUNK, args.start + args.n - s)) for s in range(args.start, args.start + args.n, CHUNK)]
    # A pool for each generation of workers (the pool's own max_tasks_per_child deadlocks on
    # Python 3.11-3.13, cpython#115634).
    per_pool = max(1, args.recycle // CHUNK) * args.j if args.recycle else len(chunks)
    last, stopped = 0.0, False
    while chunks and not stopped:
        batch, chunks = chunks[:per_pool], chunks[per_pool:]
        with _pool(args) as pool:
            futures = {pool.submit(run_chunk, args.seed, s, c, families): (s, c) for s, c in batch}
            try:
                for future in as_completed(futures):
                    merge(total, future.result())
                    del futures[future]
                    now = time.perf_counter()
                    if now - last > 5 or not (futures or chunks):
                        last = now
                        rate = total["count"] / (now - began)
                        print(
                            f"  {total['count']:>10,}/{args.n:,} inputs  {rate:,.0f}/s  "
                            f"findings: {len(total['findings'])} ({sum(c for c, _ in total['findings'].values())} inputs)"
                            f"  eta {(args.n - total['count']) / rate / 60:.0f} min",
                            file=sys.stderr,
                        )
            except (KeyboardInterrupt, BrokenProcessPool) as stop:
                stopped = True
                for future in futures:
                    future.cancel()
                if isinstance(
                    stop, BrokenProcessPool
                ):  # a worker was killed, running one of the first pending chunks
                    ranges = ", ".join(
                        f"--start {s} -n {c}" for s, c in sorted(futures.values())[: args.j + 1]
                    )
                    print(
                        f"a worker died (killed from outside?); the input is in one of: {ranges}",
                        file=sys.stderr,
                    )
                print("stopped: reporting what has run", file=sys.stderr)
    wall = time.perf_counter() - began
    minimal = {}
    if total["findings"] and not stopped:
        with _pool(args) as pool:
            minimal = {
                key: pool.submit(minimise, shortest[3], key)
                for key, (_, shortest) in total["findings"].items()
                if not key.startswith("over ")
            }
            minimal = {key: future.result() for key, future in minimal.items()}
    report(args, total, wall, minimal)
    return 1 if total["findings"] else 0


def report(args, total: dict, wall: float, minimal: dict) -> None:
    n = total["count"]
    if not n:
        print("fuzz: no input has run")
        return
    print(
        f"fuzz: {n:,} inputs in {wall:.0f} s wall with {args.j} workers: {n / wall:,.0f} inputs/s (seed {args.seed})"
    )
    print(f"{'family':<18}{'inputs':>10}{'compiled':>10}{'rejected':>10}{'findings':>10}{'CPU ms/input':>14}")
    for family in FAMILIES:
        counts = {o: total["outcomes"][family, o] for o in ("compiled", "rejected", "finding")}
        inputs = sum(counts.values())
        if inputs:
            print(
                f"{family:<18}{inputs:>10,}{counts['compiled']:>10,}{counts['rejected']:>10,}{counts['finding']:>10,}"
                f"{total['cpu_by_family'][family] / inputs * 1000:>14.2f}"
            )
    mean_cpu = sum(total["cpu_by_family"].values()) / n
    print(
        f"CPU time: {mean_cpu * 1000:.2f} ms per input on average; 1,000,000 inputs would take"
        f" {mean_cpu * 1e6 / args.j / 60:.0f} min on {args.j} idle cores"
    )
    print(
        f"diagnostic codes of the rejected inputs: {len(total['codes'])} distinct; most common "
        + ", ".join(f"{code} {count:,}" for code, count in total["codes"].most_common(8))
    )
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cpu, family, index, data = total["worst_cpu"]
    path = save(out / "worst-cpu", data)
    print(f"worst CPU time: {cpu * 1000:.0f} ms, {family} #{index} ({len(data):,} chars; {path})")
    peak, family, index, data = total["worst_memory"]
    path = save(out / "worst-memory", data)
    print(f"worst memory: peak RSS {peak / 2**20:.0f} MB while it ran, {family} #{index} ({path})")
    growth, peak, family, index, data = total["worst_growth"]
    path = save(out / "worst-growth", data)
    print(
        f"largest growth: {growth / 2**20:+.0f} MB over the RSS before it (peak {peak / 2**20:.0f} MB),"
        f" {family} #{index} ({path})"
    )
    life = (
        f"every {max(1, args.recycle // CHUNK) * CHUNK:,} inputs" if args.recycle else "never (--recycle 0)"
    )
    in_use, kept = total["heap"]
    print(
        f"workers replaced by fresh ones {life}; malloc heap at the end of a chunk: at most"
        f" {in_use / 2**20:.0f} MB in use, {kept / 2**20:.0f} MB free but kept"
    )
    findings = sorted(total["findings"].items(), key=lambda item: -item[1][0])
    print(f"findings: {len(findings)} distinct, {sum(count for _, (count, _) in findings):,} inputs")
    for number, (key, (count, (_, family, index, data, detail))) in enumerate(findings, 1):
        folder = out / f"{number:02d}-{slug(key)[:80]}"
        folder.mkdir()
        save(folder / f"{slug(family)}-{args.seed}-{index}", data)
        (folder / "detail.txt").write_text(f"{key}\n\n{detail}\n", errors="backslashreplace")
        shortest = minimal.get(key, data)
        save(folder / "minimal", shortest)
        print(
            f"  [{number}] {key}: {count:,} inputs, first {family} #{index}; minimal ({len(shortest)} chars):"
            f" {shortest[:300]!r}"
        )
    print(f"saved under {out}/ (python bench/fuzz.py --replay {out})")


def replay(args) -> int:
    global _timeout
    _timeout = args.timeout
    signal.signal(signal.SIGPROF, _raise_over_time)
    paths = [
        p
        for target in map(Path, args.replay)
        for p in (sorted(target.rglob("*")) if target.is_dir() else [target])
        if p.suffix in (".pdsl", ".bin")
    ]
    broken = 0
    memory = PeakMemory()
    for path in paths:
        memory.reset()
        began = time.process_time()
        outcome, key, detail = judge(load(path))
        cpu = time.process_time() - began
        broken += outcome == "finding"
        print(
            f"{path}: {outcome}"
            + (f" {detail}" if outcome == "rejected" else f": {key}" if key else "")
            + f" ({cpu * 1000:.0f} ms CPU, peak RSS {memory.current_and_peak()[1] / 2**20:.0f} MB)"
        )
        if outcome == "finding" and args.verbose:
            print(detail)
    print(f"{len(paths)} inputs, {broken} findings")
    return 1 if broken else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=100_000, help="inputs to run")
    parser.add_argument("-j", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="index of the first input")
    parser.add_argument("--families", default="", help=f"comma-separated subset of: {', '.join(FAMILIES)}")
    parser.add_argument("--generated", type=int, default=300, help="generated programs in the seed corpus")
    parser.add_argument("--out", default="fuzz-findings", help="folder for the findings and worst inputs")
    parser.add_argument("--timeout", type=float, default=10.0, help="CPU seconds an input may take")
    parser.add_argument("--memory", type=int, default=2000, help="MB a worker may grow by (0: no limit)")
    parser.add_argument(
        "--recycle",
        type=int,
        default=25_000,
        help="inputs a worker runs before a fresh one replaces it (0: never)",
    )
    parser.add_argument(
        "--replay", nargs="+", metavar="PATH", help="run saved inputs (files or folders) instead"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="with --replay: print each finding's traceback"
    )
    args = parser.parse_args()
    return replay(args) if args.replay else fuzz(args)


if __name__ == "__main__":
    sys.exit(main())
