"""What the inspector is shown, measured on recorded runs: image tokens, render time, plan questions.

    python bench/inspector.py RUN_DIR [RUN_DIR ...] [--repeat 3]

For each run folder (its final/program.pdsl and design/), compiled here:

1. Images. The old inspection (4 views at 512 px shrunk into one 1660 px contact sheet) against
   the new one (5 views at 512 px, one captioned 1024 px image a view, plus the contact sheet
   kept for people): wall seconds to render and encode everything the inspection writes (best of
   --repeat, warm), the image tokens a request costs by the providers' published rules (OpenAI
   high detail: fit in 2048², shortest side to 768, 170 per 512 px tile + 85; Anthropic: long side
   to 1568 at most, w·h/750), and the pixels a view keeps after the provider's downscaling.
2. The inspector's request. Each run replayed offline (`proto3d.agent.loop.replay`, the recorded
   answers) through today's inspector prompt and images: its text (tokens estimated as
   characters / 4) and image tokens, against the recorded request.
3. Questions. The yes/no questions the plan gives (proto3d.agent.questions) and the answer the
   geometry gives for each: contact questions by the distance between the two parts' surfaces
   (surface samples, "yes" within 1 cm), side questions by the part's box centre against the
   shape's, count questions by the instances built and seen in some view. A "no" is a question
   whose answer would tell the inspector the prototype differs from its plan.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from proto3d.agent.loop import INSPECTOR_SIZE, INSPECTOR_VIEWS, replay
from proto3d.agent.questions import plan_questions
from proto3d.compiler import compile_text
from proto3d.llm.record import Recorder
from proto3d.renderer import contact_sheet, render
from proto3d.renderer.save import png_bytes
from proto3d.renderer.sheet import inspector_image

SAMPLES = 3000  # surface points a part
TOUCH = 0.01


def openai_tokens(w: int, h: int) -> tuple[int, float]:
    """High-detail image tokens and the scale the image is seen at."""
    scale = min(1.0, 2048 / max(w, h))
    scale *= min(1.0, 768 / (min(w, h) * scale))
    sw, sh = w * scale, h * scale
    return 85 + 170 * math.ceil(sw / 512) * math.ceil(sh / 512), scale


def anthropic_tokens(w: int, h: int) -> tuple[int, float]:
    scale = min(1.0, 1568 / max(w, h))
    return round(w * scale * h * scale / 750), scale


def inspection(shape, new: bool) -> tuple[list, list]:
    """Everything an inspection renders and encodes: (images shown, encoded bytes)."""
    if not new:
        renders = render(shape)
        sheet = contact_sheet(shape, renders)
        return [sheet], [png_bytes(sheet)]
    renders = render(shape, views=INSPECTOR_VIEWS, size=INSPECTOR_SIZE)
    images = [inspector_image(shape, v) for v in renders.views]
    return images, [png_bytes(i) for i in images] + [png_bytes(contact_sheet(shape, renders))]


def surface_points(shape, faces: np.ndarray, rng) -> np.ndarray:
    tri = shape.vertices[shape.faces[faces]].astype(float)
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1) / 2
    pick = rng.choice(len(tri), SAMPLES, p=area / area.sum())
    u, v = rng.random((2, SAMPLES))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[pick]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])


def distance(a: np.ndarray, b: np.ndarray) -> float:
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T
    return float(np.sqrt(max(0.0, squared.min())))


def geometric_answer(question: str, shape, renders_seen: set[str], rng) -> tuple[bool | None, str]:
    labels = re.findall(r"`(\w+)`", question)
    parts = {p.label: p for p in shape.parts}
    if any(label not in parts for label in labels):
        return False, "part not built"
    if "touch" in question:
        small, large = parts[labels[0]], parts[labels[1]]
        large_faces = np.isin(shape.instance_id, large.instance_ids)
        large_points = surface_points(shape, np.nonzero(large_faces)[0], rng)
        gaps = [
            distance(surface_points(shape, np.nonzero(shape.instance_id == i)[0], rng), large_points)
            for i in small.instance_ids
        ]
        wanted = (
            int(re.search(r"Do (\d+) of", question).group(1)) if question.startswith("Do ") else len(gaps)
        )
        touching = sum(g <= TOUCH for g in gaps)
        gaps_mm = ", ".join(f"{g * 1000:.0f}" for g in sorted(gaps))
        return (
            touching >= wanted,
            f"{touching} of {len(gaps)} within {TOUCH * 1000:.0f} mm (gaps {gaps_mm} mm)",
        )
    if "side" in question:
        part = parts[labels[0]]
        lo = np.min([shape.instances[i].bbox_min for i in part.instance_ids], axis=0)
        hi = np.max([shape.instances[i].bbox_max for i in part.instance_ids], axis=0)
        centre = (lo + hi) / 2 - (shape.bbox[0] + shape.bbox[1]) / 2
        size = shape.bbox[1] - shape.bbox[0]
        ok = ("front" not in question or centre[1] < -0.1 * size[1]) and (
            "back" not in question or centre[1] > 0.1 * size[1]
        )
        ok = ok and ("left" not in question or centre[0] < -0.1 * size[0])
        ok = ok and ("right" not in question or centre[0] > 0.1 * size[0])
        return ok, f"centre offset x {centre[0]:+.2f}, y {centre[1]:+.2f} m"
    count = int(re.search(r"see (\d+)", question).group(1))
    part = parts[labels[0]]
    seen = sum(shape.instance_name(i) in renders_seen for i in part.instance_ids)
    return len(part.instance_ids) == count and seen == count, f"{len(part.instance_ids)} built, {seen} seen"


def inspector_requests(run: Path, out: Path) -> list[tuple[str, int]]:
    """The inspector requests a replay of `run` sends: (text, image tokens by OpenAI's rule)."""

    sent: list[tuple[str, int]] = []
    complete = Recorder.complete

    def spy(recorder, role, messages):
        if role == "inspector":
            parts = messages[0]["content"]
            text = "".join(p.get("text", "") for p in parts if p["type"] == "text")
            images = [p for p in parts if p["type"] == "image_url"]
            tokens = 0
            for image in images:
                data = base64.b64decode(image["image_url"]["url"].split(",", 1)[1])
                tokens += openai_tokens(*Image.open(io.BytesIO(data)).size)[0]
            sent.append((text, tokens))
        return complete(recorder, role, messages)

    Recorder.complete = spy
    try:
        replay(run, out)
    finally:
        Recorder.complete = complete
    return sent


def recorded_inspector_requests(run: Path) -> list[tuple[str, int]]:
    out = []
    for path in sorted((run / "calls").glob("*-inspector.json")):
        message = json.loads(path.read_text())["messages"][0]
        sizes = [Image.open(run / "calls" / name).size for name in message.get("images", [])]
        out.append((message["text"], sum(openai_tokens(*size)[0] for size in sizes)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--replay-to", type=Path, help="a scratch folder for the replays (default: none made)"
    )
    args = parser.parse_args()
    rows, question_rows, request_rows = [], [], []
    for run in args.runs:
        if args.replay_to:
            old = recorded_inspector_requests(run)[:1]
            new = inspector_requests(run, args.replay_to / run.name)[:1]
            request_rows.append((run.name, old[0], new[0]))
        shape = compile_text((run / "final" / "program.pdsl").read_text(encoding="utf-8"))
        row = {"run": run.name, "triangles": len(shape.faces)}
        for new in (False, True):
            inspection(shape, new)  # warm
            best = np.inf
            for _ in range(args.repeat):
                start = time.perf_counter()
                images, _ = inspection(shape, new)
                best = min(best, time.perf_counter() - start)
            key = "new" if new else "old"
            view_px = INSPECTOR_SIZE if new else 320  # the old sheet's cells are 320 px
            row[key] = {
                "seconds": round(best, 3),
                "images": [i.size for i in images],
                "openai": sum(openai_tokens(*i.size)[0] for i in images),
                "anthropic": sum(anthropic_tokens(*i.size)[0] for i in images),
                "view_px_openai": round(view_px * openai_tokens(*images[0].size)[1]),
                "view_px_anthropic": round(view_px * anthropic_tokens(*images[0].size)[1]),
            }
        rows.append(row)
        design = {
            k: json.loads((run / "design" / f"{k}.json").read_text())
            for k in ("bounds", "parts", "arrangement")
        }
        questions = plan_questions(
            design["bounds"]["bounds"], design["parts"]["parts"], design["arrangement"]["instances"]
        )
        seen = {
            name
            for view in render(shape, views=INSPECTOR_VIEWS, size=256).visible_pixels().values()
            for name, n in view["instances"].items()
            if n
        }
        rng = np.random.default_rng(0)
        for q in questions:
            answer, why = geometric_answer(q, shape, seen, rng)
            question_rows.append((run.name, q, "yes" if answer else "NO", why))
    print(
        "| run | triangles | inspection | images | image tokens OpenAI / Anthropic | px a view seen (OpenAI / Anthropic) | render + encode s |"
    )
    print("|---|---:|---|---|---:|---:|---:|")
    for row in rows:
        for key in ("old", "new"):
            r = row[key]
            sizes = ", ".join(f"{w}×{h}" for w, h in sorted(set(map(tuple, r["images"]))))
            print(
                f"| {row['run']} | {row['triangles']} | {key} | {len(r['images'])} ({sizes}) | {r['openai']} / {r['anthropic']} "
                f"| {r['view_px_openai']} / {r['view_px_anthropic']} | {r['seconds']} |"
            )
    if request_rows:
        print()
        print("| run | first inspector request | text tokens (chars / 4) | image tokens (OpenAI) | total |")
        print("|---|---|---:|---:|---:|")
        for name, old, new in request_rows:
            for label, (text, images) in (("recorded", old), ("replayed now", new)):
                print(f"| {name} | {label} | {len(text) // 4} | {images} | {len(text) // 4 + images} |")
    print()
    print("| run | question from the plan | geometry says | why |")
    print("|---|---|---|---|")
    for run, q, answer, why in question_rows:
        print(f"| {run} | {q} | {answer} | {why} |")
    no = sum(r[2] == "NO" for r in question_rows)
    print(f"\n{len(question_rows)} questions, {no} answered no by the geometry", file=sys.stderr)


if __name__ == "__main__":
    main()
