"""W109 in the loop: detail added inside a part that moves an anchor another part is placed from
reaches the lint-fix step naming both lines, and a fix that puts the anchor back is clean."""

from __future__ import annotations

import json

from proto3d.agent.loop import Agent, Toolchain
from proto3d.llm.client import OpenAIBackend
from tests.helpers.agent_script import ACCEPT, DESIGN, config, fake_inspect, fenced
from tests.helpers.fake_openai import FakeOpenAI, prompt_of

COARSE = """shape "table"
bounds [1.0, 0.6, 0.75]
part top { box(size=[1.0, 0.6, 0.04], at=[0, 0, 0.75], align="top") }
for x in [-0.45, 0.45], y in [-0.25, 0.25] {
    part leg { cylinder(r=0.02, h=top.bottom.z, at=[x, y, 0], align="bottom") }
}
"""
# The refiner hangs a drawer under the top, inside part `top`: top.bottom drops 10 cm, the legs follow.
REFINED = COARSE.replace(
    'align="top") }',
    'align="top")\n    box(size=[0.4, 0.4, 0.1], at=[0, 0, 0.71], align="top") }',
)
# The fix: the legs keep their height, read from a number rather than the moving anchor.
FIXED = REFINED.replace("h=top.bottom.z", "h=0.71")


def test_a_moved_anchor_goes_to_lint_fix_with_both_lines_and_the_fix_is_clean(tmp_path):
    script = [*DESIGN, fenced(COARSE), fenced(REFINED), fenced(FIXED), ACCEPT]
    with FakeOpenAI(script) as server:
        cfg = config(server)
        Agent(
            "table",
            tmp_path,
            cfg,
            OpenAIBackend(cfg),
            Toolchain(inspect=fake_inspect),
            lambda m: None,
            one_step=False,
        ).run()
        requests = server.requests
    versions = [
        json.loads((tmp_path / "versions" / f"{n:03d}" / "version.json").read_text()) for n in (1, 2, 3)
    ]
    assert [v["step"] for v in versions] == ["coder", "refiner", "lint-fix"]
    # the legs, shorter, leave the top floating (W101); W109 says why, naming the drawer's line
    assert [[d["code"] for d in v["diagnostics"]] for v in versions] == [[], ["W101", "W109"], []]
    moved = versions[1]["diagnostics"][1]
    assert moved["line"] == 6 and moved["message"].startswith("`top.bottom` moved 10.0 cm, mostly down")
    assert "line 4 (part `top`) now bounds it" in moved["message"]
    lint_fix = prompt_of(requests[5])
    assert "W109" in lint_fix and "top.bottom" in lint_fix
    assert "W109" not in prompt_of(requests[6])  # the inspector sees the fixed version
