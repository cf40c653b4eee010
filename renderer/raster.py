"""The GPU side: the process's one OpenGL context, the shaders, and a shape uploaded once.

One single-sampled draw per view fills exact targets: the face index + 1 as an unsigned
integer (a flat attribute of each triangle's provoking vertex, so part, instance and primitive
ids come from the shape's per-face tables with no quantisation), camera depth and normal as
floats, and the shaded colour. With antialias="msaa", the colour comes from a second,
multisampled draw instead.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass

import numpy as np
from numba import njit

from proto3d.renderer.camera import Camera, box_corners
from proto3d.renderer.errors import FORKED, NO_CONTEXT, render_error

GL_VERSION = 410
DEBIAN_PACKAGES = "libegl1 libgl1-mesa-dri libegl-mesa0"

# Key light above-left of the camera, fill from the right, ambient and a rim term, in camera
# axes so every view shows form the same way. Lighting is per vertex and kept apart from the
# colour: pow(base^2.2 * light, 1/2.2) = base * light^(1/2.2), so the fragment shaders (run
# per sample when multisampling) are a multiply while light still mixes linearly.
# The face id and colour are flat attributes of each triangle's provoking (last) vertex, not
# gl_PrimitiveID: with no geometry shader, llvmpipe assembles primitives again to supply it,
# which cost 40% of a draw.
VERTEX_SHADER = """
#version 410
uniform mat4 world_to_camera;
uniform mat4 projection;
in vec3 in_position;
in vec3 in_normal;
in uint in_face;  // face index + 1 of the triangle this vertex provokes
in vec3 in_color;
out vec3 v_normal;
out vec2 v_light;  // gamma-encoded light for front and back faces
flat out uint v_face;
flat out vec3 v_color;
const vec3 KEY = normalize(vec3(-0.45, -0.65, -0.6));
const vec3 FILL = normalize(vec3(0.8, 0.1, -0.45));
float light(vec3 n, vec3 view) {
    float key = max(dot(n, KEY), 0.0);
    float fill = max(dot(n, FILL), 0.0);
    float rim = pow(1.0 - max(dot(n, view), 0.0), 3.0);
    return pow(0.22 + 0.85 * key + 0.3 * fill + 0.12 * rim, 1.0 / 2.2);
}
void main() {
    vec4 p = world_to_camera * vec4(in_position, 1.0);
    vec3 n = mat3(world_to_camera) * in_normal;
    n = length(n) > 0.0 ? normalize(n) : vec3(0.0, 0.0, -1.0);
    vec3 view = normalize(-p.xyz);
    v_normal = in_normal;
    v_light = vec2(light(n, view), BACK_LIGHT);
    v_face = in_face;
    v_color = in_color;
    gl_Position = projection * p;
}
"""

COLOR = """
flat in vec3 v_color;
vec4 shade(vec2 v_light) {
    return vec4(min(v_color * (gl_FrontFacing ? v_light.x : v_light.y), 1.0), 1.0);
}
"""

GBUFFER_SHADER = (
    """
#version 410
in vec3 v_normal;
in vec2 v_light;
flat in uint v_face;
layout(location = 0) out uint face;
layout(location = 1) out vec4 geometry;  // camera z, world normal
layout(location = 2) out vec4 color;
"""
    + COLOR
    + """
void main() {
    vec3 n = length(v_normal) > 0.0 ? normalize(v_normal) : vec3(0.0);
    face = v_face;
    geometry = vec4(1.0 / gl_FragCoord.w, gl_FrontFacing ? n : -n);  // w = camera z: no varying needed
    color = shade(v_light);
}
"""
)

COLOR_SHADER = (
    """
#version 410
in vec2 v_light;
out vec4 color;
"""
    + COLOR
    + """
void main() {
    color = shade(v_light);
}
"""
)


@dataclass(frozen=True)
class Gpu:
    ctx: object  # moderngl.Context
    lock: threading.Lock
    programs: dict  # ("gbuffer" | "color", double_sided) -> compiled program
    pid: int  # the process that made the context


_CREATING = threading.Lock()


def gpu() -> Gpu:
    """The process's one context and its compiled programs, created on first use.

    An EGL context costs tens of milliseconds and drivers leak when contexts are created
    and dropped in a loop, so it is made lazily once and kept: the renderer's only
    process-wide resource. The lock exists because a context is current in one thread at
    a time. A failure is not cached, so a later call retries.
    """
    with _CREATING:
        g = _create()
    if g.pid != os.getpid():
        raise render_error(
            FORKED,
            "this process was forked from one that had already rendered; Mesa cannot make a new context here",
            hint="start worker processes with multiprocessing's 'spawn' or 'forkserver' method, "
            "or fork before the first render",
        )
    return g


@functools.cache
def _create() -> Gpu:
    try:
        import moderngl

        ctx = moderngl.create_standalone_context(backend="egl", require=GL_VERSION)
    except Exception as exc:  # the driver's own words are the most useful detail
        raise render_error(
            NO_CONTEXT,
            f"cannot create a headless OpenGL {GL_VERSION // 100}.{GL_VERSION // 10 % 10} context through EGL: "
            f"{str(exc).strip() or type(exc).__name__}",
            hint=f"install EGL and Mesa (Debian/Ubuntu: `apt-get install {DEBIAN_PACKAGES}`); "
            "without a GPU, Mesa's llvmpipe renders on the CPU",
        ) from None
    with ctx:
        # back faces are lit only when drawn: with culling, the vertex shader skips half its light
        programs = {
            (name, double_sided): ctx.program(
                vertex_shader=VERTEX_SHADER.replace(
                    "BACK_LIGHT", "light(-n, view)" if double_sided else "0.0"
                ),
                fragment_shader=fragment,
            )
            for name, fragment in (("gbuffer", GBUFFER_SHADER), ("color", COLOR_SHADER))
            for double_sided in (False, True)
        }
    return Gpu(ctx, threading.Lock(), programs, os.getpid())


@dataclass
class Frame:
    """Raw per-view readback: face index + 1 (0 = background), and optional passes."""

    face: np.ndarray  # (H, W) int32
    depth: np.ndarray | None  # (H, W) float32, camera z in metres, 0 = background
    normal: np.ndarray | None  # (H, W, 3) float32 world-space unit normals
    rgba: np.ndarray | None  # (H, W, 4) uint8


class Scene:
    """A shape's triangles, normals and face colours uploaded once, drawn from any camera.

    Must be used inside `with gpu.lock, gpu.ctx:`; `release()` frees the GPU memory.
    """

    def __init__(
        self,
        gpu: Gpu,
        vertices: np.ndarray,
        normals: np.ndarray,
        faces: np.ndarray,
        face_colors: np.ndarray,
        bbox: tuple[np.ndarray, np.ndarray],
    ):
        ctx = self.ctx = gpu.ctx
        self.gpu = gpu
        self.bbox_corners = box_corners(*bbox)
        rgba = np.zeros((len(faces), 4), np.uint8)
        rgba[:, :3] = np.clip(np.asarray(face_colors, np.float32) * 255 + 0.5, 0, 255)
        faces, data = _vertex_data(
            np.ascontiguousarray(vertices, np.float32),
            np.ascontiguousarray(normals, np.float32),
            np.ascontiguousarray(faces, np.int32),
            rgba.view(np.uint32)[:, 0],
        )
        self.vbo = ctx.buffer(data)
        self.ibo = ctx.buffer(faces)
        layout = [(self.vbo, "3f 3f u 3f1 1x", "in_position", "in_normal", "in_face", "in_color")]
        self.vaos = {  # skip_errors: the colour-only program has no use for in_face
            program: ctx.vertex_array(
                program, layout, index_buffer=self.ibo, index_element_size=4, skip_errors=True
            )
            for program in gpu.programs.values()
        }
        self.targets: dict[tuple[int, int, int], object] = {}

    def draw(
        self,
        camera: Camera,
        *,
        rgb: bool,
        geometry: bool,
        background,
        antialias: str,
        samples: int,
        double_sided: bool,
    ) -> Frame:
        """Render one view and read back what was asked for; near and far hug the shape's bounds.

        `antialias`: "msaa" draws the colour again with `samples` per pixel; otherwise the
        colour is the G-buffer's own (FXAA, a CPU post-process, is the caller's).
        """
        ctx = self.ctx
        W, H = camera.width, camera.height
        z = self.bbox_corners @ camera.world_to_camera[2, :3] + camera.world_to_camera[2, 3]
        if z.max() <= 0:  # the whole shape is behind the camera
            return Frame(np.zeros((H, W), np.int32), None, None, None)
        far = z.max() * 1.01
        near = max(z.min() * 0.99, far * 1e-4)
        view = camera.world_to_camera.T.astype("f4").tobytes()
        projection = _projection(camera.K, W, H, near, far).T.astype("f4").tobytes()
        ctx.enable(ctx.DEPTH_TEST)
        ctx.disable(ctx.BLEND)
        # Faces are counter-clockwise seen from outside (the CompiledShape contract), so back
        # faces are never the visible surface of a solid; culling them halves a CPU's work.
        (ctx.disable if double_sided else ctx.enable)(ctx.CULL_FACE)
        ctx.front_face = "cw"  # the projection flips y so that row 0 of a readback is the image's top row
        ctx.provoking_vertex = ctx.LAST_VERTEX_CONVENTION

        def draw_with(program):
            program["world_to_camera"].write(view)
            program["projection"].write(projection)
            self.vaos[program].render()

        gbuffer = self._target(W, H, 1)
        gbuffer.use()
        gbuffer.clear(
            depth=1.0
        )  # zeros: a float clear colour would land as its bit pattern in the integer target
        gbuffer.color_mask = [(False,) * 4, (False,) * 4, (True,) * 4]
        gbuffer.clear(*background, depth=1.0)
        gbuffer.color_mask = [(True,) * 4] * 3
        draw_with(self.gpu.programs["gbuffer", double_sided])
        final = gbuffer
        if (
            rgb and antialias == "msaa"
        ):  # issued before any readback, so the CPU sets it up while the G-buffer rasterises
            target, final = self._target(W, H, samples), self._target(W, H, 0)
            target.use()
            target.clear(*((0.0,) * 4 if background[3] < 1 else background), depth=1.0)
            draw_with(self.gpu.programs["color", double_sided])
            ctx.copy_framebuffer(final, target)
        face = np.empty((H, W), np.uint32)  # readbacks go straight into arrays the View keeps
        gbuffer.read_into(face, components=1, attachment=0, dtype="u4")
        depth = normal = rgba = None
        if geometry:
            g = np.empty((H, W, 4), np.float32)
            gbuffer.read_into(g, components=4, attachment=1, dtype="f4")
            depth, normal = g[..., 0], g[..., 1:]
        if rgb:
            rgba = np.empty((H, W, 4), np.uint8)
            final.read_into(rgba, components=4, attachment=2 if final is gbuffer else 0)
            if antialias == "msaa" and background[3] < 1:
                rgba = _unpremultiply(rgba, background)
        return Frame(face.view(np.int32), depth, normal, rgba)

    def _target(self, W: int, H: int, samples: int):
        """samples 1: the G-buffer; 0: a colour buffer to resolve into; more: multisampled colour."""
        key = (W, H, samples)
        if any(k[:2] != (W, H) for k in self.targets):  # keep one image size's buffers at a time
            self.release_targets()
        if key not in self.targets:
            ctx = self.ctx
            if samples == 1:
                colors = [
                    ctx.renderbuffer((W, H), 1, dtype="u4"),
                    ctx.renderbuffer((W, H), 4, dtype="f4"),
                    ctx.renderbuffer((W, H), 4),
                ]
                self.targets[key] = ctx.framebuffer(colors, ctx.depth_renderbuffer((W, H)))
            elif samples == 0:
                self.targets[key] = ctx.framebuffer([ctx.renderbuffer((W, H), 4)])
            else:
                self.targets[key] = ctx.framebuffer(
                    [ctx.renderbuffer((W, H), 4, samples=samples)],
                    ctx.depth_renderbuffer((W, H), samples=samples),
                )
        return self.targets[key]

    def release_targets(self) -> None:
        for fbo in self.targets.values():
            for attachment in (*fbo.color_attachments, fbo.depth_attachment):
                if attachment is not None:
                    attachment.release()
            fbo.release()
        self.targets.clear()

    def release(self) -> None:
        self.release_targets()
        for obj in (*self.vaos.values(), self.ibo, self.vbo):
            obj.release()


@njit(cache=True, nogil=True)
def _vertex_data(vertices, normals, faces, colors):
    """Faces rotated (winding kept) so that each triangle's last vertex is its own: the vertex
    that carries the triangle's flat id and colour; a vertex already taken is copied. Returns
    the new faces and the vertex buffer: per vertex position and normal (float32), face
    index + 1 of the triangle it provokes (0: none) and that face's packed RGBA colour."""
    n = len(vertices)
    taken = np.zeros(n, np.bool_)
    out = np.empty_like(faces)
    source = np.empty(n + len(faces), np.int64)  # vertex each new vertex copies
    owner = np.zeros(n + len(faces), np.int64)  # face index + 1 it provokes
    for v in range(n):
        source[v] = v
    m = n
    for f in range(len(faces)):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        if taken[c]:
            if not taken[a]:
                a, b, c = b, c, a
            elif not taken[b]:
                a, b, c = c, a, b
            else:
                source[m] = c
                c = m
                m += 1
        if c < n:
            taken[c] = True
        owner[c] = f + 1
        out[f, 0], out[f, 1], out[f, 2] = a, b, c
    geometry = np.empty((m, 6), np.float32)
    tags = np.zeros((m, 2), np.uint32)
    for v in range(m):
        for k in range(3):
            geometry[v, k] = vertices[source[v], k]
            geometry[v, 3 + k] = normals[source[v], k]
        if owner[v]:
            tags[v, 0] = owner[v]
            tags[v, 1] = colors[owner[v] - 1]
    return out, np.concatenate((geometry.view(np.uint32), tags), axis=1)


def _projection(K: np.ndarray, W: int, H: int, near: float, far: float) -> np.ndarray:
    """OpenCV intrinsics -> GL clip matrix; image row v maps to window row v (y flipped)."""
    fx, s, cx, fy, cy = K[0, 0], K[0, 1], K[0, 2], K[1, 1], K[1, 2]
    return np.array(
        [
            [2 * fx / W, 2 * s / W, (2 * cx + 1) / W - 1, 0],
            [0, 2 * fy / H, (2 * cy + 1) / H - 1, 0],
            [0, 0, (far + near) / (far - near), -2 * far * near / (far - near)],
            [0, 0, 1, 0],
        ]
    )


def _unpremultiply(rgba: np.ndarray, background) -> np.ndarray:
    """Composite the resolved image (cleared to transparent black, so premultiplied) over the background."""
    coverage = rgba[..., 3:].astype(np.float32) / 255
    bg_alpha = float(background[3])
    alpha = coverage + (1 - coverage) * bg_alpha
    rgb = (
        rgba[..., :3] / 255 + (1 - coverage) * bg_alpha * np.asarray(background[:3], np.float32)
    ) / np.maximum(alpha, 1e-6)
    return np.round(np.clip(np.dstack([rgb, alpha]), 0, 1) * 255).astype(np.uint8)
