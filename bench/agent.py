"""The agent's batch loop at scale: CPU overhead per design and designs per second.

    python bench/agent.py [--categories 1000] [--designs 2] [--jobs 32] [--latency 0.05] [--variants 8]

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--categories", type=int, default=1000)
    ap.add_argument("--designs", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.05, help="the server's seconds per reply")
    ap.add_argument("--variants", type=int, default=8, help="--check-variants (0: off)")
    args = ap.parse_args()

    from proto3d.agent.batch import Batch
    from proto3d.agent.loop import Agent, plan_designs
    from proto3d.compiler import compile_text
    from proto3d.llm.client import Budget, LLMConfig, OpenAIBackend
    from proto3d.renderer import render

    render(compile_text(PROGRAM), views=["iso"], size=64)  # warm: kernel cache loaded, GL context made

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
        summaries = []

        def run_design(job, progress, live):
            agent = Agent(
                job.category,
                job.folder,
                config,
                backend,
                progress=progress,
                plan=job.plan,
                check_variants=args.variants,
            )
            live(agent)
            summary = agent.run()
            summaries.append(summary)
            return summary

        def plan(name, folder, progress):
            return plan_designs(name, folder, config, backend, args.designs, progress=progress)

        names = [f"object {i}" for i in range(args.categories)]
        with tempfile.TemporaryDirectory() as out:
            cpu, wall = time.process_time(), time.perf_counter()
            batch = Batch(Path(out), names, args.designs, run_design, plan, args.jobs).run()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        server.kill()
        server.wait()

    totals = batch["totals"]
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
    print(f"CPU overhead           {cpu:.1f} s = {cpu / max(designs, 1):.3f} s per design (target <= 0.5)")
    print("  wall time per stage, summed over designs (includes waiting for the GL context and the GIL):")
    for stage, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"    {stage:<10} {seconds / max(designs, 1):.3f} s per design")
    print(f"wall time              {wall:.1f} s: {designs / wall:.2f} designs/s, {calls / wall:.1f} calls/s")
    print(
        f"server-bound wall time {model_bound:.1f} s (calls x latency / jobs): the loop reaches "
        f"{model_bound / wall:.0%} of it"
    )
    print(
        f"1,000 x {args.designs} designs extrapolated: {1000 * args.designs * cpu / max(designs, 1) / 60:.1f} "
        f"CPU min, {1000 * args.designs / (designs / wall) / 60:.1f} wall min at this throughput"
    )


if __name__ == "__main__":
    main()
