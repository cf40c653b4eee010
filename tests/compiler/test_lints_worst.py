"""Lints on adversarial programs near the limits: many floating, finely tessellated parts close
together. The answers must stay right (codes, gaps against NumPy reference math); how fast they
come is measured in bench/compile.py, never here."""

from __future__ import annotations

import numpy as np
import pytest

from proto3d.compiler import compile_text
from proto3d.compiler.lints import contact, distance, lint

GEOMETRIC = {"W101", "W102", "W103", "W104", "W105"}
N_RINGS = 7  # per row


def warnings_of(shape):
    return [d for d in shape.diagnostics if d.code in GEOMETRIC]


def gap_in(message):
    """The first 'N.NNN m' number of a message."""
    return float(message.split(" m ")[0].split()[-1])


def vertices_of(shape, i):
    return shape.vertices[np.unique(shape.faces[shape.instance_id == i])].astype(float)


def rings(n, segments):
    """Two rows of n tori: the lower row touches nothing but the floor, the upper one floats; 2 cm between
    neighbours of a row, 15 cm between the rows."""
    lines = ['shape "rings"']
    for k in range(n):
        for z in (0.07, 0.36):
            lines.append(
                f"part ring {{ torus(R=0.22, r=0.07, at=[{k * 0.6}, 0, {z}], segments={segments}) }}"
            )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def fine_rings():
    """14 tori of 31k triangles each: 0.43M triangles, near the 500k limit."""
    return compile_text(rings(N_RINGS, 176))


def test_floating_fine_rings_report_exact_gaps_to_their_nearest_neighbour(fine_rings):
    shape = fine_rings
    assert len(shape.faces) > 400_000
    found = [d for d in warnings_of(shape) if d.code == "W101"]
    assert len(found) == N_RINGS  # ring.1, .3, … : the upper row
    lower = [vertices_of(shape, i) for i in range(0, 2 * N_RINGS, 2)]
    upper = [vertices_of(shape, i) for i in range(1, 2 * N_RINGS, 2)]
    # The nearest ring of the upper row's first one is the one below it (a vertex-to-vertex gap).
    first = next(d for d in found if "`ring.1`" in d.message)
    assert "above `ring.0`" in first.message
    assert gap_in(first.message) == pytest.approx(upper[0][:, 2].min() - lower[0][:, 2].max(), abs=1e-6)
    # Once it is attached, each next one is nearer to its left neighbour (2 cm) than to the floor row.
    for k in range(1, N_RINGS):
        d = next(d for d in found if f"`ring.{2 * k + 1}`" in d.message)
        reference = upper[k][:, 0].min() - upper[k - 1][:, 0].max()
        assert reference == pytest.approx(0.02, abs=1e-6)
        assert gap_in(d.message) == pytest.approx(reference, abs=1e-6)
        assert f"right of `ring.{2 * k - 1}`" in d.message and "at most" not in d.message


def test_a_floor_of_floating_spheres_is_one_group_with_the_exact_gap():
    text = """shape "balls"
for i in range(20), j in range(20) {
    part low { sphere(r=0.05, at=[i * 0.1, j * 0.1, 0.05], segments=24) }
    part high { sphere(r=0.05, at=[i * 0.1, j * 0.1, 0.16], segments=24) }
}
"""
    shape = compile_text(text)
    (d,) = warnings_of(shape)
    assert d.code == "W101" and "and 396 more touch each other but float together" in d.message
    assert "above `low.0`" in d.message and gap_in(d.message) == pytest.approx(0.01, abs=1e-6)


def test_two_clouds_of_thousands_of_primitives_touch_only_where_they_do():
    # One part of 2500 beads, another of 2500 beads between them, a third far above: only a
    # bead placed on a bead joins the clouds.
    cloud = "for i in range(50), j in range(50) {{ sphere(r=0.002, at=[i * 0.05 + {dx}, j * 0.05 + {dy}, {z}], segments=4) }}"
    a = cloud.format(dx=0, dy=0, z=0.002)
    b = cloud.format(dx=0.025, dy=0.025, z=0.3)
    text = f'shape "clouds"\npart a {{ {a} }}\npart b {{ {b} }}\n'
    floating = compile_text(text)
    (d,) = warnings_of(floating)
    assert d.code == "W101" and "part `b` floats" in d.message and "above `a`" in d.message
    centres = np.hypot(0.025 * np.sqrt(2), 0.298)  # nearest centres of beads of a and b
    assert centres - 0.004 - 5e-4 <= gap_in(d.message) <= centres  # beyond the spheres (printed in mm)
    bridge = "rod(from=[1.225, 1.225, 0], to=[1.225, 1.225, 0.3], r=0.001)"  # up to one bead of b
    held = compile_text(f'shape "clouds"\npart a {{ {a} {bridge} }}\npart b {{ {b} }}\n')
    assert warnings_of(held) == []


def test_fine_sphere_tangent_inside_another_is_hidden():
    text = """shape "nested"
part shell { sphere(r=0.5, at=[0, 0, 0.5], segments=256) }
part core { sphere(r=0.25, at=[0, 0, 0.25], segments=256) }
"""
    (d,) = warnings_of(compile_text(text))
    assert d.code == "W104" and "`core` is entirely inside `shell`" in d.message


def test_spent_budget_gives_an_upper_bound_said_so(fine_rings, monkeypatch):
    monkeypatch.setattr(distance, "MEASURE_BUDGET", 1_000)
    found = [d for d in lint(fine_rings) if d.code == "W101"]
    assert len(found) == N_RINGS
    exact = {d.span.line: gap_in(d.message) for d in warnings_of(fine_rings) if d.code == "W101"}
    bounded = [d for d in found if "at most" in d.message]
    assert bounded
    for d in found:  # a real pair of points: never below the exact gap
        assert gap_in(d.message.replace("at most ", "")) >= exact[d.span.line] - 5e-4


def test_hidden_budget_shares_itself_and_when_spent_claims_nothing(monkeypatch):
    text = """shape "nested"
part shell { sphere(r=0.5, at=[0, 0, 0.5], segments=64) }
part core { sphere(r=0.25, at=[0, 0, 0.25], segments=64) }
part top { sphere(r=0.25, at=[0, 0, 0.75], segments=64) }
"""
    shape = compile_text(text)
    monkeypatch.setattr(contact, "HIDDEN_BUDGET", 200_000)  # a few vertices each: both still found
    assert [d.message for d in lint(shape)] == [
        "part `core` is entirely inside `shell`: it cannot be seen from any view",
        "part `top` is entirely inside `shell`: it cannot be seen from any view",
    ]
    monkeypatch.setattr(contact, "HIDDEN_BUDGET", 0)
    assert lint(shape) == []  # nothing checked: no warning rather than a guess


def test_spent_contact_budget_counts_surfaces_as_touching(monkeypatch):
    # A ring around a post: their boxes overlap, their surfaces stay 7 cm apart.
    text = """shape "quoit"
part post { cylinder(r=0.02, h=1, align="bottom") }
part ring { torus(R=0.1, r=0.01, at=[0, 0, 0.5]) }
"""
    shape = compile_text(text)
    (d,) = warnings_of(shape)
    assert d.code == "W101" and gap_in(d.message) == pytest.approx(0.07, abs=2e-3)  # within the facets
    monkeypatch.setattr(contact, "CONTACT_BUDGET", 0)
    assert lint(shape) == []  # not proven apart: no warning rather than a wrong one
