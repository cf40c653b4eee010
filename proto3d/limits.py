"""Caps that make compiling any program safe without a sandbox: each breach is a positioned error.

At the package root so the parser (stage 1) and the compiler (stage 2) read the same defaults.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_program_bytes: int = 50_000  # parsing runs at ~50 kB/s at worst: about a second
    max_string: int = 1_000
    max_depth: int = 32  # nesting of brackets and blocks
    max_primitives: int = 10_000
    # 20x the largest example (25k); compile and all four exports of 1M took 0.8-1.3 s and ~450 MB,
    # of 0.5M about half that
    max_triangles: int = 500_000
    max_loop_iterations: int = 100_000  # all for-loop bodies and radial copies together
    # statements run, plus list items and numbers an operation reads or makes; the costliest steps
    # (~1.3 us, with new arrays and point functions paying for their NumPy calls) keep a program at
    # the limit near 0.65 s. 20x the largest example (the bathtub, 24,347: its boolean)
    max_steps: int = 500_000
    max_segments: int = 256
    max_points: int = 2_000  # points of one lathe profile, extrude polygon or sweep path
    max_abs_value: float = 1e6  # any size, position or point, in metres
    # Wall-clock seconds evaluation may take, checked every few thousand steps. None by default, so
    # the same program gives the same answer on any machine; the agent sets one it can rely on.
    max_seconds: float | None = None
