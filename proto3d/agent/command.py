"""`proto3d agent`: one category, a batch of categories, or the replay of a recorded run."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from proto3d.cli_conventions import Echo, command_conventions, echo
from proto3d.errors import Diagnostic, Proto3dError
from proto3d.llm.client import LLMError, ManualBackend, OpenAIBackend, load_config, redact, slug


def _role_models(values: tuple[str, ...]) -> dict:
    roles = {}
    for value in values:
        role, sep, model = value.partition("=")
        if not sep or not role or not model:
            raise click.BadParameter(
                f"{value!r}: expected ROLE=MODEL, e.g. inspector=gpt-4o", param_hint="--role-model"
            )
        roles[role.strip()] = model.strip()
    return roles


def _categories(category: str | None, path: str | None) -> list[str]:
    names = [category] if category else []
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise Proto3dError(Diagnostic("E903", f"cannot read {path}: {reason}"), path) from None
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
@click.option(
    "--categories",
    "categories_file",
    type=click.Path(),
    help="Batch mode: a file with one category per line (# comments allowed).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    help="Parent folder of the run folders (default runs/); with --replay, the replay's run folder.",
)
@click.option("--model", help="Model for every role (default from the config, else gpt-4o).")
@click.option("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 for Ollama.")
@click.option(
    "--role-model",
    multiple=True,
    metavar="ROLE=MODEL",
    help="Model for one role or group: designer, coder, inspector, metricizer, refiner, repair...",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(),
    help="TOML config (default: $PROTO3D_CONFIG, else ./proto3d.toml if present).",
)
@click.option(
    "--llm",
    type=click.Choice(["openai", "manual"]),
    default="openai",
    show_default=True,
    help="manual: each request is written as Markdown and the loop waits for your answer file.",
)
@click.option(
    "--replay",
    "replay_dir",
    type=click.Path(exists=True, file_okay=False),
    help="Re-run a recorded run fully offline from its calls/.",
)
@click.option(
    "-j",
    "--jobs",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Objects run concurrently in batch mode.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    help="Batch mode: processes the designs run in (default: one per CPU, at most --jobs; 1: this process).",
)
@click.option(
    "--designs",
    "--per-category",
    "designs",
    default=1,
    show_default=True,
    type=click.IntRange(1, 20),
    help="Structurally different designs per category, each its own run in OUT/<category>/<design>/.",
)
@click.option(
    "--check-variants",
    default=8,
    show_default=True,
    type=click.IntRange(0),
    help="Variants of the accepted program compiled, linted and shown to the inspector (0: off; else >= 6).",
)
@click.option(
    "--one-step/--two-step",
    default=True,
    show_default=True,
    help="The coder writes the detailed program at once from the arrangement, or (two steps, the "
    "paper's flow) a coarse program that the refiner details after seeing its render.",
)
@click.option(
    "--polish/--no-polish",
    default=True,
    show_default=True,
    help="After an accept that lists problems, one more coder round applies them; the better version is kept.",
)
@click.option(
    "--questions/--no-questions",
    default=False,
    show_default=True,
    help="The inspector first answers yes/no questions generated from the plan, then scores.",
)
@click.option(
    "--vocab",
    metavar="FILE_OR_NAME",
    help="Part vocabulary (TOML file or installed name): the only labels allowed.",
)
@click.option(
    "--max-batch-cost",
    type=click.FloatRange(0),
    default=0.0,
    help="Batch mode: no new design starts once the batch has spent this much (0: no limit).",
)
@click.option("--max-iterations", type=click.IntRange(0), help="Inspector rounds (0: no limit).")
@click.option("--max-tokens", type=click.IntRange(0), help="Token budget per object (0: none).")
@click.option("--max-cost", type=click.FloatRange(0), help="Cost budget per object (0: none).")
@click.option("--max-time", type=click.FloatRange(0), help="Wall-time budget per object, seconds (0: none).")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), help="Seconds per model request.")
@click.option(
    "--structured/--no-structured",
    default=None,
    help="Send JSON answers' schemas as response_format (default: on; dropped where the server refuses it).",
)
@click.option(
    "--constrain",
    type=click.Choice(["none", "grammar"]),
    help="grammar: coder requests carry the pdsl grammar as a decoding constraint (vLLM, guidance backend).",
)
def agent_command(
    category,
    categories_file,
    out,
    model,
    base_url,
    role_model,
    config_path,
    llm,
    replay_dir,
    jobs,
    workers,
    designs,
    check_variants,
    one_step,
    polish,
    questions,
    vocab,
    max_batch_cost,
    max_iterations,
    max_tokens,
    max_cost,
    max_time,
    timeout,
    structured,
    constrain,
):
    """Make a part-labelled 3D prototype of CATEGORY with a designer, a coder and a visual inspector.

    Each object gets a run folder (OUT/<category>/) with the design, every program version,
    renders, verdicts, the final GLB and a report.html. Running the same command again
    resumes an interrupted run from its recorded calls.
    """
    from proto3d.agent.loop import plan_designs, replay
    from proto3d.agent.run import RunInUse
    from proto3d.agent.workers import default_workers

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

    if 0 < check_variants < 6:
        raise click.BadParameter(
            "0 (off) or at least 6 (the inspector's sheet shows at least 6)", param_hint="--check-variants"
        )
    names = _categories(category, categories_file)
    vocabularies = _vocabularies(vocab, names)
    config_path = (
        config_path
        or os.environ.get("PROTO3D_CONFIG")
        or ("proto3d.toml" if Path("proto3d.toml").exists() else None)
    )
    try:
        config = load_config(
            config_path,
            model=model,
            base_url=base_url,
            timeout=timeout,
            structured=structured,
            constrain=constrain,
            roles=_role_models(role_model),
            iterations=max_iterations,
            tokens=max_tokens,
            cost=max_cost,
            seconds=max_time,
        )
        backend = OpenAIBackend(config, notify=say.status) if llm == "openai" else None
    except LLMError as exc:
        raise Proto3dError(str(exc)) from None
    root = Path(out or "runs")
    folders = [root / slug(name) for name in names]
    say.detail(
        f"config {config_path or '(none)'}: model {config.model} at {config.base_url or 'api.openai.com'}, "
        f"roles {config.roles or '(all the same)'}, timeout {config.timeout} s; runs in {root}"
    )

    options = {
        "check_variants": check_variants,
        "one_step": one_step,
        "polish": polish,
        "questions": questions,
    }
    runner = DesignRunner(config, options, vocabularies, say, backend)

    if len(names) == 1 and designs == 1:
        try:
            summaries = [runner.agent(names[0], folders[0], lambda m: say.status(f"  {m}")).run()]
        except RunInUse as exc:  # another process runs in that folder
            raise Proto3dError(str(exc)) from None
        _table(summaries, folders)
        sys.exit(1 if any(s["status"] == "failed" for s in summaries) else 0)

    def plan(name: str, folder: Path, progress) -> dict:
        live = backend or ManualBackend(folder / "manual", notify=lambda m: click.echo(m, err=True))
        labels, allow_other = vocabularies[name]
        return plan_designs(name, folder, config, live, designs, labels, allow_other, progress)

    jobs = jobs if llm == "openai" else 1  # a person answers one question at a time
    workers = workers or default_workers()
    summary = _batch(root, names, designs, runner, plan, jobs, workers, max_batch_cost, say.quiet)
    _batch_table(summary)
    runs = [r for row in summary["categories"] for r in row["runs"]]
    sys.exit(1 if any(r["status"] == "failed" for r in runs) else 0)


def _batch(root, names, designs, run_design, plan, jobs, workers, max_cost, quiet: bool) -> dict:
    """The batch in `workers` processes with a live line per running design on stderr.

    Ctrl-C stops every design at its next step (each run folder says `interrupted` and resumes
    when the command is run again).
    """
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from proto3d.agent.batch import Batch

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet,
    ) as bar:
        return Batch(root, names, designs, run_design, plan, jobs, max_cost, bar, workers).run()


@dataclass
class DesignRunner:
    """Makes the agent of one design and runs it: `runner(job, progress, live)` for the batch.

    It goes to the batch's worker processes by pickle: there `backend` (a live connection) is
    made again from `config`; None is a person answering (ManualBackend), never in a worker."""

    config: object  # LLMConfig
    options: dict  # Agent keyword arguments the command was given
    vocabularies: dict  # category -> (labels or None, allow_other)
    say: Echo
    backend: object = None  # Backend

    def agent(self, name: str, folder: Path, progress, plan=None):
        from proto3d.agent.loop import Agent

        live = self.backend or ManualBackend(folder / "manual", notify=lambda m: click.echo(m, err=True))
        labels, allow_other = self.vocabularies[name]
        return Agent(
            name,
            folder,
            self.config,
            live,
            progress=progress,
            plan=plan,
            vocabulary=labels,
            allow_other=allow_other,
            **self.options,
        )

    def __call__(self, job, progress, live) -> dict:
        agent = self.agent(job.category, job.folder, progress, job.plan)
        live(agent)
        return agent.run()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "backend": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, backend=OpenAIBackend(state["config"], notify=state["say"].status))


def _vocabularies(vocab: str | None, names: list[str]) -> dict:
    """{category: (labels or None, allow_other)}; a category the vocabulary does not cover is an input error.

    Labels are written as program identifiers (`side mirror` -> `side_mirror`, `vocab.category_key`),
    since a part label in pdsl is an identifier."""
    if vocab is None:
        return {name: (None, False) for name in names}
    from proto3d.vocab import category_key, load_vocabulary

    vocabulary = load_vocabulary(vocab)
    out = {}
    for name in names:
        labels = vocabulary.labels_for(name)
        if labels is None:
            raise Proto3dError(
                Diagnostic(
                    "E000",
                    f"the vocabulary {vocab} has no part labels for {name!r}",
                    hint="add the category (or map it to a super-category) in the vocabulary",
                )
            )
        out[name] = ({category_key(label): text for label, text in labels.items()}, vocabulary.allow_other)
    return out


def _batch_table(summary: dict) -> None:
    """The batch's final report per category, a finding: stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "category",
        "designs",
        "accepted",
        "budget",
        "failed",
        "skipped",
        "calls",
        "tokens",
        "cost",
        "cost/accepted",
        "variant pass",
    )
    for row in summary["categories"] + [summary["totals"]]:
        per = row["cost_per_accepted"]
        rate = row["variant_pass_rate"]
        table.add_row(
            row["category"],
            *(str(row[k]) for k in ("designs", "accepted", "budget", "failed", "skipped", "calls", "tokens")),
            f"{row['cost']:.4f}",
            "" if per is None else f"{per:.4f}",
            "" if rate is None else f"{rate:.0%}",
        )
    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)
    for row in summary["categories"]:
        for run in row["runs"]:
            if run["status"] == "failed":
                click.echo(
                    redact(
                        f"{row['category']}"
                        + (f" / {run['design']}" if run.get("design") else "")
                        + f": {run.get('reason', '')}"
                    )
                )


def _table(summaries: list[dict], folders: list[Path]) -> None:
    """The runs' final report, a finding: stdout."""
    from rich.console import Console
    from rich.table import Table

    from proto3d.agent.run import token_count

    table = Table("category", "status", "iterations", "best score", "tokens", "cost", "time s", "folder")
    for s, folder in zip(summaries, folders):
        usage = s.get("usage", {})
        table.add_row(
            s["category"],
            s["status"],
            str(s.get("iterations", "")),
            str(s.get("best_score", "")),
            token_count(usage, "tokens"),
            f"{usage.get('cost', 0):.4f}",
            f"{s.get('seconds', 0):.1f}",
            str(folder),
        )
    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)
    for s in summaries:
        if s["status"] == "failed":
            click.echo(redact(f"{s['category']}: {s.get('reason', '')}"))
