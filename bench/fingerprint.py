"""Fingerprints of what the compiler produces, to show that a change to the kernels changes nothing.

    python bench/fingerprint.py > before.txt   # on the old code
    python bench/fingerprint.py > after.txt    # on the new code
    diff before.txt after.txt                  # must be empty

One line per program (every example, `compile.py`'s worst cases, programs that use every
primitive kind with ordinary and degenerate parameters, lofts and profile sweeps): a hash of
every array of the `CompiledShape` (vertices, normals, faces, per-face ids and colours,
instance boxes) and of its diagnostics, or of the errors when it does not compile.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compile import WORST  # noqa: E402

from proto3d.compiler import check, compile_text  # noqa: E402
from proto3d.errors import Proto3dError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

EVERY_KIND = """shape "kinds"
part a { box(size=[0.2, 0.2, 0.2], at=[0, 0, 0.1]) }
part b { box(size=[0.2, 0.2, 0.2], bevel=0.03, at=[0.3, 0, 0.1], segments=12) }
part c { sphere(r=0.1, at=[0.6, 0, 0.1], segments=10) }
part d { ellipsoid(size=[0.2, 0.1, 0.3], at=[0.9, 0, 0.15]) }
part e { cylinder(r=0.1, h=0.2, at=[1.2, 0, 0.1]) }
part f { frustum(r1=0.1, r2=0.05, h=0.2, at=[1.5, 0, 0.1]) }
part g { cone(r=0.1, h=0.2, at=[1.8, 0, 0.1]) }
part h { capsule(r=0.05, h=0.3, at=[2.1, 0, 0.15]) }
part i { torus(R=0.1, r=0.03, at=[2.4, 0, 0.03]) }
part j { torus(R=0.1, r=0.03, angle=200, start=30, at=[2.7, 0, 0.03]) }
part k { tube(r=0.1, thickness=0.02, h=0.2, at=[3.0, 0, 0.1]) }
part l { wedge(size=[0.2, 0.2, 0.2], at=[3.3, 0, 0.1]) }
part m { lathe(profile=[[0, 0], [0.1, 0], [0.12, 0.1], [0.05, 0.2], [0, 0.25]], at=[3.6, 0, 0]) }
part n { lathe(profile=[[0.05, 0], [0.1, 0], [0.1, 0.1], [0.05, 0.1], [0.05, 0]], angle=270, at=[3.9, 0, 0]) }
part o { extrude(polygon=[[0, 0], [0.2, 0], [0.2, 0.1], [0.1, 0.05], [0, 0.1]], h=0.1, at=[4.2, 0, 0]) }
part p { sweep(path=[[0, 0, 0], [0.1, 0, 0.1], [0.2, 0.1, 0.1], [0.2, 0.2, 0]], r=0.02, smooth=true, at=[4.5, 0, 0.02]) }
part q { sweep(path=[[0, 0, 0], [0, 0, 0.1], [0.1, 0, 0.1]], r=[0.02, 0.01, 0], at=[4.8, 0, 0.02]) }
part r { rod(from=[5.1, 0, 0], to=[5.1, 0.1, 0.3], r=0.01) }
"""

DEGENERATE = """shape "degenerate"
part a { box(size=[0, 0.2, 0.2]) }
part b { sphere(r=0) }
part c { cylinder(r=0.1, h=0) }
part d { frustum(r1=0, r2=0, h=0.1) }
part e { tube(r=0.1, thickness=0.1, h=0.1) }
part f { torus(R=0.1, r=0.03, angle=0.5) }
part g { lathe(profile=[[0.1, 0], [0.1, 0]]) }
part h { extrude(polygon=[[0, 0], [0.1, 0], [0.1, 0]], h=0.1) }
part i { sweep(path=[[0, 0, 0], [0, 0, 0]], r=0.1) }
scale([1, -1, 0.5]) { part j { box(size=[0.1, 0.1, 0.1]) } }
"""

SKINS = """shape "skins"
part a { loft(sections=[[[-0.1, -0.1], [0.1, -0.1], [0.1, 0.1], [-0.1, 0.1]], [[0, 0], [0.05, 0], [0, 0.05]], [[0, 0]]], z=[0, 0.1, 0.2], smooth=true) }
part b { loft(sections=[[[0, 0.02]], [[-0.05, 0], [0.05, 0], [0, 0.05]], [[0, 0.02]]], path=[[0.3, 0, 0.05], [0.3, 0.2, 0.02], [0.3, 0.4, 0.05]]) }
part c { sweep(path=[[0.6, 0, 0], [0.8, 0, 0], [0.8, 0, 0.2], [0.6, 0, 0.2]], profile=[[0, 0], [0.02, 0], [0.02, 0.01], [0.01, 0.005], [0, 0.01]], closed=true) }
part d { sweep(path=[[1.0, 0, 0.02], [1.1, 0, 0.05], [1.2, 0.1, 0.1]], profile=[[-0.01, -0.005], [0.01, -0.005], [0, 0.01]], smooth=true) }
part e { sweep(path=[[1.4, 0, 0.02], [1.6, 0, 0.02], [1.5, 0.2, 0.1]], r=[0.02, 0.01, 0.015], smooth=true, closed=true) }
part f { torus(R=[0.1, 0.05], r=0.01, at=[1.9, 0, 0.01]) }
part g { torus(R=[0.1, 0.05], r=0.01, angle=120, start=-60, at=[2.2, 0, 0.01]) }
"""

SMOOTH_LATHES = """shape "smooth lathes"
part a { lathe(profile=[[0, 0], [0.05, 0.01], [0.03, 0.08], [0.045, 0.16], [0, 0.2]], smooth=true) }
part b { lathe(profile=[[0.3, 0], [0.4, 0.1], [0.3, 0.2], [0.2, 0.1], [0.3, 0]], smooth=true, at=[1, 0, 0]) }
part c { lathe(profile=[[0.06, 0], [0.09, 0.05], [0.05, 0.12], [0.07, 0.2]], angle=120, start=30, smooth=true, segments=64, at=[2, 0, 0]) }
"""

# Its spline would cross the line closing the profile to the axis (drawn flatter there since).
LOOPING_LATHE = """shape "a smooth lathe that would loop"
part a { lathe(profile=[[1, 0.5], [0.5, 1], [0.5, 1.5], [1, 1.5546875]], angle=20, smooth=true) }
"""

TOO_MANY = """shape "too many"
for i in range(400) { part p { sphere(r=0.01, segments=256, at=[i * 0.03, 0, 0.01]) } }
"""


def programs():
    for path in sorted((ROOT / "examples").glob("*.pdsl")):
        yield path.name, path.read_text()
    yield from WORST
    yield "every kind", EVERY_KIND
    yield "degenerate", DEGENERATE
    yield "lofts and profile sweeps", SKINS
    yield "smooth lathes", SMOOTH_LATHES
    yield "a smooth lathe that would loop", LOOPING_LATHE
    yield "too many triangles", TOO_MANY


def digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(
            np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else repr(part).encode()
        )
    return h.hexdigest()[:16]


def fingerprint(text: str) -> str:
    try:
        shape = compile_text(text)
    except Proto3dError as error:
        return "errors " + digest([d.format() for d in error.diagnostics])
    boxes = [(i.bbox_min.tolist(), i.bbox_max.tolist()) for i in shape.instances]
    arrays = (
        shape.vertices,
        shape.normals,
        shape.faces,
        shape.part_id,
        shape.instance_id,
        shape.primitive_id,
        shape.face_colors,
    )
    return (
        f"{len(shape.faces)} triangles, mesh {digest(*arrays)}, boxes {digest(boxes)}, "
        f"diagnostics {digest([d.format() for d in shape.diagnostics])} {sorted({d.code for d in shape.diagnostics})}"
    )


def main() -> None:
    for name, text in programs():
        print(f"{name}: {fingerprint(text)}; check {digest([d.format() for d in check(text)])}", flush=True)


if __name__ == "__main__":
    main()
