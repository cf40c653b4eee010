"""The first run: Numba compiles only the kernels a program uses, and the CLI says it is a one-off."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from numba import njit

from proto3d.cli_conventions import first_run_notice

CHAIR = (Path(__file__).resolve().parents[2] / "examples" / "chair.pdsl").read_text()
KERNELS = (
    "tessellate._rounded_boxes",
    "tessellate._revolve",
    "tessellate._earclip",
    "tessellate._lathe_profile",
    "tessellate._extruded_shapes",
    "tessellate._swept_shapes",
    "tessellate._skinned_shapes",
    "lints.contact._connect",
    "lints.contact._hosts",
    "lints.distance._forest",
)


def kernels_used(program: str) -> dict[str, int]:
    """How many specialisations of each kernel a fresh process has after compiling `program`
    (compiled or loaded from the cache: either way, only kernels the program called)."""
    script = textwrap.dedent(f"""
        from proto3d.compiler import compile_text, lints, tessellate
        compile_text({program!r})
        print(" ".join(str(len(eval(kernel).signatures)) for kernel in {KERNELS!r}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return dict(zip(KERNELS, map(int, out.split())))


def test_one_box_needs_no_shape_kernel_and_no_lint_kernel():
    used = kernels_used('shape "block"\npart block { box(size=[0.2, 0.2, 0.2], at=[0, 0, 0.1]) }\n')
    assert used == dict.fromkeys(KERNELS, 0)  # boxes are made in NumPy; only placing them is compiled


def test_a_whole_torus_needs_no_ear_clipping_and_a_partial_one_does():
    whole = kernels_used('shape "ring"\npart ring { torus(R=0.2, r=0.05, at=[0, 0, 0.05]) }\n')
    assert {kernel for kernel, n in whole.items() if n} == {"tessellate._revolve"}
    arc = kernels_used('shape "arc"\npart arc { torus(R=0.2, r=0.05, angle=90, at=[0, 0, 0.05]) }\n')
    assert {kernel for kernel, n in arc.items() if n} == {"tessellate._revolve", "tessellate._earclip"}


def test_a_chair_needs_boxes_cylinders_and_the_contact_graph_but_nothing_for_hidden_or_floating_parts():
    used = kernels_used(CHAIR)
    assert {kernel for kernel, n in used.items() if n} == {"tessellate._revolve", "lints.contact._connect"}
    assert set(used.values()) == {0, 1}  # one specialisation each


def test_the_notice_shows_only_while_numba_compiles_and_says_it_is_a_one_off(capsys):
    with first_run_notice():
        pass
    assert capsys.readouterr().err == ""
    with first_run_notice():
        assert njit(lambda x: x + 1)(1) == 2  # a new function: Numba compiles it
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (
        "proto3d: compiling the geometry kernels this program needs "
        "(a one-off: they are cached for every later run)…"
    )
    assert re.fullmatch(
        r"proto3d: kernels compiled in \d+\.\d s, once; later runs load them from the cache "
        r"in a fraction of a second",
        lines[1],
    )
    assert len(lines) == 2


def test_every_surface_of_revolution_shares_one_revolving_kernel_of_one_specialisation():
    """Profiles made in Python (sphere, cylinder, capsule, torus, tube) and by the lathe's kernel reach
    `_revolve` with the same types (as the cut sphere's kernel calls it): it is compiled once."""
    program = """shape "revolved"
part a { sphere(r=0.1, at=[0, 0, 0.1]) }
part b { cylinder(r=0.1, h=0.2, at=[0.3, 0, 0.1]) }
part c { capsule(r=0.05, h=0.3, at=[0.6, 0, 0.15]) }
part d { torus(R=0.1, r=0.03, angle=200, at=[0.9, 0, 0.03]) }
part e { tube(r=0.1, thickness=0.02, h=0.2, at=[1.2, 0, 0.1]) }
part f { lathe(profile=[[0, 0], [0.1, 0], [0.05, 0.2], [0, 0.2]], angle=270, at=[1.5, 0, 0]) }
part g { sphere(r=0.1, polar=[30, 150], angle=270, at=[1.8, 0, 0.1]) }
"""
    used = kernels_used(program)
    assert used["tessellate._revolve"] == 1
    assert used["tessellate._earclip"] == 1
