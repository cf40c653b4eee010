"""`proto3d agent`: one category, a batch of categories, or the replay of a recorded run."""
from __future__ import annotations

import os
import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

from proto3d.cli_conventions import command_conventions, echo
from proto3d.grammar.diagnostics import Diagnostic, Proto3dError
from proto3d.llm import LLMError, ManualBackend, OpenAIBackend, load_config, redact, slug


def _role_models(values: tuple[str, ...]) -> dict:
    roles = {}
    for value in values:
        role, sep, model = value.partition("=")
        if not sep or not role or not model:
            raise click.BadParameter(f"{value!r}: expected ROLE=MODEL, e.g. inspector=gpt-4o", param_hint="--role-model")
        roles[role.strip()] = model.strip()
    return roles


def _categories(category: str | None, path: str | None) -> list[str]:
    names = [category] if category else []
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise Proto3dError(Diagnostic("E000", f"cannot read {path}: {reason}"), path) from None
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    if not names:
        raise click.UsageError("give a CATEGORY, --categories FILE or --replay RUN_DIR")
    return list(dict.fromkeys(names))


@click.command("agent")
@command_conventions
@click.argument("category", required=False)
@click.option("--categories", "categories_file", type=click.Path(),
              help="Batch mode: a file with one category per line (# comments allowed).")
@click.option("-o", "--out", type=click.Path(file_okay=False),
              help="Parent folder of the run folders (default runs/); with --replay, the replay's run folder.")
@click.option("--model", help="Model for every role (default from the config, else gpt-4o).")
@click.option("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 for Ollama.")
@click.option("--role-model", multiple=True, metavar="ROLE=MODEL",
              help="Model for one role or group: designer, coder, inspector, metricizer, refiner, repair...")
@click.option("--config", "config_path", type=click.Path(),
              help="TOML config (default: $PROTO3D_CONFIG, else ./proto3d.toml if present).")
@click.option("--llm", type=click.Choice(["openai", "manual"]), default="openai", show_default=True,
              help="manual: each request is written as Markdown and the loop waits for your answer file.")
@click.option("--replay", "replay_dir", type=click.Path(exists=True, file_okay=False),
              help="Re-run a recorded run fully offline from its calls/.")
@click.option("-j", "--jobs", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Objects run concurrently in batch mode.")
@click.option("--max-iterations", type=click.IntRange(0), help="Inspector rounds.")
@click.option("--max-tokens", type=click.IntRange(0), help="Token budget per object (0: none).")
@click.option("--max-cost", type=click.FloatRange(0), help="Cost budget per object (0: none).")
@click.option("--max-time", type=click.FloatRange(0), help="Wall-time budget per object, seconds (0: none).")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), help="Seconds per model request.")
def agent_command(category, categories_file, out, model, base_url, role_model, config_path, llm, replay_dir,
                  jobs, max_iterations, max_tokens, max_cost, max_time, timeout):
    """Make a part-labelled 3D prototype of CATEGORY with a designer, a coder and a visual inspector.

    Each object gets a run folder (OUT/<category>/) with the design, every program version,
    renders, verdicts, the final GLB and a report.html. Running the same command again
    resumes an interrupted run from its recorded calls.
    """
    from proto3d.agent import Agent, replay
    from proto3d.agent_run import RunInUse

    say = echo()  # taken here: the runs report from worker threads
    if replay_dir:
        target = Path(out) if out else Path(replay_dir) / "replay"
        if target.resolve() == Path(replay_dir).resolve():
            raise click.UsageError("the replay needs its own folder: -o must differ from the recorded run")
        try:
            summary = replay(replay_dir, target, progress=lambda m: say.status(f"  {m}"))
        except RunInUse as exc:  # another process runs in that folder
            raise Proto3dError(str(exc)) from None
        _table([summary], [target])
        sys.exit(0 if summary["status"] != "failed" else 1)

    names = _categories(category, categories_file)
    config_path = config_path or os.environ.get("PROTO3D_CONFIG") or (
        "proto3d.toml" if Path("proto3d.toml").exists() else None)
    try:
        config = load_config(config_path, model=model, base_url=base_url, timeout=timeout,
                             roles=_role_models(role_model), iterations=max_iterations, tokens=max_tokens,
                             cost=max_cost, seconds=max_time)
        backend = OpenAIBackend(config, notify=say.status) if llm == "openai" else None
    except LLMError as exc:
        raise Proto3dError(str(exc)) from None
    root = Path(out or "runs")
    folders = [root / slug(name) for name in names]
    say.detail(f"config {config_path or '(none)'}: model {config.model} at {config.base_url or 'api.openai.com'}, "
               f"roles {config.roles or '(all the same)'}, timeout {config.timeout} s; runs in {root}")

    def run_one(name: str, folder: Path, progress) -> dict:
        live = backend or ManualBackend(folder / "manual", notify=lambda m: click.echo(m, err=True))
        return Agent(name, folder, config, live, progress=progress).run()

    if len(names) == 1:
        try:
            summaries = [run_one(names[0], folders[0], lambda m: say.status(f"  {m}"))]
        except RunInUse as exc:  # another process runs in that folder
            raise Proto3dError(str(exc)) from None
    else:
        summaries = _batch(names, folders, run_one, jobs if llm == "openai" else 1, say.quiet)
    _table(summaries, folders)
    sys.exit(1 if any(s["status"] == "failed" for s in summaries) else 0)


def _batch(names, folders, run_one, jobs, quiet: bool) -> list[dict]:
    """Run many objects on a thread pool (the work is waiting for the model) with a live display on stderr.

    Ctrl-C stops every object at its next step (each run folder says `interrupted` and resumes
    when the command is run again).
    """
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    stop = threading.Event()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=Console(stderr=True),
                  disable=quiet) as bar:
        tasks = [bar.add_task(f"{name}: queued", total=None) for name in names]

        def job(i: int) -> dict:
            def progress(message: str) -> None:
                if stop.is_set():
                    raise KeyboardInterrupt
                bar.update(tasks[i], description=f"{names[i]}: {message}")

            try:
                summary = run_one(names[i], folders[i], progress)
            except Exception as exc:  # one object's crash must not take the batch down
                summary = {"category": names[i], "status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
            bar.update(tasks[i], description=f"{names[i]}: {summary['status']}", total=1, completed=1)
            return summary

        pool = ThreadPoolExecutor(max_workers=jobs)
        futures = [pool.submit(job, i) for i in range(len(names))]
        try:
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            stop.set()
            raise
        finally:
            pool.shutdown(wait=not stop.is_set(), cancel_futures=True)


def _table(summaries: list[dict], folders: list[Path]) -> None:
    """The runs' final report, a finding: stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table("category", "status", "iterations", "best score", "tokens", "cost", "time s", "folder")
    for s, folder in zip(summaries, folders):
        usage = s.get("usage", {})
        table.add_row(s["category"], s["status"], str(s.get("iterations", "")), str(s.get("best_score", "")),
                      str(usage.get("tokens", "")), f"{usage.get('cost', 0):.4f}", f"{s.get('seconds', 0):.1f}",
                      str(folder))
    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)
    for s in summaries:
        if s["status"] == "failed":
            click.echo(redact(f"{s['category']}: {s.get('reason', '')}"))
