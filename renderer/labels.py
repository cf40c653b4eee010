"""Part labels on a part-ID image: anchored on each part's visible centroid, placed without overlap.

A label names a part, so its leader line must end on a pixel of that part: the anchor is the
part's pixel nearest the centroid of its visible pixels, taken from the part-ID buffer (an
interior pixel when there is one, so the line does not end on an edge shared with a
neighbour). Boxes are placed greedily, small parts first (they need to sit close), on rings
of candidate positions around the anchor, never over another box or anchor, preferring
background to covering the object and short leaders to long ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

RINGS = (10, 22, 38, 60, 90, 130, 180, 240, 320)  # leader lengths tried, in pixels
DIRECTIONS = 16
GRID = 6  # pixel step of the fallback search over the whole image
PADDING = 2


@dataclass(frozen=True)
class Anchor:
    part: int  # part index (the part-ID buffer holds part + 1)
    label: str
    x: int  # column of a pixel of the part
    y: int  # row
    pixels: int  # the part's visible pixels in this image


@dataclass(frozen=True)
class Placed:
    anchor: Anchor
    box: tuple[int, int, int, int]  # left, top, right, bottom (exclusive), in image pixels

    def leader_end(self) -> tuple[float, float]:
        """The point of the box nearest the anchor, where the leader line starts."""
        left, top, right, bottom = self.box
        return (
            float(np.clip(self.anchor.x, left, right - 1)),
            float(np.clip(self.anchor.y, top, bottom - 1)),
        )


def anchors(part_ids: np.ndarray, labels: list[str]) -> list[Anchor]:
    """One anchor per visible part: its pixel nearest the centroid of its visible pixels."""
    ys, xs = np.nonzero(part_ids)
    if not len(ys):
        return []
    ids = part_ids[ys, xs].astype(np.int64)
    interior = _interior(part_ids)[ys, xs]
    n = int(ids.max()) + 1
    counts = np.bincount(ids, minlength=n)
    cx = np.bincount(ids, xs, minlength=n) / np.maximum(counts, 1)
    cy = np.bincount(ids, ys, minlength=n) / np.maximum(counts, 1)
    # pixels far from the centroid sort last; edge pixels after every interior pixel
    distance = (xs - cx[ids]) ** 2 + (ys - cy[ids]) ** 2 + np.where(interior, 0.0, 1e12)
    out = []
    for part_id in np.nonzero(counts)[0]:  # a pass per part: a few parts cost less than sorting every pixel
        members = np.flatnonzero(ids == part_id)
        k = members[np.argmin(distance[members])]  # the first of equals, in row order
        out.append(
            Anchor(int(part_id) - 1, labels[part_id - 1], int(xs[k]), int(ys[k]), int(counts[part_id]))
        )
    return out


def place(found: list[Anchor], sizes: list[tuple[int, int]], occupied: np.ndarray) -> list[Placed]:
    """Boxes of the given (width, height) for each anchor, inside the image, overlapping no other
    box and covering no anchor; `occupied` (H, W bool, the object's pixels) is avoided when
    possible. An anchor with no free place left (a crowded small image) gets no box."""
    h, w = occupied.shape
    coverage = np.pad(np.cumsum(np.cumsum(occupied, axis=0, dtype=np.int32), axis=1), ((1, 0), (1, 0)))
    points = np.array([(a.x, a.y) for a in found], float).reshape(-1, 2)
    boxes: list[tuple[int, int, int, int]] = []
    placed: list[Placed] = []
    for k in sorted(range(len(found)), key=lambda i: found[i].pixels):
        anchor, (bw, bh) = found[k], sizes[k]
        if bw > w or bh > h:
            continue
        candidates = _candidates(anchor, bw, bh, w, h)
        free = _free(candidates, np.array(boxes, float).reshape(-1, 4), np.delete(points, k, axis=0))
        if not free.any():
            xs, ys = np.meshgrid(np.arange(0, w - bw + 1, GRID), np.arange(0, h - bh + 1, GRID))
            candidates = np.stack([xs.ravel(), ys.ravel(), xs.ravel() + bw, ys.ravel() + bh], axis=1)
            free = _free(candidates, np.array(boxes, float).reshape(-1, 4), np.delete(points, k, axis=0))
            if not free.any():
                continue
        candidates = candidates[free]
        l, t, r, b = candidates.T
        covered = coverage[b, r] - coverage[t, r] - coverage[b, l] + coverage[t, l]
        ex, ey = np.clip(anchor.x, l, r - 1), np.clip(anchor.y, t, b - 1)
        leader = np.hypot(ex - anchor.x, ey - anchor.y)
        cost = leader + 4.0 * covered / (bw * bh) * max(bw, bh)
        box = tuple(int(v) for v in candidates[int(np.argmin(cost))])
        boxes.append(box)
        placed.append(Placed(anchor, box))
    return placed


def draw(image, placed: list[Placed], colors: np.ndarray, font) -> None:
    """Leader lines, then an anchor dot and a boxed label per part, on a PIL image."""
    canvas = ImageDraw.Draw(image)
    for p in placed:
        end = p.leader_end()
        canvas.line([end, (p.anchor.x, p.anchor.y)], fill="white", width=3)
        canvas.line([end, (p.anchor.x, p.anchor.y)], fill=(20, 20, 20), width=1)
    for p in placed:
        ax, ay = p.anchor.x, p.anchor.y
        canvas.ellipse([ax - 3, ay - 3, ax + 3, ay + 3], fill="white", outline=(20, 20, 20))
        left, top, right, bottom = p.box
        color = tuple(int(c) for c in colors[p.anchor.part])
        canvas.rectangle([left, top, right - 1, bottom - 1], fill="white", outline=color, width=2)
        text_left, text_top, _, _ = canvas.textbbox((0, 0), p.anchor.label, font=font)
        canvas.text(
            (left + PADDING + 1 - text_left, top + PADDING + 1 - text_top),
            p.anchor.label,
            fill=(20, 20, 20),
            font=font,
        )


def box_size(label: str, font) -> tuple[int, int]:
    """The (width, height) of a label's box: text, padding and the 2-pixel frame."""
    left, top, right, bottom = font.getbbox(label)
    return right - left + 2 * PADDING + 2, bottom - top + 2 * PADDING + 2


def _candidates(anchor: Anchor, bw: int, bh: int, w: int, h: int) -> np.ndarray:
    """Boxes whose nearest side faces the anchor, on rings around it, moved inside the image."""
    angles = np.arange(DIRECTIONS) * (2 * np.pi / DIRECTIONS)
    radii = np.repeat(RINGS, DIRECTIONS)
    dx, dy = np.tile(np.cos(angles), len(RINGS)), np.tile(np.sin(angles), len(RINGS))
    cx = anchor.x + dx * (radii + bw / 2)
    cy = anchor.y + dy * (radii + bh / 2)
    left = np.clip(np.round(cx - bw / 2), 0, w - bw)
    top = np.clip(np.round(cy - bh / 2), 0, h - bh)
    return np.stack([left, top, left + bw, top + bh], axis=1).astype(np.int64)


def _free(candidates: np.ndarray, boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Candidates that overlap no placed box (with a pixel of air) and cover no other anchor."""
    l, t, r, b = (candidates[:, i : i + 1] for i in range(4))
    overlap = (l < boxes[:, 2] + 1) & (boxes[:, 0] < r + 1) & (t < boxes[:, 3] + 1) & (boxes[:, 1] < b + 1)
    px, py = points[:, 0], points[:, 1]
    covers = (l - 4 <= px) & (px < r + 4) & (t - 4 <= py) & (py < b + 4)
    return ~overlap.any(axis=1) & ~covers.any(axis=1)


def _interior(ids: np.ndarray) -> np.ndarray:
    """Pixels whose four neighbours belong to the same part."""
    inside = np.zeros(ids.shape, bool)
    core = ids[1:-1, 1:-1]
    inside[1:-1, 1:-1] = (
        (core == ids[:-2, 1:-1])
        & (core == ids[2:, 1:-1])
        & (core == ids[1:-1, :-2])
        & (core == ids[1:-1, 2:])
    )
    return inside
