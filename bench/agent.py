"""The agent loop: CPU overhead at scale, and prompt tokens per accepted prototype.

    python bench/agent.py [--categories 1000] [--designs 2] [--jobs 32] [--latency 0.05] [--variants 8]
    python bench/agent.py --tokens [--two-step] [--runs DIR ...] [--json PATH]
    python bench/agent.py --coarse [--runs DIR ...]

`--tokens` replays recorded runs through the prompts of the code it imports: each run's
recorded replies are answered in call order to the requests this code builds (real compiler
and renderer), and each request is counted. Runs: the fixture below (one call of every role,
a repair, a lint fix and a rejection) and every run folder under `--runs` (default
../shared/agent-runs beside the checkout, read in place). Text tokens are estimated without a
tokenizer as characters / 3.8, which matches within 1 % the counts a real server returned
for the text-only calls of two of those runs; images as OpenAI's high-detail tiles (85 + 170
per 512-px tile after the standard downscaling). The cacheable prefix of a request is its
leading messages identical to a leading run of an earlier request of the same run (what a
prefix-caching server reads from its cache). "Before" is the same script run with
PYTHONPATH at a checkout of the branch point (see bench/README.md).

Runs `proto3d agent --categories … --per-category K --jobs N` as the CLI does (proto3d.agent.batch
with the real compiler, lints, contact sheets, variant checks and variant sheets) against a
local OpenAI-protocol server in another process that answers each request after `--latency`
seconds with canned replies (a designs list, bounds, an arrangement, a program with params, an
accepting inspector, plausible variants). The server runs in its own process, so this
process's CPU time is the loop's overhead: HTTP client, recording, compiling, linting,
rendering, checking variants and writing the run folders, without the model's time.
Target: at most 0.5 CPU s of overhead per design. With fewer categories than 1,000 the
figures are per design, so they extrapolate linearly (the batch holds no per-design state).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = """shape "table"
bounds [1.0, 0.6, 0.8]
param top_h = 0.75 in [0.65, 0.8]
param top_t = 0.04 in [0.03, 0.05]
param leg_r = 0.02 in [0.015, 0.03]
part top { box(size=[1.0, 0.6, top_t], at=[0, 0, top_h], align="top", bevel=0.005) }
for x in [-0.45, 0.45], y in [-0.25, 0.25] {
    part leg { cylinder(r=leg_r, h=top_h - top_t + 0.005, at=[x, y, 0], align="bottom") }
}
"""
PARTS = [{"label": "top", "count": 1, "description": "flat top"}, {"label": "leg", "count": 4}]
TOP = {"part": "top", "size": [1, 0.6, 0.04], "position": [0, 0, 0.73]}
LEGS = [
    {"part": "leg", "size": [0.04, 0.04, 0.71], "position": [x, y, 0.355]}
    for x in (-0.45, 0.45)
    for y in (-0.25, 0.25)
]
APRON = {"part": "apron", "size": [0.9, 0.5, 0.05], "position": [0, 0, 0.68]}
REPLIES = [  # (every marker the prompt must hold, the reply), first match wins
    (
        ["structurally different designs"],
        json.dumps(
            {
                "designs": [
                    {"name": "Four-legged", "description": "a top on four legs", "parts": PARTS},
                    {
                        "name": "With apron",
                        "description": "a top on four legs joined by an apron",
                        "parts": PARTS + [{"label": "apron", "count": 1}],
                    },
                ]
            }
        ),
    ),
    (["Step 1 of 3"], json.dumps({"bounds": [1.0, 0.6, 0.8]})),
    (["Step 3 of 3", "With apron"], json.dumps({"instances": [TOP, *LEGS, APRON]})),
    (["Step 3 of 3"], json.dumps({"instances": [TOP, *LEGS]})),
    (["You are the visual inspector", "sheet of"], ""),  # one verdict per variant, made by the server
    (
        ["You are the visual inspector"],
        json.dumps({"accept": True, "score": 8, "summary": "a table", "problems": []}),
    ),
    (
        ["With apron"],
        f"```pdsl\n{PROGRAM}part apron {{ box(size=[0.9, 0.5, 0.05], at=[0, 0, top.bottom.z], "
        'align="top") }\n```',
    ),
    ([], f"```pdsl\n{PROGRAM}```"),
]

SERVER = r"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
replies, latency = json.loads(sys.argv[1]), float(sys.argv[2])

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = " ".join(p if isinstance(p, str) else " ".join(x.get("text", "") for x in p)
                        for p in (m["content"] for m in request["messages"]))
        reply = next(r for markers, r in replies if all(m in text for m in markers))
        if "sheet of" in text:  # exactly one verdict per variant shown
            count = int(text.split("sheet of ", 1)[1].split()[0])
            reply = json.dumps({"variants": [{"variant": i, "plausible": True} for i in range(1, count + 1)]})
        time.sleep(latency)
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": request["model"],
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": reply}}],
                           "usage": {"prompt_tokens": len(text) // 4, "completion_tokens": len(reply) // 4}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer.request_queue_size = 256
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


FIXTURE_PROGRAM = PROGRAM.replace('align="top", bevel=0.005)', 'align="top")')
FIXTURE = {  # a table that takes one call of every role: a repair, a lint fix, a rejection
    "category": "table",
    "replies": [
        ("metricizer", json.dumps({"bounds": [1.0, 0.6, 0.8], "front": "a long side", "notes": "a table"})),
        ("decomposer", json.dumps({"parts": PARTS})),
        ("arranger", json.dumps({"instances": [TOP, *LEGS]})),
        ("coder", f"```pdsl\n{FIXTURE_PROGRAM.replace('box(size=', 'cube(size=')}```"),  # does not compile
        ("repair", f"```pdsl\n{FIXTURE_PROGRAM}```"),
        (
            "refiner",
            f"```pdsl\n{PROGRAM.replace('at=[0, 0, top_h]', 'at=[0, 0, top_h + 0.04]')}```",
        ),  # floats
        ("lint-fix", f"```pdsl\n{PROGRAM}```"),
        (
            "inspector",
            json.dumps(
                {
                    "accept": False,
                    "score": 5,
                    "summary": "legs too thin",
                    "problems": [{"part": "leg", "line": 7, "issue": "too thin", "fix": "leg_r = 0.03"}],
                }
            ),
        ),
        ("coder", f"```pdsl\n{PROGRAM.replace('leg_r = 0.02', 'leg_r = 0.03')}```"),  # feedback
        ("inspector", json.dumps({"accept": True, "score": 8, "summary": "a table", "problems": []})),
    ],
}
CHARS_PER_TOKEN = 3.8
CODER_FAMILY = {"coder", "refiner", "repair", "lint-fix"}


def text_tokens(text: str) -> float:
    return len(text) / CHARS_PER_TOKEN


def image_tokens(png: bytes) -> int:
    """OpenAI's high-detail count: fit in 2048², shortest side to 768 at most, 170 per 512-px tile + 85."""
    import io

    from PIL import Image

    w, h = Image.open(io.BytesIO(png)).size
    fit = min(1.0, 2048 / max(w, h))
    w, h = w * fit, h * fit
    short = min(1.0, 768 / min(w, h))
    w, h = w * short, h * short
    return 85 + 170 * (-(-int(w) // 512)) * (-(-int(h) // 512))


class BenchDesign:
    """One design of the batch, as the CLI runs it (it pickles: the batch's workers get it)."""

    def __init__(self, config, variants: int):
        self.config, self.variants, self.backend = config, variants, None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "backend": None}

    def __call__(self, job, progress, live) -> dict:
        from proto3d.agent.loop import Agent
        from proto3d.llm.client import OpenAIBackend

        self.backend = self.backend or OpenAIBackend(self.config)  # one a process (threads share it)
        agent = Agent(
            job.category,
            job.folder,
            self.config,
            self.backend,
            progress=progress,
            plan=job.plan,
            check_variants=self.variants,
        )
        live(agent)
        return agent.run()


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its children that have ended (the workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def warm() -> None:
    """What a process does before its first design: imports, the kernel cache loaded, a GL context made."""
    from proto3d.compiler import compile_text
    from proto3d.renderer import render

    render(compile_text(PROGRAM), views=["iso"], size=64)


def start_up_seconds() -> float:
    """CPU seconds a fresh worker process spends in `warm` (spawned as the batch spawns them)."""
    import multiprocessing

    before = cpu_seconds()
    process = multiprocessing.get_context("spawn").Process(target=warm)
    process.start()
    process.join()
    return cpu_seconds() - before


class Replayer:
    """A backend answering each call with the next recorded reply, whatever it is asked; the
    requests are kept for counting."""

    def __init__(self, replies: list[str]):
        self.replies = list(replies)
        self.requests: list[tuple[str, list[dict]]] = []

    def complete(self, role: str, messages: list[dict], constraint=None):
        from proto3d.llm.client import LLMError, Reply

        self.requests.append((role, messages))
        if not self.replies:
            raise LLMError(f"the recording has no reply for call {len(self.requests)} ({role})")
        return Reply(text=self.replies.pop(0), model="replay")


def recorded_run(folder: Path) -> dict:
    replies = [
        (p.stem.split("-", 1)[1], json.loads(p.read_text(encoding="utf-8"))["reply"]["text"])
        for p in sorted((folder / "calls").glob("[0-9][0-9][0-9][0-9]-*.json"))
    ]
    category = json.loads((folder / "run.json").read_text(encoding="utf-8"))["category"]
    return {"category": category, "replies": replies}


def one_step_replies(replies: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The replies a one-step coder gives: the refiner's program answers the coder's call (the
    coarse program and its repairs are never asked for)."""
    roles = [role for role, _ in replies]
    if "refiner" not in roles:
        return replies
    first, refiner = roles.index("coder"), roles.index("refiner")
    return replies[:first] + [("coder", replies[refiner][1])] + replies[refiner + 1 :]


def count_run(run: dict, out: Path, one_step: bool = False) -> dict:
    """Replay one run through this code's prompts; tokens by role and the coder-family prefixes."""
    from proto3d.agent.loop import Agent
    from proto3d.llm.client import LLMConfig, message_images, message_text

    replies = one_step_replies(run["replies"]) if one_step else run["replies"]
    backend = Replayer([text for _, text in replies])
    # Recorded runs end at their accept: a polish round would have no reply to replay.
    options = {"one_step": one_step, "polish": False}
    summary = Agent(run["category"], out, LLMConfig(model="replay"), backend, **options).run()
    roles: dict[str, dict] = {}
    seen: list[list[dict]] = []
    prefix_shares = []
    for role, messages in backend.requests:
        texts = [text_tokens(message_text(m)) for m in messages]
        images = sum(image_tokens(png) for m in messages for png in message_images(m))
        cached = 0
        for earlier in seen:
            n = 0
            while n < min(len(earlier), len(messages)) and earlier[n] == messages[n]:
                n += 1
            cached = max(cached, sum(texts[:n]))
        seen.append(messages)
        total = sum(texts) + images
        if role in CODER_FAMILY:
            prefix_shares.append(texts[0] / total if messages[0]["role"] == "system" else 0.0)
        r = roles.setdefault(role, {"calls": 0, "text": 0.0, "images": 0, "cached": 0.0})
        r["calls"] += 1
        r["text"] += sum(texts)
        r["images"] += images
        r["cached"] += cached
    return {
        "category": run["category"],
        "status": summary["status"],
        "calls": len(backend.requests),
        "roles": roles,
        "coder_family_prefix_share": prefix_shares,
    }


def _boxes(pairs) -> dict[str, list]:
    """(part label, [min, max]) pairs grouped by label."""
    grouped: dict[str, list] = {}
    for label, box in pairs:
        grouped.setdefault(label, []).append(box)
    return grouped


def _box_moves(a: dict[str, list], b: dict[str, list]) -> tuple[float, int]:
    """The largest move of a box face from each instance of `a` to the nearest instance of the same
    part in `b` (mirrored instances may come in another order), and how many instances one lacks."""
    worst, unmatched = 0.0, 0
    for label in a.keys() | b.keys():
        mine, theirs = a.get(label, []), b.get(label, [])
        unmatched += abs(len(mine) - len(theirs))
        for box in mine if theirs else []:
            worst = max(worst, min(float(np.abs(box - other).max()) for other in theirs))
    return worst, unmatched


def coarse_step(folders: list[Path]) -> None:
    """What the coarse step added in each recorded run: the coarse program against the arrangement
    it was written from, its lints, and how far the refiner moved what it drew."""
    from proto3d.agent.questions import instance_box
    from proto3d.agent.schema import extract_json, extract_program
    from proto3d.compiler import compile_text

    print("coarse step of each recorded run (instances matched by part, nearest first; metres)")
    for folder in folders:
        calls = {
            p.stem.split("-", 1)[1]: json.loads(p.read_text(encoding="utf-8"))["reply"]["text"]
            for p in sorted((folder / "calls").glob("[0-9][0-9][0-9][0-9]-*.json"))
        }
        plan = _boxes((i["part"], instance_box(i)) for i in extract_json(calls["arranger"])["instances"])
        shapes = [compile_text(extract_program(calls[role])) for role in ("coder", "refiner")]
        coarse, refined = (
            _boxes((s.parts[i.part_id].label, np.array([i.bbox_min, i.bbox_max])) for i in s.instances)
            for s in shapes
        )
        to_plan, unplanned = _box_moves(plan, coarse)
        to_refined, lost = _box_moves(coarse, refined)
        overall = float(np.abs(np.array(shapes[0].bbox) - np.array(shapes[1].bbox)).max())
        lints = [[d.code for d in s.diagnostics] or "none" for s in shapes]
        print(
            f"{folder.name:<14} plan -> coarse: {sum(map(len, plan.values()))} instances, {unplanned} "
            f"unmatched, largest face move {to_plan:.3f}; coarse lints {lints[0]} | coarse -> refined: "
            f"{lost} unmatched, largest face move {to_refined:.3f}, overall box {overall:.3f}; "
            f"refined lints {lints[1]}"
        )


def token_bench(runs_root: list[Path], json_path: str | None, one_step: bool) -> None:
    runs = [("fixture: table", FIXTURE)]
    for root in runs_root:
        folders = (
            [root] if (root / "run.json").exists() else sorted(p.parent for p in root.glob("*/run.json"))
        )
        runs += [(f"recorded: {f.name}", recorded_run(f)) for f in folders]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, run) in enumerate(runs):
            result = {"run": name, **count_run(run, Path(tmp) / str(i), one_step)}
            results.append(result)
    role_order = [
        "metricizer",
        "decomposer",
        "arranger",
        "coder",
        "refiner",
        "repair",
        "lint-fix",
        "inspector",
    ]
    print(f"prompt tokens per run (text = characters / {CHARS_PER_TOKEN}; images = OpenAI high-detail tiles)")
    for r in results:
        text = sum(v["text"] for v in r["roles"].values())
        images = sum(v["images"] for v in r["roles"].values())
        cached = sum(v["cached"] for v in r["roles"].values())
        shares = r["coder_family_prefix_share"]
        print(
            f"{r['run']:<26} {r['status']:<9} calls {r['calls']:>2}  text {text:>7.0f}  images {images:>5}  "
            f"total {text + images:>7.0f}  uncached {text + images - cached:>7.0f}  "
            f"coder-family prefix min {min(shares, default=0):.0%}"
        )
        by_role = ", ".join(
            f"{role} {r['roles'][role]['text'] + r['roles'][role]['images']:.0f}"
            for role in role_order + sorted(set(r["roles"]) - set(role_order))
            if role in r["roles"]
        )
        print(f"    by role: {by_role}")
    recorded = [r for r in results if r["run"].startswith("recorded")] or results
    mean = sum(sum(v["text"] + v["images"] for v in r["roles"].values()) for r in recorded) / len(recorded)
    mean_uncached = sum(
        sum(v["text"] + v["images"] - v["cached"] for v in r["roles"].values()) for r in recorded
    ) / len(recorded)
    print(
        f"mean over {len(recorded)} recorded runs: {mean:.0f} prompt tokens per object, {mean_uncached:.0f} uncached"
    )
    from proto3d import prompts
    from proto3d.agent.loop import coder_system

    reference = getattr(prompts, "coder_reference", prompts.language_reference)()  # older checkouts: whole
    calls = sum(v["calls"] for r in recorded for k, v in r["roles"].items() if k in CODER_FAMILY) / len(
        recorded
    )
    print(
        f"coder-family system message {text_tokens(coder_system()):.0f} tokens, of which the coder's reference "
        f"{text_tokens(reference):.0f} (docs/language.md: {text_tokens(prompts.language_reference()):.0f}); "
        f"{calls:.2f} coder-family calls per object, so 1,000 more tokens of reference add {1000 * calls:.0f} "
        "prompt tokens per object"
    )
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", action="store_true", help="count prompt tokens on replayed runs instead")
    ap.add_argument(
        "--runs", type=Path, nargs="*", default=[ROOT.parent / "shared" / "agent-runs"], help="with --tokens"
    )
    ap.add_argument("--json", help="with --tokens: write the per-run figures here")
    steps = ap.add_mutually_exclusive_group()
    steps.add_argument(
        "--one-step",
        dest="one_step",
        action="store_true",
        default=True,
        help="with --tokens: replay as `agent` does",
    )
    steps.add_argument(
        "--two-step",
        dest="one_step",
        action="store_false",
        help="with --tokens: replay as `agent --two-step`",
    )
    ap.add_argument(
        "--coarse", action="store_true", help="what the coarse step added in each recorded run under --runs"
    )
    ap.add_argument("--categories", type=int, default=1000)
    ap.add_argument("--designs", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=32)
    ap.add_argument("--workers", type=int, help="processes the designs run in (default: one per CPU)")
    ap.add_argument("--latency", type=float, default=0.05, help="the server's seconds per reply")
    ap.add_argument("--variants", type=int, default=8, help="--check-variants (0: off)")
    args = ap.parse_args()
    if args.coarse:
        return coarse_step([p.parent for root in args.runs for p in sorted(root.glob("**/run.json"))])
    if args.tokens:
        return token_bench([p for p in args.runs if p.exists()], args.json, args.one_step)

    from proto3d.agent.batch import Batch
    from proto3d.agent.loop import plan_designs
    from proto3d.agent.workers import default_workers
    from proto3d.llm.client import Budget, LLMConfig, OpenAIBackend

    workers = min(args.workers or default_workers(), args.jobs)
    warm()  # this process plans (and runs the designs when workers == 1)
    start_up = start_up_seconds() if workers > 1 else 0.0

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, json.dumps(REPLIES), str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())
        config = LLMConfig(
            base_url=f"http://127.0.0.1:{port}/v1",
            model="bench",
            max_retries=0,
            timeout=120,
            budget=Budget(iterations=2),
        )
        backend = OpenAIBackend(config)

        def plan(name, folder, progress):
            return plan_designs(name, folder, config, backend, args.designs, progress=progress)

        names = [f"object {i}" for i in range(args.categories)]
        with tempfile.TemporaryDirectory() as out:
            cpu, wall = cpu_seconds(), time.perf_counter()
            run = Batch(
                Path(out),
                names,
                args.designs,
                BenchDesign(config, args.variants),
                plan,
                args.jobs,
                workers=workers,
            )
            batch = run.run()
            cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    finally:
        server.kill()
        server.wait()

    totals = batch["totals"]
    summaries = [r for runs in run.results.values() for r in runs]
    designs = len(summaries)
    calls = totals["calls"]
    stages: dict[str, float] = {}
    for s in summaries:
        for stage, seconds in s.get("timings", {}).items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    model_bound = calls * args.latency / args.jobs  # the wall time if only the server's latency counted
    print(
        f"{args.categories} categories x {args.designs} designs, --jobs {args.jobs}, server latency "
        f"{args.latency * 1000:.0f} ms, --check-variants {args.variants}"
    )
    print(f"designs run            {designs} ({totals['accepted']} accepted, {totals['failed']} failed)")
    print(f"model calls            {calls} ({calls / max(designs, 1):.1f} per design)")
    per_design = (cpu - workers * start_up) / max(designs, 1)
    print(
        f"CPU overhead           {cpu:.1f} s = {per_design:.3f} s per design (target <= 0.5)"
        + (f" + {workers} worker start-ups of {start_up:.1f} s" if workers > 1 else ", in this process")
    )
    print("  wall time per stage, summed over designs (includes waiting for the GL context and the GIL):")
    for stage, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"    {stage:<10} {seconds / max(designs, 1):.3f} s per design")
    print(f"wall time              {wall:.1f} s: {designs / wall:.2f} designs/s, {calls / wall:.1f} calls/s")
    print(
        f"server-bound wall time {model_bound:.1f} s (calls x latency / jobs, {designs / model_bound:.0f} designs/s): "
        f"the loop reaches {model_bound / wall:.0%} of it"
    )
    cores = default_workers()
    print(
        f"cores busy             {cpu / wall:.2f} of {cores} (load average {os.getloadavg()[0]:.1f}); the CPU "
        f"alone caps this machine at {cores / per_design:.1f} designs/s"
    )
    print(
        f"1,000 x {args.designs} designs extrapolated: {1000 * args.designs * per_design / 60:.1f} "
        f"CPU min, {1000 * args.designs / (designs / wall) / 60:.1f} wall min at this throughput"
    )


if __name__ == "__main__":
    main()
