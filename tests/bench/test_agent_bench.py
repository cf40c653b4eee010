"""bench/agent.py --coarse: what a recorded run's coarse step added, measured on a run folder."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("agent_bench", ROOT / "bench" / "agent.py")
assert _spec and _spec.loader
agent_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(agent_bench)  # a script, not a module on the path


def box(lo, hi):
    return np.array([lo, hi], dtype=float)


def test_box_moves_match_instances_of_a_part_nearest_first_and_count_the_unmatched():
    plan = {"leg": [box([0, 0, 0], [1, 1, 1]), box([2, 0, 0], [3, 1, 1])], "top": [box([0, 0, 1], [3, 1, 2])]}
    built = {"leg": [box([2, 0, 0], [3, 1, 1.25]), box([0, 0, 0], [1, 1, 1])]}  # mirrored order, no top
    assert agent_bench._box_moves(plan, built) == (0.25, 1)
    assert agent_bench._box_moves(built, built) == (0.0, 0)


def test_coarse_step_compares_plan_coarse_and_refined_programs_of_a_run_folder(tmp_path, capsys):
    replies = dict(agent_bench.FIXTURE["replies"][:3])  # metricizer, decomposer, arranger
    replies["coder"] = f"```pdsl\n{agent_bench.FIXTURE_PROGRAM}```"
    replies["refiner"] = f"```pdsl\n{agent_bench.PROGRAM}```"  # a bevel: the same boxes
    (tmp_path / "calls").mkdir()
    for i, (role, text) in enumerate(replies.items(), 1):
        (tmp_path / "calls" / f"{i:04d}-{role}.json").write_text(json.dumps({"reply": {"text": text}}))
    agent_bench.coarse_step([tmp_path])
    line = capsys.readouterr().out.splitlines()[1]
    # the legs are planned 0.71 high and drawn 0.715 (5 mm into the top); the top as planned
    assert line.split(None, 1)[1] == (
        "plan -> coarse: 5 instances, 0 unmatched, largest face move 0.005; coarse lints none | "
        "coarse -> refined: 0 unmatched, largest face move 0.000, overall box 0.000; refined lints none"
    )
