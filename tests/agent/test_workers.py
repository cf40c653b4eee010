"""A batch's designs in worker processes: more than one process, a crashed worker, a stop."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from click.testing import CliRunner

from proto3d.agent.batch import Batch, Job
from proto3d.agent.command import agent_command
from proto3d.agent.workers import WorkerPool


def test_a_batch_runs_its_designs_in_more_than_one_process(scripted_model, tmp_path):
    cats = tmp_path / "cats.txt"
    cats.write_text("table\nside table\ndesk\nbench\n")
    args = ["--categories", str(cats), "-j", "4", "--workers", "2", "--check-variants", "0"]
    result = CliRunner().invoke(
        agent_command, [*args, "--base-url", scripted_model.base_url, "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    summaries = [
        json.loads((tmp_path / name / "summary.json").read_text())
        for name in ("table", "side-table", "desk", "bench")
    ]
    assert [s["status"] for s in summaries] == ["accepted"] * 4
    pids = {s["pid"] for s in summaries}
    assert len(pids) == 2 and os.getpid() not in pids  # two workers, none of it in this process
    assert len(scripted_model.requests) == 4 * 5  # one step: 5 calls a design, each asked once
    batch = json.loads((tmp_path / "batch.json").read_text())
    assert batch["totals"]["accepted"] == 4 and batch["totals"]["calls"] == 20


def test_the_batch_cost_budget_holds_with_workers(scripted_model, tmp_path):
    """The budget is checked in the batch process; a worker's designs report their spending."""
    cats = tmp_path / "cats.txt"
    cats.write_text("table\ndesk\nbench\n")
    (tmp_path / "p.toml").write_text(
        f'[llm]\nbase_url = "{scripted_model.base_url}"\nmodel = "fake-vl"\n'
        '[prices."fake-vl"]\ninput = 1.0\noutput = 2.0\n'
    )
    args = ["--categories", str(cats), "-j", "2", "--workers", "2", "--check-variants", "0"]
    args += [
        "--config",
        str(tmp_path / "p.toml"),
        "--max-batch-cost",
        "0.000001",
        "-o",
        str(tmp_path / "runs"),
    ]
    result = CliRunner().invoke(agent_command, args)
    assert result.exit_code == 0, result.output
    assert len(scripted_model.requests) == 10  # two designs started side by side, then nothing new
    batch = json.loads((tmp_path / "runs" / "batch.json").read_text())
    assert [(row["accepted"], row["skipped"]) for row in batch["categories"]] == [(1, 0), (1, 0), (0, 1)]
    assert batch["categories"][2]["runs"][0]["reason"] == "batch cost budget (1e-06) spent; not started"
    assert batch["totals"]["cost"] > 0 and not (tmp_path / "runs" / "bench").exists()


def crash_on_desk(job: Job, progress, live) -> dict:
    """A design runner for the worker tests (module level: it pickles)."""
    progress("started")
    if job.category == "desk":
        os._exit(3)  # as a segfault in a native library would end the worker
    time.sleep(0.5)  # the desk's worker dies while this one is still running elsewhere
    return {"category": job.category, "design": None, "status": "accepted", "reason": "", "pid": os.getpid()}


def test_a_worker_that_dies_fails_its_designs_and_the_batch_goes_on(tmp_path):
    batch = Batch(tmp_path, ["table", "desk", "bench"], 1, crash_on_desk, None, jobs=2, workers=2)
    summary = batch.run()
    runs = {row["category"]: row["runs"][0] for row in summary["categories"]}
    assert runs["table"]["status"] == runs["bench"]["status"] == "accepted"
    assert runs["desk"]["status"] == "failed"
    assert runs["desk"]["reason"].startswith("WorkerDied: worker process ")
    assert runs["desk"]["reason"].endswith("ended (exit code 3) while running this design")
    pids = {r["pid"] for r in batch.results["table"] + batch.results["bench"]}
    assert os.getpid() not in pids  # the bench design ran in the worker that took the desk's place


def wait_for_stop(job: Job, progress, live) -> dict:
    """Steps until the batch stops it, then says so in its folder (module level: it pickles)."""
    try:
        while True:
            progress("working")
            time.sleep(0.01)
    except KeyboardInterrupt:
        (job.folder / "stopped").parent.mkdir(parents=True, exist_ok=True)
        (job.folder / "stopped").write_text(str(os.getpid()))
        raise


def test_stop_ends_the_designs_in_the_workers_at_their_next_step(tmp_path):
    import threading

    pool = WorkerPool(2, wait_for_stop)
    steps = threading.Event()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            pool.run(Job("table", Path(tmp_path / "table")), lambda message, cost: steps.set())
        except BaseException as exc:
            outcome.append(exc)

    waiting = threading.Thread(target=run)
    waiting.start()
    assert steps.wait(120)  # the design is running in its worker and relays its steps
    pool.stop()
    waiting.join(60)
    pool.close()
    assert [type(e) for e in outcome] == [KeyboardInterrupt]
    assert int((tmp_path / "table" / "stopped").read_text()) != os.getpid()
