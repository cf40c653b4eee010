"""Regenerate tests/golden/examples.json from examples/*.pdsl.

Run once after changing an example, then review the diff for plausibility
(part labels, instance counts, overall size in metres):

    /work/venv/bin/python tests/tools/make_golden.py
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from proto3d.compiler import compile_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "tests" / "golden" / "examples.json"


def summary(text: str) -> dict:
    """What the golden file pins for one example: parts, instance counts, overall bbox."""
    shape = compile_text(text)
    lo, hi = shape.bbox
    return {
        "name": shape.name,
        "parts": {part.label: len(part.instance_ids) for part in shape.parts},
        "bbox_min": [round(float(v), 4) for v in lo],
        "bbox_max": [round(float(v), 4) for v in hi],
    }


def main() -> None:
    golden = {path.stem: summary(path.read_text()) for path in sorted(EXAMPLES.glob("*.pdsl"))}
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=GOLDEN.parent, suffix=".tmp")
    lines = [f" {json.dumps(name)}: {json.dumps(entry)}" for name, entry in golden.items()]
    with os.fdopen(fd, "w") as out:
        out.write("{\n" + ",\n".join(lines) + "\n}\n")
    os.replace(tmp, GOLDEN)
    print(f"wrote {GOLDEN.relative_to(ROOT)}: {len(golden)} examples")


if __name__ == "__main__":
    main()
