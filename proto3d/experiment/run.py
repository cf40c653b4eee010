"""What both experiments share: the results folder, seeds, checkpoints, the progress bar and the
training loop. A stage (pretraining, fine-tuning, …) saves a checkpoint after every epoch; run
again with the same settings, the command loads finished stages and resumes an unfinished one at
its next epoch. Each epoch draws its shuffle and augmentations from a generator seeded by (seed,
stage, epoch), so a resumed run sees the same batches as one that was never stopped."""

from __future__ import annotations

import io
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from proto3d.cli_conventions import Echo
from proto3d.errors import Proto3dError, diagnostic
from proto3d.files import write_atomic, write_json
from proto3d.output_folder import check_unused, owned_files, remove_files

CONFIG = "config.json"
RESULTS = "results.json"


@dataclass
class Run:
    """A results folder: config.json (the settings, and every file the run may write), the stages'
    checkpoints under checkpoints/, results.json at the end."""

    out: Path
    config: dict
    echo: Echo
    device: torch.device
    stages: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)  # stage -> images trained and seconds, in this process

    def start(self, overwrite: bool) -> None:
        """Resume a run of the same config in `out`; refuse a run of another, or a used folder, unless `overwrite`."""
        old = _read_json(self.out / CONFIG)
        if old is not None and old.get("config") == self.config:
            self.echo.status(f"resuming the run in {self.out}")
        elif old is not None and not overwrite:
            changed = sorted(
                k
                for k in set(old.get("config", {})) | set(self.config)
                if old.get("config", {}).get(k) != self.config.get(k)
            )
            raise Proto3dError(
                diagnostic(
                    "X001",
                    f"{self.out} holds a run with other settings (changed: {', '.join(changed)})",
                    hint="rerun with its settings to resume it, give --overwrite, or choose a new folder",
                ),
                str(self.out / CONFIG),
            )
        else:
            check_unused(self.out, overwrite)
            if overwrite:
                remove_files(self.out, owned_files(self.out, CONFIG))
        files = [CONFIG, RESULTS, *(f"checkpoints/{stage}.pt" for stage in self.stages)]
        write_json(self.out / CONFIG, {"config": self.config, "files": files}, parents=True)

    def checkpoint(self, stage: str) -> Path:
        if stage not in self.stages:
            raise ValueError(f"stage {stage!r} is not listed in the run's files")
        return self.out / "checkpoints" / f"{stage}.pt"

    def seed(self, stage: str, epoch: int) -> int:
        return zlib.crc32(f"{self.config['seed']}/{stage}/{epoch}".encode())


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


class Progress:
    """One rich bar per stage on stderr: steps, images/s, time left (nothing with -q)."""

    def __init__(self, echo: Echo):
        self.bar = None
        if not echo.quiet:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )

    def __enter__(self) -> Progress:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar:
            self.bar.stop()

    def task(self, name: str, total: int, done: int = 0) -> Callable[[int, str], None]:
        """A new bar; the returned function advances it by n steps and shows `info`."""
        if not self.bar:
            return lambda n, info: None
        bar = self.bar
        task = bar.add_task(name, total=total, completed=done, info="")
        return lambda n, info: bar.update(task, advance=n, info=info)


def train_stage(
    run: Run,
    progress: Progress,
    stage: str,
    model: nn.Module,
    data: Dataset,
    loss: Callable,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    workers: int,
    frozen: bool = False,
) -> list[float]:
    """Train the model's trainable parameters with AdamW and a cosine schedule for `epochs`;
    returns the mean loss of every epoch. `frozen` keeps the model in eval mode (batch-norm
    statistics fixed), as a linear probe wants. A finished stage only loads its weights."""
    if len(data) == 0:
        raise Proto3dError(diagnostic("X002", f"{stage}: no training images"), str(run.out))
    model.to(run.device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps_per_epoch = -(-len(data) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * steps_per_epoch))
    losses: list[float] = []
    path = run.checkpoint(stage)
    if path.exists():
        state = torch.load(path, map_location=run.device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        losses = list(state["losses"])
        if len(losses) < epochs:
            run.echo.status(f"{stage}: resuming at epoch {len(losses) + 1}/{epochs}")
    advance = progress.task(stage, epochs * steps_per_epoch, len(losses) * steps_per_epoch)
    start, seen = time.perf_counter(), 0
    for epoch in range(len(losses), epochs):
        torch.manual_seed(run.seed(stage, epoch))
        loader = DataLoader(
            data,
            batch_size=batch_size,
            shuffle=True,
            num_workers=workers,
            generator=torch.Generator().manual_seed(run.seed(stage, epoch)),
        )
        model.train(not frozen)
        total, count = 0.0, 0
        for inputs, targets in loader:
            inputs, targets = inputs.to(run.device), targets.to(run.device)
            value = loss(model(inputs), targets)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            schedule.step()
            total += float(value.detach()) * len(inputs)
            count += len(inputs)
            seen += len(inputs)
            advance(1, f"epoch {epoch + 1}/{epochs} loss {total / count:.3f}")
        losses.append(total / max(count, 1))
        buffer = io.BytesIO()
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "losses": losses,
            },
            buffer,
        )
        write_atomic(path, buffer.getvalue(), parents=True)
    seconds = time.perf_counter() - start
    run.timings[stage] = {
        "images": seen,
        "seconds": round(seconds, 3),
        "images_per_second": round(seen / seconds, 2) if seen else None,
    }
    model.eval()
    return losses


def device(name: str) -> torch.device:
    """`auto`: the GPU when there is one. An unavailable device is a usage error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(name)
        torch.empty(1, device=chosen)
    except (RuntimeError, AssertionError) as error:
        raise click.BadParameter(f"{name!r} cannot be used here: {error}", param_hint="--device") from None
    return chosen


def load_weights(path: str, option: str) -> dict:
    """A local state dict; proto3d never downloads weights, so a missing file names the option that takes it."""
    file = Path(path)
    if not file.is_file():
        raise Proto3dError(
            diagnostic(
                "X003",
                f"{option} {path}: no such file",
                hint="give the path of a local checkpoint: proto3d never downloads weights",
            ),
            path,
        )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a file that is not a checkpoint
        raise Proto3dError(
            diagnostic("X003", f"{option} {path}: not a PyTorch checkpoint ({error})"), path
        ) from None
    return state.get("state_dict", state) if isinstance(state, dict) else state
