# pyright: basic
"""The state behind `proto3d view`: the watched file, its last good shape, and frames rendered on one thread.

The renderer's GL context is per process and not thread-safe, so every frame is rendered by
one worker thread; each page (client) has one waiting request at most, and a newer camera
replaces the waiting one (which is answered "superseded"), so a drag never queues stale frames.
"""

from __future__ import annotations

import io
import math
import os
import re
import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from proto3d.compiler import CompiledShape, compile_text
from proto3d.errors import Diagnostic, Proto3dError, diagnostic
from proto3d.grammar.source import read_program
from proto3d.renderer import Camera, Renders, look_at, render
from proto3d.renderer.camera import FIELD_OF_VIEW, MAX_SIZE, MIN_SIZE
from proto3d.renderer.palette import colorize, hex_color, palette
from proto3d.renderer.save import png_bytes

MODES = ("shaded", "part", "instance")
POLL = 0.025  # seconds between looks at the file (a stat: nothing to a CPU); a save shows within a fraction of a second
KEPT_FRAMES = 8  # frames whose id buffers answer picks (the page picks on the frame it shows)
ZOOM = (0.4, 5.0)  # camera distance as a multiple of the distance that frames the whole shape
PROBLEM = (220, 30, 30)
SELECTED = (0, 110, 230)
MOVE = re.compile(r"move (?:it|the group) by \[([^\]]+)\]")  # W101's hint: the move that closes the gap
GAP = re.compile(r"((?:about |at most )?\d+\.\d+ m)\b")  # W101's message: the gap's size


@dataclass(frozen=True)
class FrameRequest:
    """What the page asks to see: orbit angles in degrees, zoom, size in pixels, colouring, overlays."""

    azimuth: float = 30.0
    elevation: float = 20.0
    zoom: float = 1.0
    width: int = 512
    height: int = 512
    mode: str = "shaded"
    line: int = 0  # highlight what this source line drew (0: nothing)
    problems: bool = True  # outline the parts the lints name
    moving: bool = False  # a frame in the middle of a drag: JPEG, a ninth of PNG's cost; the last one is PNG


class Superseded(Exception):
    """A newer request from the same page replaced this one before it was rendered."""


class LatestOnly:
    """One worker thread; each client has at most one waiting job, and a newer one replaces it."""

    def __init__(self):
        self._cond = threading.Condition()
        self._waiting: OrderedDict[str, tuple] = OrderedDict()
        self._closed = False
        threading.Thread(target=self._run, name="proto3d-view-render", daemon=True).start()

    def submit(self, client: str, job) -> Future:
        future: Future = Future()
        with self._cond:
            replaced = self._waiting.pop(client, None)
            if replaced:
                replaced[1].set_exception(Superseded())
            self._waiting[client] = (job, future)
            self._cond.notify()
        return future

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                _, (job, future) = self._waiting.popitem(last=False)  # clients take turns
            try:
                future.set_result(job())
            except BaseException as error:  # handed to the request that asked for it
                future.set_exception(error)


class Session:
    """One watched .pdsl file: its text, the diagnostics of that text, and the last shape that compiled."""

    def __init__(self, path: Path, params: dict | None = None):
        self.path = path
        self.params = dict(params or {})  # slider values, never written to the file
        self.text = ""
        self.errors: list[Diagnostic] = []  # of the current text; the image stays the last good shape's
        self.shape: CompiledShape | None = None
        self.version = 0
        self.changed = threading.Condition()
        self._compiling = threading.Lock()
        self._stamp: tuple | None = None
        self._frames: OrderedDict[int, Renders] = OrderedDict()
        self._frame_id = 0
        self._renderer = LatestOnly()
        self._stop = threading.Event()

    # ------------------------------------------------------------------ the file and the shape

    def start(self) -> None:
        """Compile the file now, then watch it from a thread."""
        self.poll()
        threading.Thread(target=self._watch, name="proto3d-view-watch", daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._renderer.close()
        with self.changed:
            self.changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def _watch(self) -> None:
        while not self._stop.wait(POLL):
            self.poll()

    def poll(self) -> None:
        """Recompile if the file changed on disk (editors that save by renaming included)."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError as error:
            stamp = ("missing", error.strerror)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            text = read_program(str(self.path))
        except Proto3dError as error:  # unreadable or not UTF-8: said in the list, the last render stays
            self._publish(self.text, list(error.diagnostics))
            return
        if text != self.text or not self.version:
            self._compile(text)

    def set_params(self, values: dict[str, float]) -> None:
        """Re-render with these param values (sliders); the file is left as it is."""
        self.params = dict(values)
        self._compile(self.text)

    def _compile(self, text: str) -> None:
        with self._compiling:
            try:
                shape = compile_text(text, params=self.params, filename=str(self.path))
            except Proto3dError as error:
                if (
                    self.shape
                    and self.params
                    and any(d.code == "E211" and not d.line for d in error.diagnostics)
                ):
                    self.params = {}  # a slider's param is gone from the file: start from its defaults
                    return self._compile(text)
                self._publish(text, list(error.diagnostics))
                return
            self.shape = shape
            self._publish(text, [])

    def _publish(self, text: str, errors: list[Diagnostic]) -> None:
        with self.changed:
            self.text, self.errors = text, errors
            self.version += 1
            self.changed.notify_all()

    def state(self) -> dict:
        """Everything the page shows beside the image."""
        shape = self.shape
        return {
            "file": str(self.path),
            "version": self.version,
            "text": self.text,
            "ok": not self.errors,
            "rendered": shape is not None,
            "diagnostics": [_diagnostic(d) for d in self.errors]
            + [_diagnostic(d) for d in (shape.diagnostics if shape else [])],
            "parts": [
                {
                    "label": p.label,
                    "instances": len(p.instance_ids),
                    "line": p.span.line,
                    "color": hex_color(c),
                    "own_color": hex_color(np.round(np.asarray(p.color) * 255)),
                }
                for p, c in zip(shape.parts, palette(len(shape.parts)))
            ]
            if shape
            else [],
            "params": [
                {"name": name, **{k: spec[k] for k in ("value", "default", "lo", "hi", "integer")}}
                for name, spec in (shape.params.items() if shape else [])
            ],
        }

    # ------------------------------------------------------------------ frames and picks

    def frame(self, client: str, request: FrameRequest) -> tuple[bytes, dict]:
        """The encoded image and facts about it (id, version, visible pixels per part, MIME type); blocks until rendered.

        Raises `Superseded` when a newer request of the same client replaced this one, and
        `Proto3dError` when there is nothing to render yet or the renderer refuses the camera.
        """
        return self._renderer.submit(client, lambda: self._render(request)).result()

    def _render(self, request: FrameRequest) -> tuple[bytes, dict]:
        version = self.version  # before the shape: a frame is never older than the version it claims
        shape = self.shape
        if shape is None:
            raise Proto3dError(
                diagnostic("E000", "nothing to show yet: the file has never compiled"), str(self.path)
            )
        renders = render(shape, [camera(shape, request)], passes=("rgb",))
        view = renders.views[0]
        if request.mode == "part":
            image = colorize(view.part, len(shape.parts))
        elif request.mode == "instance":
            image = colorize(view.instance, len(shape.instances))
        else:
            assert view.rgb is not None
            image = view.rgb[..., :3].copy()
        if request.line:
            image = _highlight(image, _mask(view.primitive, drawn_by(shape, request.line)))
        picture = Image.fromarray(image)
        if request.problems and any(d.line for d in shape.diagnostics):
            _outline_problems(picture, shape, view)
        self._frame_id += 1
        self._frames[self._frame_id] = renders
        while len(self._frames) > KEPT_FRAMES:
            self._frames.popitem(last=False)
        visible = {p.label: int(n) for p, n in zip(shape.parts, renders.part_counts(0))}
        facts = {"id": self._frame_id, "version": version, "visible": visible}
        if request.moving:
            encoded = io.BytesIO()
            picture.save(encoded, format="JPEG", quality=90)
            return encoded.getvalue(), {**facts, "type": "image/jpeg"}
        return png_bytes(picture), {**facts, "type": "image/png"}

    def pick(self, frame: int, x: int, y: int) -> dict | None:
        """What drew pixel (x, y) of a frame the page was shown: part, instance, primitive, source span."""
        renders = self._frames.get(frame)
        if renders is None:
            return None
        shape = renders.shape
        width, height = renders.views[0].face.shape[::-1]
        if not (0 <= x < width and 0 <= y < height):
            return None
        info = renders.at(0, x, y)
        if info is None:
            return {"background": True}
        instance = shape.instances[info.instance_id]
        span = info.span
        return {
            "part": info.part,
            "instance": info.instance,
            "kind": info.kind,
            "primitive": info.primitive_id,
            "line": span.line,
            "end_line": max(span.end_line, span.line),
            "part_line": instance.span.line,
            "part_end_line": max(instance.span.end_line, instance.span.line),
        }


def camera(shape: CompiledShape, request: FrameRequest) -> Camera:
    """An orbit camera around the centre of the shape's box, at a distance that keeps its bounding
    sphere in view whatever the angle (so orbiting never changes the scale)."""
    lo, hi = shape.bbox
    center = (lo + hi) / 2
    radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-3)
    half = math.radians(FIELD_OF_VIEW) / 2
    distance = radius / math.sin(half) * 1.02 * request.zoom
    az, el = math.radians(request.azimuth), math.radians(request.elevation)
    direction = np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
    w, h = request.width, request.height
    f = min(w, h) / 2 / math.tan(half)
    K = np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])
    pose = look_at("view", center + direction * distance, center, K, max(MIN_SIZE, min(w, h)))
    return Camera("view", K, pose.world_to_camera, w, h)


def frame_request(query: dict[str, str]) -> FrameRequest:
    """A FrameRequest from the page's query string; out-of-range numbers are clamped, junk is a ValueError."""

    def number(key: str, default: float) -> float:
        value = float(query.get(key, default))
        if not math.isfinite(value):
            raise ValueError(f"{key} must be a finite number")
        return value

    mode = query.get("mode", "shaded")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    return FrameRequest(
        azimuth=number("az", 30.0) % 360.0,
        elevation=min(max(number("el", 20.0), -90.0), 90.0),
        zoom=min(max(number("zoom", 1.0), ZOOM[0]), ZOOM[1]),
        width=int(min(max(number("w", 512), MIN_SIZE), MAX_SIZE)),
        height=int(min(max(number("h", 512), MIN_SIZE), MAX_SIZE)),
        mode=mode,
        line=max(int(number("line", 0)), 0),
        problems=query.get("problems", "1") != "0",
        moving=query.get("moving", "0") == "1",
    )


def drawn_by(shape: CompiledShape, line: int) -> set[int]:
    """Primitives a source line drew: those whose statement covers it, else every primitive of the
    part blocks that cover it (the `part` line itself, or a blank line inside the block)."""
    found = {
        i for i, p in enumerate(shape.primitives) if p.span.line <= line <= max(p.span.end_line, p.span.line)
    }
    if not found:
        for inst in shape.instances:
            if inst.span.line <= line <= max(inst.span.end_line, inst.span.line):
                found.update(inst.primitive_ids)
    return found


def _mask(primitive_buffer: np.ndarray, primitives: set[int]) -> np.ndarray:
    """Pixels drawn by these primitives (the buffer holds primitive index + 1)."""
    lut = np.zeros(int(primitive_buffer.max()) + 1, bool)
    for p in primitives:
        if p + 1 < len(lut):
            lut[p + 1] = True
    return lut[primitive_buffer]


def _edge(mask: np.ndarray) -> np.ndarray:
    """The inner border of a mask, two pixels wide."""
    inner = mask.copy()
    for _ in range(2):
        shrunk = inner.copy()
        shrunk[1:] &= inner[:-1]
        shrunk[:-1] &= inner[1:]
        shrunk[:, 1:] &= inner[:, :-1]
        shrunk[:, :-1] &= inner[:, 1:]
        inner = shrunk
    return mask & ~inner


def _highlight(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fade what the selection did not draw and outline what it did."""
    out = image.astype(np.float32)
    out[~mask] = out[~mask] * 0.35 + 255 * 0.65
    out[_edge(mask)] = SELECTED
    return out.astype(np.uint8)


def _outline_problems(picture: Image.Image, shape: CompiledShape, view) -> None:
    """Outline, in red, each instance a lint names, with the lint's code and message above it; for a
    floating part (W101) also draw its gap: from the part's farthest point along the move the lint
    suggests (`move it by [x, y, z]`) to where that move takes it, labelled with the gap's size."""
    names = {shape.instance_name(i): i for i in range(len(shape.instances))}
    pixels = np.asarray(picture).copy()
    labels: dict[tuple[int, int], list[str]] = {}
    gaps = []
    for lint in shape.diagnostics:
        if not lint.line:
            continue
        named = [names[n] for n in re.findall(r"`([^`]+)`", lint.message) if n in names]
        instances = [i for i in named if shape.instances[i].span == lint.span]  # the one at the lint's place
        primitives = {p for i in instances for p in shape.instances[i].primitive_ids}
        if not primitives:  # a lint about one primitive (W105)
            primitives = {i for i, p in enumerate(shape.primitives) if p.span == lint.span}
        mask = _mask(view.primitive, primitives)
        if not mask.any():
            continue
        pixels[_edge(mask)] = PROBLEM
        ys, xs = np.nonzero(mask)
        labels.setdefault((int(xs.min()), int(ys.min())), []).append(
            f"{lint.code} line {lint.line}: {lint.message}"
        )
        move, size = MOVE.search(lint.hint), GAP.search(lint.message)
        if lint.code == "W101" and move and size and instances:
            gaps.append((instances[0], np.array([float(x) for x in move.group(1).split(",")]), size.group(1)))
    if not labels:
        return
    picture.paste(Image.fromarray(pixels))
    draw = ImageDraw.Draw(picture)
    for instance, move, size in gaps:
        corners = np.unique(shape.faces[shape.instance_id == instance].ravel())
        start = shape.vertices[corners[np.argmax(shape.vertices[corners] @ move)]].astype(float)
        (u0, v0, z0), (u1, v1, z1) = view.camera.project(np.array([start, start + move]))
        if min(z0, z1) <= 0:
            continue
        draw.line([(u0, v0), (u1, v1)], fill=PROBLEM, width=2)
        for u, v in ((u0, v0), (u1, v1)):
            draw.ellipse([u - 3, v - 3, u + 3, v + 3], outline=PROBLEM, width=2)
        _label(draw, picture.width, (u0 + u1) / 2 + 6, (v0 + v1) / 2 - 6, size)
    for (x, y), texts in labels.items():
        for k, text in enumerate(texts):
            _label(
                draw,
                picture.width,
                x,
                y - 14 * (len(texts) - k),
                text if len(text) <= 80 else text[:77] + "...",
            )


def _label(draw: ImageDraw.ImageDraw, width: int, x: float, y: float, text: str) -> None:
    """Red text on white at (x, y), moved inside the image."""
    box = draw.textbbox((x, max(y, 0)), text)
    if box[2] > width:
        box = draw.textbbox((max(width - (box[2] - box[0]) - 2, 0), box[1]), text)
    draw.rectangle(box, fill=(255, 255, 255))
    draw.text(box[:2], text, fill=PROBLEM)


def _diagnostic(d: Diagnostic) -> dict:
    return {
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
        "line": d.line,
        "column": d.column,
        "hint": d.hint,
        "expected": d.expected,
    }
