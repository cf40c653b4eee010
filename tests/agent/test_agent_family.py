"""Prototype families against the fake server: params asked for, variants checked, ranges
narrowed, a variant sheet judged; several designs per category; part vocabularies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proto3d.agent.loop import Agent, Toolchain, plan_designs
from proto3d.agent.variants import check_samples
from proto3d.compiler import compile_text
from proto3d.dataset.variants import sample_variants
from proto3d.grammar import parse
from proto3d.llm.client import OpenAIBackend
from tests.helpers.agent_script import (
    ACCEPT,
    ARRANGEMENT,
    BOUNDS,
    COARSE,
    DESIGN,
    PARTS,
    REFINED,
    config,
    fake_inspect,
    fenced,
)
from tests.helpers.fake_openai import FakeOpenAI, images_in, prompt_of

PARAMS = """shape "table"
bounds [1.0, 0.6, 0.8]
param top_h = 0.75 in [0.65, 0.8]
param top_t = 0.04 in [0.03, 0.05]
param leg_r = 0.02 in [0.015, 0.03]
part top { box(size=[1.0, 0.6, top_t], at=[0, 0, top_h], align="top") }
for x in [-0.45, 0.45], y in [-0.25, 0.25] {
    part leg { cylinder(r=leg_r, h=top_h - top_t + 0.005, at=[x, y, 0], align="bottom") }
}
"""
# the legs keep a fixed height: a higher or thinner top floats above them
DETACHED = PARAMS.replace("h=top_h - top_t + 0.005", "h=0.715")


def plausible(count: int, rejected: dict | None = None) -> str:
    """The variant inspector's answer: every variant plausible except `rejected` {number: [params]}."""
    rejected = rejected or {}
    return json.dumps(
        {
            "variants": [
                {
                    "variant": i,
                    "plausible": i not in rejected,
                    "issue": "odd" if i in rejected else "",
                    "params": rejected.get(i, []),
                }
                for i in range(1, count + 1)
            ]
        }
    )


def fake_sheet(shapes, captions, path: Path) -> None:
    """A variant-sheet stand-in recording what it was given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + json.dumps(captions).encode())
    fake_sheet.shapes = shapes


TOOLS = Toolchain(inspect=fake_inspect, variant_sheet=fake_sheet)


def run(run_dir: Path, script, variants=8, **kwargs):
    with FakeOpenAI(script) as server:
        cfg = config(server)
        summary = Agent(
            "table",
            run_dir,
            cfg,
            OpenAIBackend(cfg),
            TOOLS,
            check_variants=variants,
            one_step=False,
            **kwargs,
        ).run()
    return summary, server.requests


def lint_free(program: str, n: int = 40) -> bool:
    """Every one of `n` sampled variants compiles without a floating, outside or not-grounded lint."""
    return all(
        not [d for d in compile_text(v.text).diagnostics if d.code in ("W101", "W102", "W103")]
        for v in sample_variants(program, n, seed=7)
    )


def test_a_program_without_params_goes_back_to_the_coder_once(tmp_path):
    script = DESIGN + [fenced(COARSE), fenced(REFINED), ACCEPT, fenced(PARAMS), plausible(8)]
    summary, requests = run(tmp_path, script)
    assert summary["status"] == "accepted" and len(requests) == 8
    asked = prompt_of(requests[6])
    assert "has no `param`s" in asked and "3 to 8 params" in asked and '1 | shape "table"' in asked
    assert summary["params"] == {
        "top_h": {"default": 0.75, "lo": 0.65, "hi": 0.8, "integer": False, "coder_range": [0.65, 0.8]},
        "top_t": {"default": 0.04, "lo": 0.03, "hi": 0.05, "integer": False, "coder_range": [0.03, 0.05]},
        "leg_r": {"default": 0.02, "lo": 0.015, "hi": 0.03, "integer": False, "coder_range": [0.015, 0.03]},
    }
    assert summary["variant_check"] == {
        "sampled": 8,
        "compiled": 8,
        "lint_free": 8,
        "accepted_by_inspector": 8,
        "shown_to_inspector": 8,
        "coder_rounds": 0,
        "narrowing_rounds": 0,
    }
    # the params version carries the accepted verdict and is the result
    assert summary["best_version"] == 3 and (tmp_path / "final" / "program.pdsl").read_text() == PARAMS
    v3 = json.loads((tmp_path / "versions" / "003" / "version.json").read_text())
    assert v3["step"] == "params" and v3["parent"] == 2 and v3["verdict"]["accept"]
    # the variant inspector saw the sheet and each variant's values
    sheet = prompt_of(requests[7])
    assert "sheet of 8 variants" in sheet and "1. top_h = " in sheet and "8. top_h = " in sheet
    assert len(images_in(requests[7])) == 1 and len(fake_sheet.shapes) == 8
    judged = json.loads((tmp_path / "versions" / "003" / "variants.json").read_text())
    assert len(judged) == 8 and all(v["plausible"] for v in judged)


def test_the_refiners_prompt_asks_for_params(tmp_path):
    _, requests = run(tmp_path, DESIGN + [fenced(PARAMS), fenced(PARAMS), ACCEPT, plausible(8)])
    for request in requests[3:5]:  # coder and refiner
        assert "3 to 8 params" in prompt_of(request) and "param NAME = DEFAULT in [LO, HI]" in prompt_of(
            request
        )
    assert len(requests) == 7  # no request for params: the program has them


def test_a_program_still_without_params_is_kept_and_said_so(tmp_path):
    summary, requests = run(tmp_path, DESIGN + [fenced(COARSE), fenced(REFINED), ACCEPT, fenced(REFINED)])
    assert summary["status"] == "accepted" and len(requests) == 7
    assert summary["params"] == {} and summary["variant_check"] == {
        "sampled": 0,
        "reason": "the program has no params",
    }
    assert summary["best_version"] == 2


def test_params_that_break_attachment_go_back_with_the_failing_values_then_ranges_narrow(tmp_path):
    script = DESIGN + [fenced(DETACHED), fenced(DETACHED), ACCEPT, fenced(DETACHED), plausible(8)]
    summary, requests = run(tmp_path, script)
    assert summary["status"] == "accepted" and len(requests) == 8
    fix = prompt_of(requests[6])
    assert "- top_h = hi (top_h = 0.8, top_t = 0.04, leg_r = 0.02):" in fix
    assert "W101" in fix and "floats" in fix and "derive positions and sizes from" in fix
    # the coder did not fix it: the failing sides were halved toward the default until sound
    params = summary["params"]
    assert params["top_h"]["hi"] < 0.8 and params["top_t"]["lo"] > 0.03
    assert params["top_h"]["coder_range"] == [0.65, 0.8]
    assert summary["variant_check"]["coder_rounds"] == 1 and summary["variant_check"]["narrowing_rounds"] >= 1
    assert summary["variant_check"]["lint_free"] < 8  # as the coder wrote it
    final = (tmp_path / "final" / "program.pdsl").read_text()
    assert f"param top_h = 0.75 in [{params['top_h']['lo']!r}, {params['top_h']['hi']!r}]" in final
    assert lint_free(final) and not lint_free(DETACHED)
    v4 = json.loads((tmp_path / "versions" / "004" / "version.json").read_text())
    assert v4["step"] == "ranges" and v4["parent"] == 2  # the coder's answer fixed nothing: not adopted
    assert summary["best_version"] == 4
    # every sample the inspector saw is lint-free
    assert all(not [d for d in s.diagnostics if d.code == "W101"] for s in fake_sheet.shapes)


def test_a_coder_fix_of_the_ranges_is_adopted(tmp_path):
    script = DESIGN + [fenced(DETACHED), fenced(DETACHED), ACCEPT, fenced(PARAMS), plausible(8)]
    summary, requests = run(tmp_path, script)
    assert summary["variant_check"]["coder_rounds"] == 1 and summary["variant_check"]["narrowing_rounds"] == 0
    assert (tmp_path / "final" / "program.pdsl").read_text() == PARAMS
    assert summary["params"]["top_h"]["hi"] == 0.8


def test_variants_the_inspector_rejects_narrow_the_blamed_ranges(tmp_path):
    script = DESIGN + [fenced(PARAMS), fenced(PARAMS), ACCEPT, plausible(8, {3: ["top_h"]})]
    summary, requests = run(tmp_path, script)
    rejected = json.loads((tmp_path / "versions" / "002" / "variants.json").read_text())[2]
    assert not rejected["plausible"] and rejected["params"] == ["top_h"]
    above = rejected["values"]["top_h"] > 0.75
    assert summary["variant_check"]["accepted_by_inspector"] == 7
    params = summary["params"]
    # only top_h narrowed, on the side of the rejected value, to halfway to the default
    assert params["top_t"]["lo"] == 0.03 and params["top_t"]["hi"] == 0.05 and params["leg_r"]["hi"] == 0.03
    assert (params["top_h"]["lo"], params["top_h"]["hi"]) == ((0.65, 0.775) if above else (0.7, 0.8))
    assert "in [0.65, 0.775]" in (tmp_path / "final" / "program.pdsl").read_text() if above else True


def test_variant_verdicts_are_checked_one_per_variant(tmp_path):
    short = json.dumps({"variants": [{"variant": 1, "plausible": True}]})
    summary, requests = run(tmp_path, DESIGN + [fenced(PARAMS), fenced(PARAMS), ACCEPT, short, plausible(8)])
    assert summary["status"] == "accepted"
    assert "give one entry for each variant 1 to 8 exactly once, got [1]" in prompt_of(requests[7])


def test_range_ends_are_checked_with_the_other_params_at_their_defaults():
    program = parse(DETACHED, "program.pdsl")
    samples = check_samples(program, compile_text(DETACHED).params, 2, key=1)
    names = [s.name for s in samples]
    assert names == [
        "top_h = lo",
        "top_h = hi",
        "top_t = lo",
        "top_t = hi",
        "leg_r = lo",
        "leg_r = hi",
        "variant 1",
        "variant 2",
    ]
    ends = {s.name: s for s in samples}
    assert ends["top_h = hi"].params == {"top_h": 0.8, "top_t": 0.04, "leg_r": 0.02}
    assert not ends["top_h = hi"].ok and "W101" in ends["top_h = hi"].problems[0]
    assert "floats 0.045 m above" in ends["top_h = hi"].problems[0]
    # a 5 mm gap is within the contact tolerance of a 1 m top (0.5 % of its extent)
    assert [s.name for s in samples[:6] if not s.ok] == ["top_h = hi"]


# ---------------------------------------------------------------- several designs

TWO_LEGS = (
    COARSE.replace("for x in [-0.45, 0.45], y in [-0.25, 0.25]", "for x in [-0.45, 0.45]")
    .replace("at=[x, y, 0]", "at=[x, 0, 0]")
    .replace("cylinder(r=0.02,", "box(size=[0.04, 0.5, 0.715],")
    .replace("h=0.715, at", "at")
)
FOUR_LEGGED = {
    "name": "Four-legged table",
    "description": "a top on four straight legs",
    "parts": [{"label": "top", "count": 1}, {"label": "leg", "count": 4}],
}
TRESTLE = {
    "name": "Trestle table",
    "description": "a top on two trestles",
    "parts": [{"label": "top", "count": 1}, {"label": "leg", "count": 2}],
}


def test_near_identical_designs_get_a_corrective_retry(tmp_path):
    same = {**TRESTLE, "parts": FOUR_LEGGED["parts"]}
    script = [
        json.dumps({"designs": [FOUR_LEGGED, same]}),
        json.dumps({"designs": [FOUR_LEGGED]}),
        json.dumps({"designs": [FOUR_LEGGED, TRESTLE]}),
    ]
    progress = []
    with FakeOpenAI(script) as server:
        cfg = config(server)
        plan = plan_designs("table", tmp_path, cfg, OpenAIBackend(cfg), 2, progress=progress.append)
    assert [d["slug"] for d in plan["designs"]] == ["four-legged-table", "trestle-table"]
    assert "Propose 2 structurally different designs" in prompt_of(server.requests[0])
    retry = prompt_of(server.requests[1])
    assert (
        "$.designs[1]: 'Trestle table' has the same parts and counts as 'Four-legged table' (leg x4, top x1); "
        "make it structurally different"
    ) in retry
    assert "$.designs: give exactly 2 designs, got 1" in prompt_of(server.requests[2])
    assert plan["usage"]["calls"] == 3
    assert json.loads((tmp_path / "designs.json").read_text())["designs"][1]["name"] == "Trestle table"


def design_responder(request) -> str:
    """Answers by prompt, for two designs of a table running side by side."""
    text = prompt_of(request)
    two = "Trestle table" in text
    if "structurally different designs" in text:
        return json.dumps({"designs": [FOUR_LEGGED, TRESTLE]})
    if "Step 1 of 3" in text:
        return BOUNDS
    if "Step 3 of 3" in text:
        instances = json.loads(ARRANGEMENT)["instances"]
        return json.dumps({"instances": instances[:3] if two else instances})
    if "You are the visual inspector" in text:
        return ACCEPT
    return fenced(TWO_LEGS if two else COARSE)


def test_k_designs_give_k_folders_with_different_part_lists(tmp_path):
    from click.testing import CliRunner

    from proto3d.agent.command import agent_command

    with FakeOpenAI(default=design_responder) as server:
        result = CliRunner().invoke(
            agent_command,
            [
                "table",
                "--designs",
                "2",
                "--base-url",
                server.base_url,
                "-o",
                str(tmp_path),
                "--check-variants",
                "0",
                "-j",
                "2",
            ],
        )
    assert result.exit_code == 0, result.output
    assert (
        len(server.requests) == 1 + 2 * 4
    )  # the designs, then per design: bounds, arrangement, coder (one step), inspector
    assert sorted(p.name for p in (tmp_path / "table").iterdir() if p.is_dir()) == [
        "calls",
        "four-legged-table",
        "trestle-table",
    ]
    built = {}
    for name in ("four-legged-table", "trestle-table"):
        run = tmp_path / "table" / name
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "accepted" and summary["category"] == "table"
        assert (
            summary["design"]
            == {"four-legged-table": "Four-legged table", "trestle-table": "Trestle table"}[name]
        )
        manifest = json.loads((run / "final" / "parts.json").read_text())
        built[name] = {p["label"]: len(p["instances"]) for p in manifest["parts"]}
        assert (
            json.loads((run / "design" / "parts.json").read_text())["parts"][1]["count"] == built[name]["leg"]
        )
    assert built == {"four-legged-table": {"top": 1, "leg": 4}, "trestle-table": {"top": 1, "leg": 2}}
    assert not any("Step 2 of 3" in prompt_of(r) for r in server.requests)  # the designs gave the parts
    assert any("design: Trestle table, a top on two trestles" in prompt_of(r) for r in server.requests)
    batch = json.loads((tmp_path / "batch.json").read_text())
    assert batch["categories"][0]["accepted"] == 2 and batch["categories"][0]["calls"] == 9
    assert "table" in result.output and "Trestle" not in result.output  # per-category table


# ---------------------------------------------------------------- vocabularies

VOCAB = {"top": "the flat surface", "leg": "a vertical support"}


def test_a_vocabulary_rejects_an_invented_label(tmp_path):
    invented = json.dumps(
        {
            "parts": [
                {"label": "top", "count": 1},
                {"label": "apron", "count": 1},
                {"label": "leg", "count": 4},
            ]
        }
    )
    script = [BOUNDS, invented, PARTS, ARRANGEMENT, fenced(COARSE), fenced(REFINED), ACCEPT]
    summary, requests = run(tmp_path, script, variants=0, vocabulary=VOCAB)
    assert summary["status"] == "accepted"
    prompt = prompt_of(requests[1])
    assert "Use only these part labels" in prompt and "- `leg`: a vertical support" in prompt
    assert "No other label is allowed" in prompt
    assert "$.parts[1].label: 'apron' is not in the part vocabulary; use one of ['leg', 'top']" in prompt_of(
        requests[2]
    )


def test_other_is_a_label_only_when_the_vocabulary_allows_it(tmp_path):
    other = json.dumps({"parts": [{"label": "top", "count": 1}, {"label": "other", "count": 1}]})
    summary, requests = run(tmp_path / "strict", [BOUNDS, other, other, other], variants=0, vocabulary=VOCAB)
    assert summary["status"] == "failed" and "'other' is not in the part vocabulary" in summary["reason"]
    summary, requests = run(
        tmp_path / "open", [BOUNDS, other], variants=0, vocabulary=VOCAB, allow_other=True
    )
    assert "- `other`: a visible part with no counterpart" in prompt_of(requests[1])
    assert (
        json.loads((tmp_path / "open" / "design" / "parts.json").read_text())["parts"][1]["label"] == "other"
    )


def test_the_cli_limits_labels_to_the_partimagenet_vocabulary(tmp_path):
    from click.testing import CliRunner

    from proto3d.agent.command import agent_command

    quadruped = json.dumps(
        {
            "parts": [
                {"label": "head", "count": 1},
                {"label": "body", "count": 1},
                {"label": "foot", "count": 4},
                {"label": "tail", "count": 1},
            ]
        }
    )
    snout = quadruped.replace('"tail"', '"snout"')
    with FakeOpenAI([BOUNDS, snout, quadruped, "stop here"] + ["no"] * 2) as server:
        result = CliRunner().invoke(
            agent_command,
            [
                "dog",
                "--vocab",
                "partimagenet",
                "--base-url",
                server.base_url,
                "-o",
                str(tmp_path),
                "--max-iterations",
                "1",
            ],
        )
    assert result.exit_code == 1  # the arranger never answers; the decomposer's retry is what is checked
    prompt = prompt_of(server.requests[1])
    assert "- `foot`:" in prompt and "- `other`:" in prompt and "- `wing`" not in prompt
    assert (
        "'snout' is not in the part vocabulary; use one of ['body', 'foot', 'head', 'tail', 'other']"
        in prompt_of(server.requests[2])
    )
    assert json.loads((tmp_path / "dog" / "design" / "parts.json").read_text()) == json.loads(quadruped)
    assert json.loads((tmp_path / "dog" / "run.json").read_text())["allow_other"] is True

    result = CliRunner().invoke(agent_command, ["toaster", "--vocab", "partimagenet", "-o", str(tmp_path)])
    assert result.exit_code == 1 and "has no part labels for 'toaster'" in result.output
    result = CliRunner().invoke(agent_command, ["dog", "--vocab", "no-such-vocab", "-o", str(tmp_path)])
    assert result.exit_code == 1 and "no vocabulary named `no-such-vocab`" in result.output


def test_labels_with_spaces_are_written_as_identifiers(tmp_path):
    from proto3d.agent.command import _vocabularies

    labels, allow_other = _vocabularies("partimagenet", ["car"])["car"]
    assert list(labels) == ["body", "tier", "side_mirror"] and allow_other


def test_a_batch_stops_starting_designs_when_its_cost_budget_is_spent(scripted_model, tmp_path):
    from click.testing import CliRunner

    from proto3d.agent.command import agent_command

    cats = tmp_path / "cats.txt"
    cats.write_text("table\ndesk\n")
    server = scripted_model
    (tmp_path / "p.toml").write_text(
        f'[llm]\nbase_url = "{server.base_url}"\nmodel = "fake-vl"\n'
        '[prices."fake-vl"]\ninput = 1.0\noutput = 2.0\n'
    )
    result = CliRunner().invoke(
        agent_command,
        [
            "--categories",
            str(cats),
            "--config",
            str(tmp_path / "p.toml"),
            "-o",
            str(tmp_path / "runs"),
            "--check-variants",
            "0",
            "--max-batch-cost",
            "0.000001",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(server.requests) == 5  # one whole run (one step), then nothing new starts
    batch = json.loads((tmp_path / "runs" / "batch.json").read_text())
    table, desk = batch["categories"]
    assert (table["accepted"], table["skipped"], desk["accepted"], desk["skipped"]) == (1, 0, 0, 1)
    assert desk["runs"][0]["reason"] == "batch cost budget (1e-06) spent; not started"
    assert table["cost"] > 0 and table["cost_per_accepted"] == table["cost"] and batch["totals"]["calls"] == 5
    assert not (tmp_path / "runs" / "desk").exists()


@pytest.mark.parametrize(
    "concurrency", [["-j", "1"], ["-j", "2", "--workers", "2"]], ids=["threads", "workers"]
)
def test_a_batch_killed_mid_design_resumes_without_repeating_a_finished_design(tmp_path, concurrency):
    """Killed with its designs in worker processes, the workers end too (their folders' locks are
    free: the resumed batch runs in them)."""
    import signal
    import subprocess
    import sys
    import threading
    import time

    from click.testing import CliRunner

    from proto3d.agent.command import agent_command
    from tests.helpers.fake_openai import Slow

    cats, out = tmp_path / "cats.txt", tmp_path / "runs"
    cats.write_text("table\n")
    hanging = threading.Event()

    def hang_on_the_second_inspection(request):
        text = prompt_of(request)
        if "Trestle table" in text and "You are the visual inspector" in text:
            hanging.set()
            return Slow(600, ACCEPT)
        return design_responder(request)

    args = [
        "--categories",
        str(cats),
        "--per-category",
        "2",
        *concurrency,
        "--model",
        "fake-vl",
        "-o",
        str(out),
        "--check-variants",
        "0",
    ]
    with (
        FakeOpenAI(default=hang_on_the_second_inspection) as server,
        open(tmp_path / "stderr.txt", "wb") as stderr,
    ):
        process = subprocess.Popen(
            [sys.executable, "-m", "proto3d", "agent", *args, "--base-url", server.base_url], stderr=stderr
        )
        try:
            assert hanging.wait(300), (tmp_path / "stderr.txt").read_text()
            finished = out / "table" / "four-legged-table" / "summary.json"
            deadline = time.monotonic() + 300  # side by side (-j 2), the other design may still run
            while '"accepted"' not in (finished.read_text() if finished.exists() else ""):
                assert time.monotonic() < deadline, (tmp_path / "stderr.txt").read_text()
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    first = json.loads((out / "table" / "four-legged-table" / "summary.json").read_text())
    assert first["status"] == "accepted"
    assert json.loads((out / "table" / "trestle-table" / "summary.json").read_text())["status"] == "running"
    assert len(server.requests) == 9  # designs, 4 for the first design, 4 for the second (the last one hung)

    with FakeOpenAI(default=design_responder) as server:
        result = CliRunner().invoke(agent_command, [*args, "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    # only the call that never returned: the designs and the finished design are not asked again
    assert len(server.requests) == 1
    assert "You are the visual inspector" in prompt_of(server.requests[0])
    assert "Trestle table" in prompt_of(server.requests[0])
    assert json.loads((out / "table" / "four-legged-table" / "summary.json").read_text()) == first
    second = json.loads((out / "table" / "trestle-table" / "summary.json").read_text())
    assert (
        second["status"] == "accepted"
        and second["resumed_from"] == "interrupted"
        and second["replayed_calls"] == 3
    )
    batch = json.loads((out / "batch.json").read_text())
    assert batch["categories"][0]["accepted"] == 2 and batch["totals"]["calls"] == 9


def test_the_variant_sheet_shows_each_variant_in_its_own_cell(tmp_path):
    """The real renderer: one iso view per variant, 4 to a row, the number above it."""
    import numpy as np
    from PIL import Image

    from proto3d.agent.loop import variant_sheet

    shapes = [compile_text(v.text) for v in sample_variants(PARAMS, 6, seed=1)]
    variant_sheet(shapes, [str(i) for i in range(1, 7)], tmp_path / "variants.png", cell=64)
    sheet = np.asarray(Image.open(tmp_path / "variants.png").convert("RGB"))
    assert sheet.shape == (2 * (64 + 18), 4 * 64, 3)
    cells = [sheet[r * 82 + 18 : (r + 1) * 82, c * 64 : (c + 1) * 64] for r in range(2) for c in range(4)]
    drawn = [int((cell.min(axis=2) < 200).sum()) for cell in cells]
    assert all(n > 100 for n in drawn[:6]) and drawn[6:] == [0, 0]  # six variants, two empty cells
    assert (sheet[:18, :64].min(axis=2) < 128).any()  # a caption above the first cell


def test_a_model_error_in_the_family_step_keeps_the_accepted_prototype(tmp_path):
    summary, requests = run(tmp_path, DESIGN + [fenced(COARSE), fenced(REFINED), ACCEPT])  # then HTTP 500s
    assert summary["status"] == "accepted" and summary["best_version"] == 2
    assert summary["variant_check"]["sampled"] == 0
    assert summary["variant_check"]["reason"].startswith("the family check stopped: coder:")
    assert "failed after 5 attempts: HTTP 500" in summary["variant_check"]["reason"]
    assert (tmp_path / "final" / "program.pdsl").read_text() == REFINED


def test_check_variants_is_off_or_at_least_six(tmp_path):
    from click.testing import CliRunner

    from proto3d.agent.command import agent_command

    result = CliRunner().invoke(agent_command, ["table", "--check-variants", "3", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "0 (off) or at least 6" in result.output
    assert not any(tmp_path.iterdir())


def test_narrowing_halves_the_failing_side_and_collapses_what_never_passes():
    from proto3d.agent.variants import Sample, collapsed, narrowed, with_ranges

    specs = {
        "legs": {"default": 4, "lo": 3, "hi": 7, "integer": True},
        "h": {"default": 0.5, "lo": 0.2, "hi": 0.9, "integer": False},
    }
    once = narrowed(
        specs, [Sample("variant 1", {"legs": 7, "h": 0.3}), Sample("legs = lo", {"legs": 3, "h": 0.5})]
    )
    assert once == {
        "legs": {"default": 4, "lo": 4, "hi": 5, "integer": True},
        "h": {"default": 0.5, "lo": 0.35, "hi": 0.9, "integer": False},
    }
    assert collapsed(once, [Sample("variant 2", {"legs": 4, "h": 0.8})])["h"] == {
        "default": 0.5,
        "lo": 0.5,
        "hi": 0.5,
        "integer": False,
    }
    text = (
        'shape "x"\nbounds [1, 1, 1]\nparam legs = 4 in [3, 7]  # count\nparam h = 0.5 in [0.2, 0.9]\n'
        'part p { box(size=[0.1, 0.1, h], at=[0, 0, 0], align="bottom") }\n'
    )
    assert with_ranges(text, once).splitlines()[2:4] == [
        "param legs = 4 in [4, 5]  # count",
        "param h = 0.5 in [0.35, 0.9]",
    ]
    assert compile_text(with_ranges(text, collapsed(once, [Sample("v", {"legs": 5, "h": 0.8})]))).params[
        "h"
    ] == {"value": 0.5, "default": 0.5, "lo": 0.5, "hi": 0.5, "integer": False}


def test_a_family_run_replays_offline_to_the_same_ranges(tmp_path):
    from proto3d.agent.loop import replay

    script = DESIGN + [fenced(DETACHED), fenced(DETACHED), ACCEPT, fenced(DETACHED), plausible(8, {2: []})]
    summary, _ = run(tmp_path / "run", script)
    again = replay(tmp_path / "run", tmp_path / "replay", tools=TOOLS)
    assert again["status"] == "accepted" and again["replayed_calls"] == 8 and again["replay_mismatches"] == []
    assert again["params"] == summary["params"] and again["variant_check"] == summary["variant_check"]
    assert (tmp_path / "replay" / "final" / "program.pdsl").read_text() == (
        tmp_path / "run" / "final" / "program.pdsl"
    ).read_text()


def test_designs_are_held_to_the_vocabulary_too():
    from proto3d.agent.schema import check_designs

    designs = {
        "designs": [
            FOUR_LEGGED,
            {**TRESTLE, "parts": [{"label": "top", "count": 1}, {"label": "trestle", "count": 2}]},
        ]
    }
    assert check_designs(designs, 2, VOCAB) == [
        "$.designs[1].parts[1].label: 'trestle' is not in the part vocabulary; use one of ['leg', 'top']"
    ]
    other = {
        "designs": [
            FOUR_LEGGED,
            {**TRESTLE, "parts": [{"label": "top", "count": 1}, {"label": "other", "count": 2}]},
        ]
    }
    assert check_designs(other, 2, VOCAB, allow_other=True) == [] and len(check_designs(other, 2, VOCAB)) == 1
    assert check_designs(designs, 2) == []
