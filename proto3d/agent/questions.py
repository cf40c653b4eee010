"""Yes/no questions an inspector answers before it scores, generated from the plan (as CADCodeVerify does).

The questions come from the design itself, without a model call, so they are free, the same
on every run and replay, and can be checked against the compiled geometry: what each planned
part is attached to (of the parts its box meets in the arrangement, the one it shares most
volume with: coarse planned boxes meet many neighbours a real part never touches), where a
single part sits off the object's centre, and how many separate instances a part has.
"""

from __future__ import annotations

import numpy as np

from proto3d.compiler.values import rotation  # the language's rot=: X, then Y, then Z

TOUCH = 0.01  # metres: planned boxes this close count as touching
OFF_CENTRE = 0.2  # fraction of the bounds: a single part farther than this from the centre has a side
MAX_QUESTIONS = 10


def plan_questions(bounds: list[float], parts: list[dict], arrangement: list[dict]) -> list[str]:
    """At most MAX_QUESTIONS questions whose answer is "yes" when the prototype follows the plan:
    contacts first (what holds the object together), then sides, then counts."""
    counts = {p["label"]: p["count"] for p in parts}
    boxes: dict[str, list[np.ndarray]] = {}
    for instance in arrangement:
        box = instance_box(instance)
        if box is not None and instance.get("part") in counts:
            boxes.setdefault(instance["part"], []).append(box)
    pairs: list[tuple[str, str]] = []  # (part, the part it is most attached to), each pair once
    for a in boxes:
        overlaps = {b: _overlap(boxes[a], boxes[b]) for b in boxes if b != a}
        partner = max(overlaps, key=lambda b: overlaps[b], default=None)
        if partner is not None and overlaps[partner] > 0 and (partner, a) not in pairs:
            pairs.append((a, partner))
    contacts = []
    for a, b in pairs:
        small, large = sorted((a, b), key=lambda label: (len(boxes[label]) == 1, _volume(boxes[label])))
        touching = sum(any(_gap(p, q) <= TOUCH for q in boxes[large]) for p in boxes[small])
        contacts.append(_touch_question(small, touching, len(boxes[small]), large))
    sides = []
    width, depth = bounds[0], bounds[1]
    for label, found in boxes.items():
        if counts[label] != 1:
            continue
        x, y = (found[0][0] + found[0][1])[:2] / 2
        words = []
        if abs(y) > OFF_CENTRE * depth:
            words.append("front (−Y)" if y < 0 else "back (+Y)")
        if abs(x) > OFF_CENTRE * width:
            words.append("left (−X)" if x < 0 else "right (+X)")
        if words:
            sides.append(f"Is the `{label}` on the {' and '.join(words)} side of the object?")
    numbers = [
        f"Can you see {counts[label]} separate `{label}` instances?"
        for label in counts
        if 2 <= counts[label] <= 12
    ]
    return (contacts + sides + numbers)[:MAX_QUESTIONS]


def instance_box(instance: dict) -> np.ndarray | None:
    """An arrangement instance's axis-aligned box as [min, max]: a box (size, position, rotation in
    degrees about X, Y, Z) or a segment (from, to, thickness); None when it is neither."""
    try:
        if "from" in instance and "to" in instance:
            ends = np.array([instance["from"], instance["to"]], float)
            half = float(instance.get("thickness", 0.0)) / 2
            return np.array([ends.min(axis=0) - half, ends.max(axis=0) + half])
        size = np.array(instance["size"], float) / 2
        position = np.array(instance["position"], float)
        corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * size
        turned = corners @ rotation(instance.get("rotation") or [0, 0, 0]).T + position
        return np.array([turned.min(axis=0), turned.max(axis=0)])
    except (KeyError, TypeError, ValueError):
        return None


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    """The distance between two boxes (0 when they overlap)."""
    return float(np.linalg.norm(np.maximum(0.0, np.maximum(a[0] - b[1], b[0] - a[1]))))


def _overlap(these: list[np.ndarray], those: list[np.ndarray]) -> float:
    """How much two parts' planned boxes, each grown by TOUCH, share: the volume of the intersections."""
    total = 0.0
    for a in these:
        for b in those:
            side = np.minimum(a[1], b[1]) - np.maximum(a[0], b[0]) + 2 * TOUCH
            total += float(np.prod(side)) if (side > 0).all() else 0.0
    return total


def _volume(boxes: list[np.ndarray]) -> float:
    return float(sum(np.prod(b[1] - b[0]) for b in boxes))


def _touch_question(small: str, touching: int, count: int, large: str) -> str:
    if count == 1:
        return f"Does the `{small}` touch the `{large}`?"
    if touching == count:
        return f"Does each of the {count} `{small}` instances touch the `{large}`?"
    return f"Do {touching} of the {count} `{small}` instances touch the `{large}`?"
