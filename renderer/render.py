"""`render(shape, views)`: every pass of every view from one upload, and the queries on them.

`render` keeps every view in memory (what the agent's few small views want); `render_each`
yields the views one at a time, so a caller that writes each one out holds a view or two
whatever the count. Both refuse, before any work, a request whose buffers would not fit
`memory_limit` (R012).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from numba import njit

from proto3d.compiler.shape import CompiledShape
from proto3d.errors import Span
from proto3d.renderer.antialias import fxaa
from proto3d.renderer.camera import Camera, named_view
from proto3d.renderer.errors import (
    BAD_OPTION,
    BAD_PIXEL,
    BLANK_RENDER,
    EMPTY_SHAPE,
    OVER_MEMORY,
    UNKNOWN_PASS,
    UNKNOWN_VIEW,
    render_error,
)
from proto3d.renderer.raster import Scene, gpu

ALL_PASSES = ("rgb", "depth", "normal", "part", "instance", "primitive")
ANTIALIAS = ("fxaa", "msaa", "none")
DEFAULT_VIEWS = ("front", "left", "back", "iso")
MEMORY_LIMIT = 2 << 30  # bytes of buffers a render may hold at once, unless the caller gives another limit
# Bytes per pixel a view's buffers hold: face, part and instance ids always (pixel counts look the
# last two up), then per pass (the colour twice while FXAA writes a smoothed copy, depth and normals
# share one float4 readback); measured: 4 views of 2048x2048 with every pass add 136 MB a view
# (36 B/px counted: 144 MB).
PIXEL_BYTES = {"ids": 8, "rgb": 8, "geometry": 16, "primitive": 4}


@dataclass
class View:
    """One camera's buffers. ID buffers hold table index + 1, 0 = background.

    `part`, `instance` and `primitive` are looked up from `face` on first use, so a caller
    that needs only some of them pays only for those.
    """

    name: str
    camera: Camera
    rgb: np.ndarray | None  # (H, W, 4) uint8, anti-aliased unless rendered with antialias="none"
    depth: np.ndarray | None  # (H, W) float32, metres along camera z, 0 = background
    normal: np.ndarray | None  # (H, W, 3) float32, world-space unit normals, 0 = background
    face: np.ndarray  # (H, W) int32, triangle index + 1
    tables: tuple[np.ndarray, np.ndarray, np.ndarray] = field(
        repr=False
    )  # face + 1 -> part, instance, primitive + 1

    @cached_property
    def part(self) -> np.ndarray:
        """(H, W) uint16 (int32 past 65534 parts)."""
        return _gather(self.tables[0], self.face)

    @cached_property
    def instance(self) -> np.ndarray:
        """(H, W) uint16 (int32 past 65534 instances)."""
        return _gather(self.tables[1], self.face)

    @cached_property
    def primitive(self) -> np.ndarray:
        """(H, W) int32."""
        return _gather(self.tables[2], self.face)


@dataclass(frozen=True)
class PixelInfo:
    """What drew one pixel, down to the source statement."""

    view: str
    x: int
    y: int
    part: str
    instance: str
    part_id: int  # 0-based indices into the shape's tables
    instance_id: int
    primitive_id: int
    face: int
    kind: str  # primitive kind
    span: Span
    depth: float | None

    @property
    def line(self) -> int:
        return self.span.line

    def to_json(self) -> dict:
        return {
            "view": self.view,
            "x": self.x,
            "y": self.y,
            "part": self.part,
            "instance": self.instance,
            "part_id": self.part_id,
            "instance_id": self.instance_id,
            "primitive_id": self.primitive_id,
            "face": self.face,
            "kind": self.kind,
            "line": self.span.line,
            "column": self.span.column,
            "depth": self.depth,
        }


@dataclass
class PixelCounts:
    """Visible pixels per part and per instance of each view: what visibility.json, the sheet
    and the CLI's summary need, kept without the views' buffers when views are streamed."""

    shape: CompiledShape
    views: dict[str, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict
    )  # name -> (parts,), (instances,)

    def add(self, view: View) -> tuple[np.ndarray, np.ndarray]:
        counts = self.views[view.name] = (
            _count(view.part, len(self.shape.parts) + 1)[1:],
            _count(view.instance, len(self.shape.instances) + 1)[1:],
        )
        return counts

    def visible_pixels(self) -> dict[str, dict[str, dict[str, int]]]:
        """{view: {"parts": {label: n}, "instances": {name: n}}}, zeros included."""
        s = self.shape
        return {
            name: {
                "parts": {p.label: int(n) for p, n in zip(s.parts, parts)},
                "instances": {s.instance_name(i): int(n) for i, n in enumerate(instances)},
            }
            for name, (parts, instances) in self.views.items()
        }

    def part_totals(self) -> np.ndarray:
        return sum((parts for parts, _ in self.views.values()), np.zeros(len(self.shape.parts), np.int64))

    def instance_totals(self) -> np.ndarray:
        return sum(
            (instances for _, instances in self.views.values()), np.zeros(len(self.shape.instances), np.int64)
        )

    def invisible_parts(self) -> list[str]:
        """Labels of parts that no view shows a single pixel of."""
        return [p.label for p, n in zip(self.shape.parts, self.part_totals()) if n == 0]

    def invisible_instances(self) -> list[str]:
        return [self.shape.instance_name(i) for i, n in enumerate(self.instance_totals()) if n == 0]


@dataclass
class Renders:
    shape: CompiledShape
    views: list[View]
    passes: tuple[str, ...]

    def view(self, key: int | str) -> View:
        if (
            isinstance(key, (int, np.integer))
            and not isinstance(key, bool)
            and -len(self.views) <= key < len(self.views)
        ):
            return self.views[key]
        for view in self.views:
            if view.name == key:
                return view
        raise render_error(
            UNKNOWN_VIEW, f"no view {key!r} in these renders", expected=", ".join(v.name for v in self.views)
        )

    def at(self, view: int | str, x: int, y: int) -> PixelInfo | None:
        """The part, instance, primitive and source span that drew pixel (x = column, y = row); None on background."""
        v = self.view(view)
        h, w = v.face.shape
        if not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in (x, y)) or not (
            0 <= x < w and 0 <= y < h
        ):
            raise render_error(
                BAD_PIXEL,
                f"pixel ({x!r}, {y!r}) is outside view `{v.name}`",
                expected=f"integers 0 <= x < {w}, 0 <= y < {h}",
            )
        face = int(v.face[y, x]) - 1
        if face < 0:
            return None
        s = self.shape
        primitive_id, instance_id, part_id = (
            int(s.primitive_id[face]),
            int(s.instance_id[face]),
            int(s.part_id[face]),
        )
        primitive = s.primitives[primitive_id] if primitive_id < len(s.primitives) else None
        return PixelInfo(
            view=v.name,
            x=int(x),
            y=int(y),
            part=s.parts[part_id].label,
            instance=s.instance_name(instance_id),
            part_id=part_id,
            instance_id=instance_id,
            primitive_id=primitive_id,
            face=face,
            kind=primitive.kind if primitive else "",
            span=primitive.span if primitive else s.instances[instance_id].span,
            depth=float(v.depth[y, x]) if v.depth is not None else None,
        )

    def part_counts(self, view: int | str) -> np.ndarray:
        """(parts,) visible pixel count of each part in one view."""
        return _count(self.view(view).part, len(self.shape.parts) + 1)[1:]

    def instance_counts(self, view: int | str) -> np.ndarray:
        return _count(self.view(view).instance, len(self.shape.instances) + 1)[1:]

    def counts(self) -> PixelCounts:
        counts = PixelCounts(self.shape)
        for view in self.views:
            counts.add(view)
        return counts

    def visible_pixels(self) -> dict[str, dict[str, dict[str, int]]]:
        """{view: {"parts": {label: n}, "instances": {name: n}}}, zeros included."""
        return self.counts().visible_pixels()

    def invisible_parts(self) -> list[str]:
        """Labels of parts that no view shows a single pixel of."""
        return self.counts().invisible_parts()

    def invisible_instances(self) -> list[str]:
        return self.counts().invisible_instances()

    def save(self, directory: str | Path, passes: Sequence[str] | None = None) -> list[Path]:
        """Write the chosen passes (default: all rendered), cameras.json and visibility.json; returns the paths."""
        from proto3d.renderer.save import save_renders

        return save_renders(
            self, Path(directory), _check_passes(passes) if passes is not None else self.passes
        )


def render(
    shape: CompiledShape,
    views: Sequence[str | Camera] = DEFAULT_VIEWS,
    size: int = 512,
    passes: Sequence[str] = ALL_PASSES,
    background: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    samples: int = 4,
    double_sided: bool = False,
    antialias: str = "fxaa",
    memory_limit: int = MEMORY_LIMIT,
) -> Renders:
    """Upload `shape` once and render every view, all kept in memory. Named views are framed on the shape's bounds.

    ID buffers are always rendered (they make blank renders detectable and `at()` work);
    `passes` decides whether the colour image and depth/normals are rendered and read back.
    The colour comes from the same draw as the IDs; `antialias` smooths it: "fxaa" (default)
    post-processes the edges on the CPU (about a millisecond a view); "msaa" draws the colour
    again with `samples` per pixel (capped by the driver), finer on sub-pixel detail such as
    spokes but twice the cost on a CPU; "none" keeps the jagged single-sample image.
    Back faces are culled (a camera inside a solid sees through its walls); `double_sided`
    draws them too, for meshes whose winding is not to be trusted, at twice the cost.
    Views whose buffers together exceed `memory_limit` bytes are refused before any work (R012):
    render many or large views with `render_each` and write each one out.
    """
    passes, cameras, background = _prepare(shape, views, size, passes, background, samples, antialias)
    sizes = [view_bytes(c.width, c.height, passes) for c in cameras]
    check_memory(
        sum(sizes) + max(sizes),
        memory_limit,
        f"{_describe(cameras)} held in memory",
        hint="stream them to disk with `render_each` (the `proto3d render` command does)",
    )
    return Renders(
        shape,
        list(_stream(shape, cameras, passes, background, samples, bool(double_sided), antialias)),
        passes,
    )


def render_each(
    shape: CompiledShape,
    views: Sequence[str | Camera] = DEFAULT_VIEWS,
    size: int = 512,
    passes: Sequence[str] = ALL_PASSES,
    background: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    samples: int = 4,
    double_sided: bool = False,
    antialias: str = "fxaa",
    memory_limit: int = MEMORY_LIMIT,
) -> Iterator[View]:
    """`render` one view at a time: an iterator that draws a view while the caller uses the one before.

    It holds at most two views (the one drawn and the one being smoothed) and the framebuffers,
    so its memory does not grow with the number of views. Everything is checked now, before the first view is
    drawn; the GL context is taken only while a view is drawn, so the caller may render between views.
    """
    passes, cameras, background = _prepare(shape, views, size, passes, background, samples, antialias)
    check_memory(
        3 * max(view_bytes(c.width, c.height, passes) for c in cameras),
        memory_limit,
        f"{_describe(cameras)} streamed",
    )
    return _stream(shape, cameras, passes, background, samples, bool(double_sided), antialias)


def _prepare(
    shape, views, size, passes, background, samples, antialias
) -> tuple[tuple[str, ...], list[Camera], tuple]:
    """The checked passes, cameras and background of a request: every option error before any work."""
    passes = _check_passes(passes)
    if not isinstance(samples, (int, np.integer)) or isinstance(samples, bool) or not 1 <= samples <= 16:
        raise render_error(
            BAD_OPTION,
            f"samples must be a whole number from 1 to 16, got {samples!r}",
            hint="4 is smooth, 1 is fastest",
        )
    if antialias not in ANTIALIAS:
        raise render_error(BAD_OPTION, f"unknown anti-aliasing {antialias!r}", expected=", ".join(ANTIALIAS))
    background = _check_background(background)
    _check_shape(shape)
    return passes, _cameras(shape, views, size), background


def _stream(shape, cameras, passes, background, samples, double_sided, antialias) -> Iterator[View]:
    tables = (
        _lut(shape.part_id, len(shape.parts)),
        _lut(shape.instance_id, len(shape.instances)),
        _lut(shape.primitive_id, 1 << 31),
    )
    g = gpu()
    samples = min(samples, max(g.ctx.max_samples, 1))
    if antialias == "msaa" and samples < 2:  # one sample per pixel is the G-buffer's own colour
        antialias = "none"
    # FXAA runs in a worker thread (Numba releases the GIL) while the next view is drawn
    smoothing = ThreadPoolExecutor(1) if antialias == "fxaa" and "rgb" in passes else None
    with g.lock, g.ctx:
        scene = Scene(g, shape.vertices, shape.normals, shape.faces, shape.face_colors, shape.bbox)
    try:
        previous = None  # the view drawn before, and its colour being smoothed (or None)
        for camera in cameras:
            with g.lock, g.ctx:
                frame = scene.draw(
                    camera,
                    rgb="rgb" in passes,
                    geometry="depth" in passes or "normal" in passes,
                    background=background,
                    antialias=antialias,
                    samples=samples,
                    double_sided=double_sided,
                )
            if not frame.face.any():
                raise render_error(
                    BLANK_RENDER,
                    f"view `{camera.name}` shows nothing: the shape covers no pixel",
                    hint="the camera looks away from the shape or is too far; use a named view or --orbit, "
                    "which frame the shape automatically",
                )
            view = View(
                camera.name,
                camera,
                frame.rgba,
                frame.depth if "depth" in passes else None,
                frame.normal if "normal" in passes else None,
                frame.face,
                tables,
            )
            current = view, smoothing.submit(fxaa, frame.rgba) if smoothing else None
            if previous is not None:
                yield _finish(*previous)
            previous = current
        if previous is not None:
            yield _finish(*previous)
    finally:
        if smoothing:
            smoothing.shutdown(cancel_futures=True)
        with g.lock, g.ctx:
            scene.release()


def _finish(view: View, smoothed) -> View:
    if smoothed is not None:
        view.rgb = smoothed.result()
    return view


def view_bytes(width: int, height: int, passes: Sequence[str]) -> int:
    """The bytes one view's buffers hold (`PIXEL_BYTES`). The GL framebuffers a render draws into
    take about as much again, once: the limits count them as one more view."""
    geometry = "depth" in passes or "normal" in passes
    per_pixel = (
        PIXEL_BYTES["ids"] + PIXEL_BYTES["geometry"] * geometry + sum(PIXEL_BYTES.get(p, 0) for p in passes)
    )
    return width * height * per_pixel


def check_memory(needed: int, limit: int, what: str, hint: str = "") -> None:
    """R012 when a request needs more than `limit` bytes: before any work, never a MemoryError halfway."""
    if needed > limit:
        raise render_error(
            OVER_MEMORY,
            f"{what} need about {_megabytes(needed)} of memory; the limit is {_megabytes(limit)}",
            hint=hint or "render fewer or smaller views, or fewer passes, or allow more memory",
        )


def _megabytes(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def _describe(cameras: Sequence[Camera]) -> str:
    first = cameras[0]
    same = all((c.width, c.height) == (first.width, first.height) for c in cameras)
    return f"{len(cameras)} view{'s' * (len(cameras) != 1)}" + (
        f" at {first.width}x{first.height}" if same else ""
    )


def _cameras(shape: CompiledShape, views, size: int) -> list[Camera]:
    if isinstance(views, (str, Camera)):
        views = [views]
    cameras = [v if isinstance(v, Camera) else named_view(v, shape.bbox, size) for v in views]
    if not cameras:
        raise render_error(BAD_OPTION, "no views to render", hint="ask for at least one view, e.g. `front`")
    names = [c.name for c in cameras]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise render_error(
            BAD_OPTION, f"view `{duplicate}` is asked for twice", hint="give every camera its own name"
        )
    return cameras


@njit(cache=True, nogil=True)
def _gather(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """table[index] for a 2-D index: a quarter of NumPy's fancy-indexing time (0.25 ms at 512x512)."""
    out = np.empty(index.shape, table.dtype)
    for y in range(index.shape[0]):
        for x in range(index.shape[1]):
            out[y, x] = table[index[y, x]]
    return out


@njit(cache=True, nogil=True)
def _count(ids: np.ndarray, n: int) -> np.ndarray:
    """np.bincount(ids.ravel(), minlength=n) for a 2-D id buffer with ids < n, adding up runs of one id:
    an id buffer is long runs, on which bincount waits for one counter at every pixel (0.07 ms, not 0.65)."""
    out = np.zeros(n, np.int64)
    for y in range(ids.shape[0]):
        start = 0
        for x in range(1, ids.shape[1] + 1):
            if x == ids.shape[1] or ids[y, x] != ids[y, start]:
                if ids[y, start] >= n:
                    raise IndexError("id outside the table")
                out[ids[y, start]] += x - start
                start = x
    return out


def _lut(ids: np.ndarray, count: int) -> np.ndarray:
    """face index + 1 -> table index + 1, in the narrowest exact dtype."""
    dtype = np.uint16 if count < 0xFFFF else np.int32
    return np.concatenate([[0], np.asarray(ids, np.int64) + 1]).astype(dtype)


def _check_passes(passes) -> tuple[str, ...]:
    if isinstance(passes, str):
        passes = [passes]
    unknown = [p for p in passes if p not in ALL_PASSES]
    if unknown:
        raise render_error(UNKNOWN_PASS, f"unknown pass `{unknown[0]}`", expected=", ".join(ALL_PASSES))
    return tuple(p for p in ALL_PASSES if p in passes)


def _check_background(background) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(c) for c in background)
    except (TypeError, ValueError):
        values = ()
    if len(values) == 3:
        values += (1.0,)
    if len(values) != 4 or not all(math.isfinite(c) and 0 <= c <= 1 for c in values):
        raise render_error(
            BAD_OPTION,
            f"background must be 3 or 4 numbers in [0, 1], got {background!r}",
            expected="(r, g, b) or (r, g, b, a)",
        )
    return values


def _check_shape(shape: CompiledShape) -> None:
    faces, vertices = np.asarray(shape.faces), np.asarray(shape.vertices)
    if faces.size == 0:
        raise render_error(
            EMPTY_SHAPE,
            f"shape `{shape.name}` has no triangles to render",
            hint="add at least one primitive inside a `part` block",
        )
    if (
        faces.ndim != 2
        or faces.shape[1] != 3
        or faces.min() < 0
        or faces.max() >= len(vertices)
        or not np.all(np.isfinite(vertices))
        or len(shape.part_id) != len(faces)
    ):
        raise render_error(
            EMPTY_SHAPE,
            f"shape `{shape.name}` is malformed: face indices or per-face tables do not match the vertices",
        )
