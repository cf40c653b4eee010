"""`proto3d experiment classify|partseg`: the command line; torch is imported only when one runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from proto3d.cli_conventions import command_conventions, echo
from proto3d.errors import Proto3dError, diagnostic
from proto3d.output_folder import OVERWRITE_OPTION

EXTRA = 'pip install "proto3d[train]"'


@click.group("experiment")
def experiment_command() -> None:
    """The paper's experiments on a proto3d dataset: classification pretraining and part segmentation.

    \b
      proto3d experiment classify --synthetic data/ --target real/ -o results/
      proto3d experiment partseg --synthetic data/ --target real/ -o results/

    Needs the [train] extra (torch, torchvision, open_clip_torch). Nothing is downloaded: weights
    come from local files. A run writes config.json first and checkpoints after every epoch; the
    same command run again resumes it.
    """
    missing = [name for name in ("torch", "torchvision") if importlib.util.find_spec(name) is None]
    if missing:
        raise click.UsageError(f"proto3d experiment needs {' and '.join(missing)}: {EXTRA}")


def _common(command):
    options = [
        click.option(
            "--synthetic",
            required=True,
            type=click.Path(exists=True, file_okay=False),
            help="The synthetic dataset (a `proto3d dataset` folder).",
        ),
        click.option(
            "--target",
            required=True,
            type=click.Path(exists=True, file_okay=False),
            help="The target dataset with train and val splits (see docs/experiments.md).",
        ),
        click.option(
            "-o",
            "--out",
            required=True,
            type=click.Path(file_okay=False, path_type=Path),
            help="The results folder: config.json, checkpoints/, results.json.",
        ),
        click.option(
            "--size",
            type=click.IntRange(16, 2048),
            default=224,
            show_default=True,
            help="Input size in pixels.",
        ),
        click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True),
        click.option(
            "--lr",
            type=click.FloatRange(0, min_open=True),
            default=1e-3,
            show_default=True,
            help="AdamW learning rate.",
        ),
        click.option("--weight-decay", type=click.FloatRange(0), default=0.05, show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option(
            "--workers", type=click.IntRange(0), default=2, show_default=True, help="Data loader processes."
        ),
        click.option(
            "--device",
            default="auto",
            show_default=True,
            help="auto (a GPU if there is one), cpu, cuda, cuda:1, …",
        ),
        OVERWRITE_OPTION,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run(module: str, out: Path, overwrite: bool, device: str, config: dict) -> None:
    """Resolve the data paths, start (or resume) the run, write results.json and print the table."""
    import torch
    import torchvision

    from proto3d.experiment import classify, partseg
    from proto3d.experiment.run import RESULTS, Run
    from proto3d.experiment.run import device as pick_device
    from proto3d.files import write_json

    experiment = {"classify": classify, "partseg": partseg}[module]
    for key in ("backbone_weights", "clip_weights"):  # checked before any training, not after hours of it
        if config.get(key) and not Path(config[key]).is_file():
            raise Proto3dError(
                diagnostic(
                    "X003",
                    f"--{key.replace('_', '-')} {config[key]}: no such file",
                    hint="give the path of a local checkpoint: proto3d never downloads weights",
                ),
                config[key],
            )
    for key in (
        "synthetic",
        "target",
        "baseline",
        "class_map",
        "backbone_weights",
        "clip_weights",
        "clip_model",
    ):
        if config.get(key) and (key != "clip_model" or config[key].endswith(".json")):
            config[key] = str(Path(config[key]).resolve())
    config = {
        "experiment": module,
        **config,
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__},
    }
    run = Run(out, config, echo(), pick_device(device), experiment.stages(config))
    run.start(overwrite)
    torch.use_deterministic_algorithms(True, warn_only=True)
    results = (
        experiment.run_partseg(run, config) if module == "partseg" else experiment.run_classify(run, config)
    )
    write_json(out / RESULTS, {"config": config, **results, "training_speed": run.timings})
    echo().finding(experiment.table(results))
    echo().status(f"results -> {out / RESULTS}")


@experiment_command.command("classify")
@_common
@click.option(
    "--arch",
    default="resnet18",
    show_default=True,
    help="A torchvision classification model (trained from scratch).",
)
@click.option(
    "--baseline",
    type=click.Path(exists=True, file_okay=False),
    help="Another pretraining set (an ImageFolder, e.g. LLM-drawn 2D images), as a third arm.",
)
@click.option(
    "--class-map",
    type=click.Path(exists=True, dir_okay=False),
    help='TOML: "synthetic category" = "target class" (default: matching names).',
)
@click.option("--probe", is_flag=True, help="Also linear-probe each pretrained backbone.")
@click.option("--epochs", type=click.IntRange(1), default=30, show_default=True, help="Pretraining epochs.")
@click.option("--finetune-epochs", type=click.IntRange(1), default=30, show_default=True)
@click.option("--probe-epochs", type=click.IntRange(1), default=30, show_default=True)
@command_conventions
def classify_command(out: Path, overwrite: bool, device: str, **config) -> None:
    """Pretrain on synthetic renders, fine-tune and evaluate on a target ImageFolder, beside no pretraining.

    Prints arm, pretraining images, target val top-1 and top-5, and the top-1 gain over no pretraining.
    """
    import torchvision

    if config["arch"] not in torchvision.models.list_models(module=torchvision.models):
        raise click.BadParameter(
            f"{config['arch']!r} is not a torchvision classification model", param_hint="--arch"
        )
    _run("classify", out, overwrite, device, config)


@experiment_command.command("partseg")
@_common
@click.option(
    "--arch",
    default="deeplabv3_resnet50",
    show_default=True,
    type=click.Choice(
        [
            "deeplabv3_resnet50",
            "deeplabv3_resnet101",
            "fcn_resnet50",
            "fcn_resnet101",
            "deeplabv3_mobilenet_v3_large",
            "lraspp_mobilenet_v3_large",
        ]
    ),
    help="The torchvision segmentation model.",
)
@click.option(
    "--backbone-weights",
    type=click.Path(dir_okay=False),
    help="A local classification checkpoint of its backbone (default: from scratch).",
)
@click.option(
    "--clip-weights",
    type=click.Path(dir_okay=False),
    help="A local open_clip checkpoint: adds the CLIP arms (zero-shot and fine-tuned).",
)
@click.option(
    "--clip-model",
    default="ViT-B-16",
    show_default=True,
    help="The open_clip model name, or a model config .json.",
)
@click.option("--clip-lr", type=click.FloatRange(0, min_open=True), default=1e-4, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=30, show_default=True)
@command_conventions
def partseg_command(out: Path, overwrite: bool, device: str, **config) -> None:
    """Train part segmentation on synthetic masks, evaluate on the target's val masks in the same vocabulary.

    Prints mIoU, mAcc and aAcc per arm; results.json has the per-class IoU.
    """
    _run("partseg", out, overwrite, device, config)
