"""The scripted model of the agent tests: one table design, its programs and verdicts, and a responder
that answers each role, so tests (and concurrent runs sharing one fake server) drive the whole loop."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from pathlib import Path

from PIL import Image

from proto3d.agent.loop import Inspection
from proto3d.llm.client import Budget, LLMConfig
from tests.helpers.fake_openai import prompt_of

BOUNDS = '{"bounds": [1.0, 0.6, 0.75], "notes": "a dining table"}'
PARTS = json.dumps(
    {
        "parts": [
            {"label": "top", "count": 1, "description": "flat top"},
            {"label": "leg", "count": 4, "description": "straight legs"},
        ]
    }
)
ARRANGEMENT = json.dumps(
    {
        "instances": [
            {
                "part": "top",
                "size": [1.0, 0.6, 0.04],
                "position": [0, 0, 0.73],
                "rotation": [0, 0, 0],
                "shape": "box",
            }
        ]
        + [
            {"part": "leg", "size": [0.04, 0.04, 0.71], "position": [x, y, 0.355], "shape": "cylinder"}
            for x in (-0.45, 0.45)
            for y in (-0.25, 0.25)
        ]
    }
)
DESIGN = [BOUNDS, PARTS, ARRANGEMENT]

COARSE = """shape "table"
bounds [1.0, 0.6, 0.75]
part top { box(size=[1.0, 0.6, 0.04], at=[0, 0, 0.75], align="top") }
for x in [-0.45, 0.45], y in [-0.25, 0.25] {
    part leg { cylinder(r=0.02, h=0.715, at=[x, y, 0], align="bottom") }
}
"""
REFINED = COARSE.replace('align="top")', 'align="top", bevel=0.005)').replace("r=0.02", "r=0.025")
THICKER = REFINED.replace("r=0.025", "r=0.035")
BROKEN = COARSE.replace("box(size=", "cube(size=")
FLOATING = COARSE.replace("at=[0, 0, 0.75]", "at=[0, 0, 0.85]").replace("0.75]", "0.85]", 1)
ACCEPT = '{"accept": true, "score": 8, "summary": "a table", "problems": []}'
REJECT = json.dumps(
    {
        "accept": False,
        "score": 4,
        "summary": "legs look like wires",
        "problems": [{"part": "leg", "line": 5, "issue": "legs too thin", "fix": "use r=0.035"}],
    }
)


def fenced(program: str) -> str:
    return f"Here is the program:\n\n```pdsl\n{program}```\n"


def fake_inspect(shape, folder: Path) -> Inspection:
    """A renderer stand-in: a PNG whose colour depends on the geometry, and per-instance counts."""
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (len(shape.faces) % 256, 80, 160)).save(buf, format="PNG")
    (folder / "sheet.png").write_bytes(buf.getvalue())
    names = [shape.instance_name(i) for i in range(len(shape.instances))]
    return Inspection([folder / "sheet.png"], {n: 100 for n in names}, [], sheet=folder / "sheet.png")


def responder(request) -> str:
    """Answers by role, so concurrent runs can share one server."""
    text = prompt_of(request)
    for marker, answer in [
        ("Step 1 of 3", BOUNDS),
        ("Step 2 of 3", PARTS),
        ("Step 3 of 3", ARRANGEMENT),
        ("You are the visual inspector", ACCEPT),
        ("Refine it", fenced(REFINED)),
    ]:
        if marker in text:
            return answer
    return fenced(COARSE)


def config(server, **budget) -> LLMConfig:
    return LLMConfig(
        base_url=server.base_url,
        model="fake-vl",
        backoff=0.001,
        timeout=5,
        prices={"fake-vl": {"input": 1.0, "output": 2.0}},
        budget=Budget(**budget),
    )


@contextlib.contextmanager
def manual_person(folder: Path, answers):
    """A 'person' answering each Markdown request of the manual backend in `folder` with the next
    of `answers`, by writing its answer file, while the block runs."""
    answers, done = iter(answers), threading.Event()

    def person():
        answered = set()
        while not done.is_set():
            for request in sorted(folder.glob("*.request.md")):
                stem = request.name.removesuffix(".request.md")
                if stem not in answered:
                    answered.add(stem)
                    (folder / f"{stem}.answer.md").write_text(next(answers))
            done.wait(0.01)

    thread = threading.Thread(target=person)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
