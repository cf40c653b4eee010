"""Compile speed: pdsl programs of 1 to 1000 chairs against the equivalent trimesh script.

    python bench/compile.py [--repeat 7] [--cold 5] [--sizes 1,10,100,1000] [--worst 3] [--first 1] [--examples 7] [--booleans 7]
    python bench/compile.py --cold-only --cold 15 [--cold-against OTHER_CHECKOUT]

Every chair has six primitives (a seat box, four 32-segment leg cylinders, a tilted
backrest box) and the chairs stand on a grid. The pdsl side is one program per size (a `for`
loop over the grid, `translate` and `part` blocks) timed from text to `CompiledShape`:
parse, checks, evaluation, Numba tessellation, labels and lints. The trimesh side builds the
same 6·N meshes with `trimesh.creation.box/cylinder`, `apply_transform` and one
`trimesh.util.concatenate`, without labels or lints. Both are warm (imports done, kernels
compiled) and each figure is the median of `--repeat` runs, as wall time and as CPU time of
this process (on a shared, busy machine the CPU time is what an idle machine's wall time
would be; the ratio uses CPU time).

Then the stages of the 100-chair compile, and the time of a cold
`proto3d compile examples/chair.pdsl` subprocess with a populated Numba cache (one warm-up
run fills the Numba, Lark and bytecode caches first; the median of `--cold` runs is shown,
wall and CPU, with the load average). `--cold-against` alternates those runs with another
checkout's (its own .venv), for a before/after under the same load; `--cold-only` skips the rest.

Then the first run on a fresh install: a new process with an empty Numba cache folder
(`NUMBA_CACHE_DIR`), which compiles the kernels the chair needs, and the next process, which
loads them (wall and CPU time of each child, with the load average: on a shared machine the
wall time depends on the other jobs).

Then the worst cases: programs within the limits built to make the lints work hardest
(many floating, finely tessellated parts close together; a fine part touching its host from
inside) or the per-instance work (10,000 part instances, the primitive limit), with the CPU
time of the whole compile, of its lints and of the four exports `proto3d compile` writes (GLB,
OBJ + MTL, PLY, parts JSON), each the median of `--worst` runs.

Last, booleans (issue 14): a plate with 200 holes and a two-storey house shell with 40 window and
door openings, each a `difference` block, against the same solids cut by manifold3d called
directly (its own cube and cylinder, one `batch_boolean`, `to_mesh`), by trimesh's manifold
engine (`trimesh.creation` meshes, `trimesh.boolean.difference`) and by OpenSCAD (the `openscad`
command on the same solids, one run, skipped when it is not installed). proto3d's boolean time is
what the block adds to evaluation: the program evaluated as written less the same program with
the `difference` keyword removed (the same primitives, uncut), so it holds the tessellation of
the operands, their conversion to manifold3d meshes and back, and the boolean itself.

Then every example in examples/, warm (median CPU ms of `--repeat` runs), with the language v2
constructs it uses (issue 14: a typical new example compiles in <= 20 ms warm).

Targets (issue 2): 100 chairs parse + compile <= 20 ms warm and >= 20x faster than
trimesh; a cold CLI compile <= 1.5 s; any program within the limits about a second.
Issue 9: the first run on a fresh install <= 15 s on 2 cores, later cold runs <= 0.7 s.
Issue 14: booleans no slower than calling manifold3d directly plus 20 %.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import manifold3d
import numpy as np
import trimesh

from proto3d.compiler import compile_text, export
from proto3d.compiler.build import DEFAULT_LIMITS, assemble
from proto3d.compiler.check import check_program
from proto3d.compiler.evaluate import evaluate, rotation
from proto3d.compiler.language import POINT_FUNCTIONS
from proto3d.compiler.lints import lint
from proto3d.compiler.tessellate import tessellate
from proto3d.grammar import ast, parse
from proto3d.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
SEGMENTS = 32
SPACING = 1.0  # metres between chairs: they never touch each other

# One chair: the seat's top at 0.45, legs 0.405 high reaching 5 mm into the seat, the backrest
# standing on the seat's back edge, tilted 8 degrees about its bottom edge.
SEAT = (0.46, 0.44, 0.05), (0.0, 0.0, 0.45)  # size, top centre
LEG_R, LEG_H = 0.02, 0.405
LEGS = [(x, y) for x in (-0.2, 0.2) for y in (-0.18, 0.18)]
BACK = (0.46, 0.04, 0.42), (0.0, 0.2, 0.445), -8.0  # size, bottom centre, tilt about X

PROGRAM = """shape "chairs"

for i in range({cols}), j in range({rows}) {{
    translate([i * {spacing}, j * {spacing}, 0]) {{
        part seat {{
            box(size=[0.46, 0.44, 0.05], at=[0, 0, 0.45], align="top")
        }}
        for x in [-0.2, 0.2], y in [-0.18, 0.18] {{
            part leg {{
                cylinder(r={leg_r}, h={leg_h}, at=[x, y, 0], align="bottom", segments={segments})
            }}
        }}
        part backrest {{
            box(size=[0.46, 0.04, 0.42], at=[0, 0.2, 0.445], align="bottom", rot=[-8, 0, 0])
        }}
    }}
}}
"""


def grid(n: int) -> tuple[int, int]:
    cols = min(n, 10)
    assert n % cols == 0
    return cols, n // cols


def chairs_program(n: int) -> str:
    cols, rows = grid(n)
    return PROGRAM.format(cols=cols, rows=rows, spacing=SPACING, leg_r=LEG_R, leg_h=LEG_H, segments=SEGMENTS)


def _move(offset, linear=None) -> np.ndarray:
    m = np.eye(4)
    if linear is not None:
        m[:3, :3] = linear
    m[:3, 3] = offset
    return m


def chairs_trimesh(n: int) -> trimesh.Trimesh:
    """What a user would write with trimesh for the same scene."""
    cols, rows = grid(n)
    tilt = _move((0.0, 0.0, 0.0), rotation([BACK[2], 0.0, 0.0]))
    meshes = []
    for i in range(cols):
        for j in range(rows):
            origin = np.array([i * SPACING, j * SPACING, 0.0])
            (size, top) = SEAT
            seat = trimesh.creation.box(extents=size)
            seat.apply_transform(_move(origin + top - (0, 0, size[2] / 2)))
            meshes.append(seat)
            for x, y in LEGS:
                leg = trimesh.creation.cylinder(radius=LEG_R, height=LEG_H, sections=SEGMENTS)
                leg.apply_transform(_move(origin + (x, y, LEG_H / 2)))
                meshes.append(leg)
            size, bottom, _ = BACK
            back = trimesh.creation.box(extents=size)
            back.apply_transform(_move(origin + bottom) @ tilt @ _move((0.0, 0.0, size[2] / 2)))
            meshes.append(back)
    return trimesh.util.concatenate(meshes)


def median_time(fn, repeat: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of `repeat` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


SIZES_LIMITS = Limits(max_triangles=1_000_000)  # 1000 chairs are 536,000 triangles, over the default 500,000


def check_equivalent(n: int) -> None:
    """Same triangle count and bounding box: the two sides really build the same scene."""
    shape, mesh = compile_text(chairs_program(n), limits=SIZES_LIMITS), chairs_trimesh(n)
    assert len(shape.primitives) == 6 * n, len(shape.primitives)
    assert len(shape.faces) == len(mesh.faces), (len(shape.faces), len(mesh.faces))
    assert not [d for d in shape.diagnostics if d.code in ("W101", "W102")], shape.diagnostics[:3]
    lo, hi = shape.vertices.min(0), shape.vertices.max(0)
    assert np.allclose(lo, mesh.bounds[0], atol=1e-5) and np.allclose(hi, mesh.bounds[1], atol=1e-5), (
        lo,
        hi,
        mesh.bounds,
    )


def compare(sizes, repeat: int) -> None:
    print(
        f"{'chairs':>6} {'prims':>6} {'tris':>7} | {'pdsl wall':>9} {'cpu ms':>8} | "
        f"{'trimesh wall':>12} {'cpu ms':>8} | {'ratio':>6}"
    )
    for n in sizes:
        text = chairs_program(n)
        shape = compile_text(text, limits=SIZES_LIMITS)  # warm-up: kernels compiled, caches filled
        chairs_trimesh(n)
        ours = median_time(lambda text=text: compile_text(text, limits=SIZES_LIMITS), repeat)
        theirs = median_time(lambda n=n: chairs_trimesh(n), repeat)
        print(
            f"{n:>6} {6 * n:>6} {len(shape.faces):>7} | {ours[0] * 1e3:>9.2f} {ours[1] * 1e3:>8.2f} | "
            f"{theirs[0] * 1e3:>12.2f} {theirs[1] * 1e3:>8.2f} | {theirs[1] / ours[1]:>5.1f}x"
        )


def stages(n: int, repeat: int) -> None:
    """Where the time of one compile goes (the same calls `compile_text` makes)."""
    text = chairs_program(n)
    program = parse(text)
    evaluation = evaluate(program, DEFAULT_LIMITS)
    shape = assemble(evaluation)
    rows = [
        ("parse (Lark + AST)", lambda: parse(text)),
        ("static checks", lambda: check_program(program)),
        ("evaluate", lambda: evaluate(program, DEFAULT_LIMITS)),
        ("tessellate (Numba)", lambda: tessellate(evaluation.primitives)),
        ("assemble (labels, boxes)", lambda: assemble(evaluation)),
        ("lints", lambda: lint(shape)),
        ("total: compile_text", lambda: compile_text(text)),
    ]
    print(f"\nstages of the {n}-chair compile (median of {repeat}; assemble includes tessellate)")
    print(f"  {'':<26} {'wall ms':>8} {'cpu ms':>8}")
    for name, fn in rows:
        fn()
        wall, cpu = median_time(fn, repeat)
        print(f"  {name:<26} {wall * 1e3:>8.2f} {cpu * 1e3:>8.2f}")


def _cli_command(root: Path = ROOT) -> list[str]:
    """`proto3d compile` of the chair, by this checkout's interpreter, or by another checkout's
    own .venv (with `--cold-against`)."""
    if root == ROOT:
        exe = shutil.which("proto3d", path=os.path.dirname(sys.executable)) or shutil.which("proto3d")
        program = [exe] if exe else [sys.executable, "-m", "proto3d"]
    else:
        program = [str(root / ".venv" / "bin" / "proto3d")]
    return program + ["compile", str(root / "examples" / "chair.pdsl")]


def _timed_run(command: list[str], env: dict, timeout: float | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of a child process; CPU is the child's user + system time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _cli_env(**more) -> dict:
    env = dict(os.environ, **more)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode compiled
    return env


def cold_cli(runs: int, against: Path | None = None) -> None:
    """`runs` new `proto3d compile examples/chair.pdsl` processes after one that fills the caches;
    with `against` (another checkout with its own .venv), its runs alternate with ours, so that
    both see the same load."""
    roots = [ROOT] + ([against.resolve()] if against else [])
    times: dict[Path, list[tuple[float, float]]] = {root: [] for root in roots}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        commands = {root: _cli_command(root) + ["-o", os.path.join(tmp, "chair.glb")] for root in roots}
        env = _cli_env()
        for command in commands.values():
            _timed_run(command, env)  # populates the Numba, Lark and bytecode caches
        for _ in range(runs):
            for root, command in commands.items():
                times[root].append(_timed_run(command, env))
            loads.append(os.getloadavg()[0])
    print(
        f"\ncold `proto3d compile examples/chair.pdsl -o chair.glb` (new process, caches populated), "
        f"median of {runs}; load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores"
    )
    for root, measured in times.items():
        wall, cpu = [w for w, _ in measured], [c for _, c in measured]
        print(
            f"  {root}: wall {statistics.median(wall):.3f} s (min {min(wall):.3f}), "
            f"CPU {statistics.median(cpu):.3f} s (min {min(cpu):.3f})"
        )


def first_run(runs: int) -> None:
    """A fresh install's first `proto3d compile examples/chair.pdsl`: a new process with an empty
    Numba cache folder (NUMBA_CACHE_DIR), so that it compiles the kernels the chair needs, then a
    second process that loads them from that folder."""
    print(
        f"\nfirst run on a fresh install (empty Numba cache folder), then the next run; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as tmp:
            command = _cli_command() + ["-o", os.path.join(tmp, "chair.glb")]
            env = _cli_env(NUMBA_CACHE_DIR=cache)
            first, then = _timed_run(command, env), _timed_run(command, env)
        print(
            f"  first run: wall {first[0]:.1f} s, CPU {first[1]:.1f} s; "
            f"next run: wall {then[0]:.2f} s, CPU {then[1]:.2f} s"
        )


def _rows_of_rings(n: int, segments: int, gap: float) -> str:
    """Two rows of n tori, the upper row floating `gap` above the lower one."""
    lines = ['shape "rings"']
    for k in range(n):
        for z in (0.07, 0.21 + gap):
            lines.append(
                f"part ring {{ torus(R=0.22, r=0.07, at=[{k * 0.6}, 0, {z}], segments={segments}) }}"
            )
    return "\n".join(lines) + "\n"


def _chain(n: int, segments: int) -> str:
    """n fine links, each threaded through the next without touching it (1 cm apart), on a plank."""
    lines = [
        'shape "chain"',
        f"part plank {{ box(size=[{0.15 * n}, 0.3, 0.08], at=[{0.075 * (n - 1)}, 0, 0.04]) }}",
    ]
    for k in range(n):
        rot = "[90, 0, 0]" if k % 2 else "[0, 0, 0]"
        lines.append(
            f"part link {{ torus(R=0.1, r=0.02, at=[{k * 0.15}, 0, 0.2], rot={rot}, segments={segments}) }}"
        )
    return "\n".join(lines) + "\n"


def _spring_in_tube(turns: int) -> str:
    """A fine helical spring floating 5 mm inside a fine tube (their surfaces run alongside)."""
    path = ",".join(
        f"[{0.075 * np.cos(0.2 * k):.4f},{0.075 * np.sin(0.2 * k):.4f},{0.05 + 0.0006 * k:.4f}]"
        for k in range(int(turns * 2 * np.pi / 0.2))
    )
    return f"""shape "spring"
part tube {{ tube(r=0.1, thickness=0.01, h=0.8, align="bottom", segments=256) }}
part spring {{ sweep(path=[{path}], r=0.01, segments=128) }}
"""


WORST = [
    ("14 fine tori, upper row floating (0.43M triangles)", _rows_of_rings(7, 176, 0.15)),
    ("14 fine chain links threaded 1 cm apart (0.43M)", _chain(14, 176)),
    (
        "1000 spheres floating 1 cm over 1000 others (0.45M)",
        """shape "balls"
for i in range(40), j in range(25) {
    part low { sphere(r=0.05, at=[i * 0.1, j * 0.1, 0.05], segments=16) }
    part high { sphere(r=0.05, at=[i * 0.1, j * 0.1, 0.16], segments=16) }
}
""",
    ),
    (
        "fine spheres tangent inside a fine sphere (0.2M)",
        """shape "nested"
part shell { sphere(r=0.5, at=[0, 0, 0.5], segments=256) }
part core { sphere(r=0.25, at=[0, 0, 0.25], segments=256) }
part top { sphere(r=0.25, at=[0, 0, 0.75], segments=256) }
""",
    ),
    ("a fine spring floating 5 mm inside a fine tube (0.26M)", _spring_in_tube(31)),
    (
        "10,000 part instances, a box each (the primitive limit)",
        """shape "grid"
for i in range(100) { for j in range(100) { part cell { box(size=[0.01, 0.01, 0.01], at=[i * 0.02, j * 0.02, 0.005]) } } }
""",
    ),
]


def worst_cases(repeat: int) -> None:
    """CPU seconds of the compile of programs that make the lints work hardest, and of the four
    exports `proto3d compile` can write (GLB, OBJ + MTL, PLY, parts JSON) of each."""
    print(f"\nworst cases (CPU s, median of {repeat}; lints are part of the compile)")
    print(f"  {'':<54} {'tris':>9} {'compile':>8} {'lints':>7} {'exports':>8}  warnings")
    with tempfile.TemporaryDirectory() as folder:
        targets = [Path(folder) / f"shape{suffix}" for suffix in (".glb", ".obj", ".ply", ".json")]
        for name, text in WORST:
            shape = compile_text(text)
            _, total = median_time(lambda text=text: compile_text(text), repeat)
            _, linting = median_time(lambda shape=shape: lint(shape), repeat)
            _, exporting = median_time(lambda shape=shape: [export(shape, t) for t in targets], repeat)
            codes = sorted({d.code for d in shape.diagnostics})
            print(
                f"  {name:<54} {len(shape.faces):>9} {total:>8.3f} {linting:>7.3f} {exporting:>8.3f}  "
                f"{', '.join(codes)}"
            )


# Boolean-heavy programs: (name, cutters as (kind, size, centre), the pdsl program).
HOLE_R, HOLE_SEGMENTS = 0.03, 32
PLATE = (2.0, 1.0, 0.02)
HOLES = [(-0.95 + 0.1 * i, -0.45 + 0.1 * j) for i in range(20) for j in range(10)]
HOUSE = (12.0, 8.0, 6.0)  # outer walls; the rooms inside leave 0.25 m walls and a 0.25 m floor
STOREYS = (0.9, 3.9)  # window sills
WINDOWS = (
    [(x, y, z, (1.2, 0.8, 1.4)) for x in (-5, -3, -1, 1, 3, 5) for y in (-4, 4) for z in STOREYS[1:]]
    + [(x, y, STOREYS[0], (1.2, 0.8, 1.4)) for x in (-5, -3, 3, 5) for y in (-4, 4)]
    + [(x, 4, STOREYS[0], (1.2, 0.8, 1.4)) for x in (-1, 1)]
    + [(x, y, z, (0.8, 1.2, 1.4)) for x in (-6, 6) for y in (-2.4, -0.8, 0.8, 2.4) for z in STOREYS]
    + [(x, -4, 0.25, (1.0, 0.8, 2.2)) for x in (-1, 1)]  # two doors
)


def plate_program() -> str:
    holes = "\n".join(
        f"        cylinder(r={HOLE_R}, h=0.1, at=[{x:g}, {y:g}, 0], segments={HOLE_SEGMENTS})"
        for x, y in HOLES
    )
    return f"""shape "plate"
part plate {{
    difference {{
        box(size=[{PLATE[0]}, {PLATE[1]}, {PLATE[2]}])
{holes}
    }}
}}
"""


def house_program() -> str:
    openings = "\n".join(
        f'        box(size=[{w:g}, {d:g}, {h:g}], at=[{x:g}, {y:g}, {z:g}], align="bottom")'
        for x, y, z, (w, d, h) in WINDOWS
    )
    w, d, h = HOUSE
    return f"""shape "house"
part walls {{
    difference {{
        box(size=[{w:g}, {d:g}, {h:g}], align="bottom")
        box(size=[{w - 0.5:g}, {d - 0.5:g}, {h:g}], at=[0, 0, 0.25], align="bottom")
{openings}
    }}
}}
"""


def plate_solids() -> list[tuple[str, tuple, tuple]]:
    """The plate's solids as (kind, size, centre): what the other tools are given."""
    return [("box", PLATE, (0, 0, 0))] + [("cylinder", (HOLE_R, 0.1), (x, y, 0)) for x, y in HOLES]


def house_solids() -> list[tuple[str, tuple, tuple]]:
    w, d, h = HOUSE
    solids = [("box", (w, d, h), (0, 0, h / 2)), ("box", (w - 0.5, d - 0.5, h), (0, 0, 0.25 + h / 2))]
    return solids + [("box", size, (x, y, z + size[2] / 2)) for x, y, z, size in WINDOWS]


def _by_manifold3d(solids) -> manifold3d.Mesh:
    made = [
        manifold3d.Manifold.cube(size, True).translate(centre)
        if kind == "box"
        else manifold3d.Manifold.cylinder(size[1], size[0], -1.0, HOLE_SEGMENTS, True).translate(centre)
        for kind, size, centre in solids
    ]
    return manifold3d.Manifold.batch_boolean(made, manifold3d.OpType.Subtract).to_mesh()


def _by_trimesh(solids) -> trimesh.Trimesh:
    made = [
        trimesh.creation.box(extents=size, transform=_move(centre))
        if kind == "box"
        else trimesh.creation.cylinder(
            radius=size[0], height=size[1], sections=HOLE_SEGMENTS, transform=_move(centre)
        )
        for kind, size, centre in solids
    ]
    return trimesh.boolean.difference(made, engine="manifold")


def _scad(solids) -> str:
    def solid(kind, size, centre):
        at = f"translate([{centre[0]:g}, {centre[1]:g}, {centre[2]:g}]) "
        if kind == "box":
            return at + f"cube([{size[0]:g}, {size[1]:g}, {size[2]:g}], center=true);"
        return at + f"cylinder(r={size[0]:g}, h={size[1]:g}, center=true, $fn={HOLE_SEGMENTS});"

    return "difference() {\n" + "\n".join(solid(*s) for s in solids) + "\n}\n"


def _by_openscad(solids, timeout: float, direct: float) -> str:
    """CPU time of `openscad -o out.stl` on the solids (one run) and its ratio to `direct` seconds,
    or why there is none."""
    if shutil.which("openscad") is None:
        return "not installed (skipped)"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "cut.scad")
        source.write_text(_scad(solids))
        try:
            wall, cpu = _timed_run(
                ["openscad", "-o", str(Path(tmp, "cut.stl")), str(source)], dict(os.environ), timeout
            )
        except subprocess.TimeoutExpired:
            return f"over {timeout:g} s (stopped)"
    return f"{cpu * 1e3:.0f} ms CPU ({wall:.1f} s wall), {cpu / direct:.0f}x"


def booleans(repeat: int, openscad_timeout: float) -> None:
    """proto3d's booleans against manifold3d called directly, trimesh's manifold engine and OpenSCAD."""
    print(f"\nbooleans (CPU ms, median of {repeat}; ratios against manifold3d called directly)")
    print(
        f"  {'':<28} {'tris':>6} {'compile':>8} {'boolean':>8} {'manifold3d':>10} {'ratio':>6} "
        f"{'trimesh':>8} {'ratio':>6}  OpenSCAD"
    )
    cases = [
        (f"plate with {len(HOLES)} holes", plate_program(), plate_solids()),
        (f"house with {len(WINDOWS)} openings", house_program(), house_solids()),
    ]
    for name, text, solids in cases:
        program, plain = parse(text), parse(text.replace("difference {", "{"))
        shape = compile_text(text)
        direct = _by_manifold3d(solids)
        volume = closed_volume(shape)
        assert abs(volume - _mesh_volume(direct)) < 1e-6 * volume, (volume, _mesh_volume(direct))
        assert abs(volume - _by_trimesh(solids).volume) < 1e-6 * volume
        _, compile_cpu = median_time(lambda text=text: compile_text(text), repeat)
        _, cut = median_time(lambda program=program: evaluate(program, DEFAULT_LIMITS), repeat)
        _, uncut_cpu = median_time(lambda plain=plain: evaluate(plain, DEFAULT_LIMITS), repeat)
        _, ours_direct = median_time(lambda solids=solids: _by_manifold3d(solids), repeat)
        _, by_trimesh = median_time(lambda solids=solids: _by_trimesh(solids), repeat)
        boolean = cut - uncut_cpu
        print(
            f"  {name:<28} {len(shape.faces):>6} {compile_cpu * 1e3:>8.1f} {boolean * 1e3:>8.1f} "
            f"{ours_direct * 1e3:>10.1f} {boolean / ours_direct:>5.2f}x {by_trimesh * 1e3:>8.1f} "
            f"{by_trimesh / ours_direct:>5.2f}x  {_by_openscad(solids, openscad_timeout, ours_direct)}"
        )


def closed_volume(shape) -> float:
    corners = shape.vertices[shape.faces].astype(np.float64)
    return float(np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6)


def _mesh_volume(mesh: manifold3d.Mesh) -> float:
    points = np.asarray(mesh.vert_properties)[:, :3].astype(np.float64)
    corners = points[np.asarray(mesh.tri_verts)]
    return float(np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6)


# The language v2 constructs (issue 14): arguments v1 did not have, by primitive.
V2_ARGUMENTS = {
    "round": {"box", "extrude"},
    "smooth": {"extrude", "lathe", "loft"},
    "holes": {"extrude"},
    "thickness": {"sphere", "ellipsoid", "lathe"},
    "polar": {"sphere", "ellipsoid"},
    "profile": {"sweep"},
    "closed": {"sweep"},
    "from": {"cylinder", "cone", "frustum", "tube", "capsule"},
}


def v2_constructs(program: ast.Program) -> list[str]:
    """The language v2 constructs a program uses."""
    used = set()
    for node in ast.walk(program):
        if isinstance(node, ast.Comprehension):
            used.add("comprehension")
        elif isinstance(node, ast.Call) and node.func in POINT_FUNCTIONS:
            used.add("point function")
        elif isinstance(node, ast.BooleanStmt):
            used.add("boolean")
        elif isinstance(node, ast.DefStmt):
            used.add("def")
        elif isinstance(node, ast.PrimitiveStmt):
            if node.as_name is not None:
                used.add("named primitive")
            if node.name == "loft":
                used.add("loft")
            used |= {
                f"{node.name}({arg.name}=)"
                for arg in node.args
                if node.name in V2_ARGUMENTS.get(arg.name, ())
            }
    return sorted(used)


def examples(repeat: int) -> None:
    """Every example's warm compile, the language v2 constructs it uses beside it."""
    print(f"\nexamples, warm compile (median CPU ms of {repeat}; target for v2 examples <= 20 ms)")
    slowest = 0.0
    for path in sorted((ROOT / "examples").glob("*.pdsl")):
        text = path.read_text()
        compile_text(text)  # warm: kernels compiled, caches filled
        _, cpu = median_time(lambda text=text: compile_text(text), repeat)
        used = v2_constructs(parse(text))
        if used:
            slowest = max(slowest, cpu)
        print(f"  {path.stem:<16} {cpu * 1000:7.1f}  {', '.join(used)}")
    print(f"  slowest example using v2 constructs: {slowest * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement (median shown)")
    parser.add_argument("--cold", type=int, default=5, help="cold CLI runs (median shown)")
    parser.add_argument(
        "--cold-against",
        type=Path,
        metavar="CHECKOUT",
        help="alternate the cold CLI runs with those of another checkout (its own .venv)",
    )
    parser.add_argument("--cold-only", action="store_true", help="measure only the cold CLI runs")
    parser.add_argument("--sizes", default="1,10,100,1000", help="numbers of chairs")
    parser.add_argument("--worst", type=int, default=3, help="runs of each worst case (0: skip them)")
    parser.add_argument(
        "--first", type=int, default=1, help="first runs with an empty kernel cache (0: skip them)"
    )
    parser.add_argument("--examples", type=int, default=7, help="runs of each example (0: skip them)")
    parser.add_argument(
        "--booleans", type=int, default=7, help="runs of each boolean measurement (0: skip them)"
    )
    parser.add_argument(
        "--openscad-timeout", type=float, default=120.0, help="seconds OpenSCAD may take per program"
    )
    args = parser.parse_args()
    if args.cold_only:
        cold_cli(args.cold, args.cold_against)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    check_equivalent(10)
    compare(sizes, args.repeat)
    stages(100, args.repeat)
    if args.cold:
        cold_cli(args.cold, args.cold_against)
    if args.first:
        first_run(args.first)
    if args.worst:
        worst_cases(args.worst)
    if args.examples:
        examples(args.examples)
    if args.booleans:
        booleans(args.booleans, args.openscad_timeout)


if __name__ == "__main__":
    main()
