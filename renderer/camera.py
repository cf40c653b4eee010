"""Pinhole cameras in the OpenCV convention, named views, orbits and automatic framing.

Camera frame: x right, y down, z forward (into the scene). Pixel (u, v) = (column, row);
integer coordinates are pixel centres, so the image spans u in [-0.5, width - 0.5].
World frame: the shape language's, metres, Z up, the object's front facing -Y.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from proto3d.renderer.errors import BAD_CAMERA, BAD_ORBIT, BAD_SIZE, UNKNOWN_VIEW, render_error

MIN_SIZE = 16
MAX_SIZE = 2048  # a 2048x2048 view with every pass holds 144 MB (render.PIXEL_BYTES)
FIELD_OF_VIEW = 35.0  # degrees, vertical and horizontal (square pixels, principal point at the centre)
MARGIN = 0.06  # fraction of the half-image left free around the framed bounding box
MAX_ORBIT = 360

# azimuth (degrees, 0 = in front of the object, 90 = on its right, +X) and elevation
VIEWS: dict[str, tuple[float, float]] = {
    "front": (0.0, 0.0),
    "right": (90.0, 0.0),
    "back": (180.0, 0.0),
    "left": (270.0, 0.0),
    "top": (0.0, 90.0),
    "bottom": (0.0, -90.0),
    "iso": (45.0, 30.0),
}

CONVENTION = (
    "OpenCV: camera x right, y down, z forward; pixel (u, v) = (column, row), integer = pixel centre; "
    "x_cam = R @ x_world + t with [R | t] the top rows of world_to_camera; u, v = K @ x_cam / z"
)


@dataclass(frozen=True, eq=False)
class Camera:
    name: str
    K: np.ndarray  # (3, 3) intrinsics
    world_to_camera: np.ndarray  # (4, 4) rigid transform
    width: int
    height: int

    def __post_init__(self):
        name = self.name
        if (
            not isinstance(name, str)
            or not 0 < len(name) <= 64
            or not name.replace("_", "").replace("-", "").isalnum()
        ):
            # names become file names: nothing that could leave the output folder
            raise render_error(
                BAD_CAMERA,
                f"camera name {name!r} is not a plain name",
                expected="1 to 64 letters, digits, `_` and `-`",
            )
        _check_dims(self.width, self.height)
        K = _matrix(self.K, (3, 3), "K")
        M = _matrix(self.world_to_camera, (4, 4), "world_to_camera")
        if K[0, 0] <= 0 or K[1, 1] <= 0 or np.any(K[1:, 0] != 0) or K[2, 1] != 0 or K[2, 2] != 1:
            raise render_error(
                BAD_CAMERA,
                f"camera `{self.name}`: K is not a pinhole intrinsic matrix",
                expected="[[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0",
            )
        R = M[:3, :3]
        if (
            not np.allclose(M[3], [0, 0, 0, 1])
            or not np.allclose(R @ R.T, np.eye(3), atol=1e-4)
            or np.linalg.det(R) < 0
        ):
            raise render_error(
                BAD_CAMERA,
                f"camera `{self.name}`: world_to_camera is not a rigid transform",
                expected="[[R, t], [0, 0, 0, 1]] with R a rotation (orthonormal, det +1)",
            )
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "world_to_camera", M)

    @property
    def position(self) -> np.ndarray:
        R, t = self.world_to_camera[:3, :3], self.world_to_camera[:3, 3]
        return -R.T @ t

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 3) rows of (u, v, z_camera)."""
        cam = points @ self.world_to_camera[:3, :3].T + self.world_to_camera[:3, 3]
        uv = cam @ self.K.T
        return np.column_stack([uv[:, :2] / uv[:, 2:], cam[:, 2]])

    def unproject(self, u: np.ndarray, v: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Pixels and their depth along camera z -> (N, 3) world points."""
        pix = np.stack([u, v, np.ones_like(u)], axis=-1).reshape(-1, 3).astype(np.float64)
        cam = (pix @ np.linalg.inv(self.K).T) * np.reshape(depth, (-1, 1))
        R, t = self.world_to_camera[:3, :3], self.world_to_camera[:3, 3]
        return (cam - t) @ R

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "K": self.K.tolist(),
            "world_to_camera": self.world_to_camera.tolist(),
            "convention": CONVENTION,
        }

    @classmethod
    def from_json(cls, data) -> Camera:
        """The inverse of `to_json`; anything malformed is an R004 error naming the field."""
        if not isinstance(data, dict):
            raise render_error(
                BAD_CAMERA,
                "a camera must be a JSON object",
                expected="{name, width, height, K, world_to_camera}",
            )
        missing = [k for k in ("width", "height", "K", "world_to_camera") if k not in data]
        if missing:
            raise render_error(
                BAD_CAMERA,
                f"camera is missing {', '.join(missing)}",
                expected="{name, width, height, K, world_to_camera}",
            )
        return cls(
            data.get("name", "camera"), data["K"], data["world_to_camera"], data["width"], data["height"]
        )


def look_at(name: str, eye: ArrayLike, target: ArrayLike, K: np.ndarray, size: int) -> Camera:
    """A camera at `eye` looking at `target`, image up = world +Z (or +Y when looking straight down/up)."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    forward = target - eye
    if not np.all(np.isfinite(forward)) or np.linalg.norm(forward) < 1e-12:
        raise render_error(BAD_CAMERA, f"camera `{name}`: eye and target must be distinct finite points")
    forward /= np.linalg.norm(forward)
    up = np.array([0.0, 0.0, 1.0]) if abs(forward[2]) < 0.999 else np.array([0.0, 1.0, 0.0])
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    M = np.eye(4)
    M[:3, :3] = np.stack([right, down, forward])
    M[:3, 3] = -M[:3, :3] @ eye
    return Camera(name, K, M, size, size)


def intrinsics(size: int, fov: float = FIELD_OF_VIEW) -> np.ndarray:
    f = (size / 2) / math.tan(math.radians(fov) / 2)
    c = (size - 1) / 2
    return np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])


def box_corners(lo, hi) -> np.ndarray:
    """The eight corners of the box from `lo` to `hi`, as an (8, 3) float64 array."""
    return np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])], np.float64
    )


def framed_view(name: str, azimuth: float, elevation: float, bbox, size: int) -> Camera:
    """A camera on the direction (azimuth, elevation) from the bbox centre, as close as the bbox allows."""
    _check_dims(size, size)
    lo, hi = (np.asarray(b, float) for b in bbox)
    center = (lo + hi) / 2
    az, el = math.radians(azimuth), math.radians(elevation)
    direction = np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
    K = intrinsics(size)
    probe = look_at(name, center + direction, center, K, size)  # orientation only
    R = probe.world_to_camera[:3, :3]
    cam = (
        box_corners(lo, hi) - center
    ) @ R.T  # corner offsets in camera axes; the camera sits at z = -distance
    half = (size / 2) * (1 - MARGIN) / K[0, 0]  # tan of the usable half-angle
    extent = np.abs(cam[:, :2]).max(axis=1)
    radius = max(np.linalg.norm(hi - lo) / 2, 1e-3)
    distance = max(np.max(extent / half - cam[:, 2]), np.max(cam[:, 2]) + 0.05 * radius, radius * 0.5)
    return look_at(name, center + direction * distance, center, K, size)


def named_view(name: str, shape_bbox: tuple[np.ndarray, np.ndarray], size: int) -> Camera:
    """`front`, `back`, `left`, `right`, `top`, `bottom` or `iso`, framed on the bbox."""
    if name not in VIEWS:
        text = str(name).lower()
        close = [v for v in VIEWS if text.startswith(v) or v.startswith(text)] or difflib.get_close_matches(
            text, VIEWS, n=1
        )
        raise render_error(
            UNKNOWN_VIEW,
            f"unknown view `{name}`",
            expected=", ".join(VIEWS),
            hint=f"did you mean `{close[0]}`?" if close else "use --orbit N for views all around the object",
        )
    azimuth, elevation = VIEWS[name]
    return framed_view(name, azimuth, elevation, shape_bbox, size)


def orbit(
    n: int, elevation: float, bbox: tuple[np.ndarray, np.ndarray], size: int, start: float = 0.0
) -> list[Camera]:
    """`n` views evenly spaced in azimuth (from the front, turning towards the right side)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 1 <= n <= MAX_ORBIT:
        raise render_error(BAD_ORBIT, f"orbit needs a whole number of views from 1 to {MAX_ORBIT}, got {n!r}")
    if not _finite_number(elevation) or not -90 <= elevation <= 90:
        raise render_error(
            BAD_ORBIT, f"orbit elevation must be a number of degrees in [-90, 90], got {elevation!r}"
        )
    if not _finite_number(start):
        raise render_error(BAD_ORBIT, f"orbit start must be a finite number of degrees, got {start!r}")
    return [framed_view(f"orbit_{k:03d}", start + k * 360.0 / n, elevation, bbox, size) for k in range(n)]


def _finite_number(x) -> bool:
    return isinstance(x, (int, float, np.number)) and not isinstance(x, bool) and math.isfinite(x)


def _check_dims(width, height) -> None:
    for what, value in (("width", width), ("height", height)):
        if (
            not isinstance(value, (int, np.integer))
            or isinstance(value, bool)
            or not MIN_SIZE <= value <= MAX_SIZE
        ):
            raise render_error(
                BAD_SIZE,
                f"image {what} must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}, got {value!r}",
                hint="512 is a good size for an inspector; 224 or 256 for datasets",
            )


def _matrix(value, shape: tuple[int, int], what: str) -> np.ndarray:
    try:
        m = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        m = None
    if m is None or m.shape != shape or not np.all(np.isfinite(m)):
        raise render_error(
            BAD_CAMERA, f"camera {what} must be a {shape[0]}x{shape[1]} matrix of finite numbers"
        )
    return m
