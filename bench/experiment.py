"""The CPU path of `proto3d experiment`: what a fresh user waits for, and images per second.

    python bench/experiment.py [--size 64] [--variants 6] [--views 6] [--epochs 4]

Renders a tiny synthetic set and a target from other variants (another seed) of four example
prototypes, then runs `proto3d experiment classify` (ResNet-18) and `proto3d experiment partseg`
(FCN-ResNet50) as subprocesses, as a user would, and prints each step's wall time, the
training images/s the runs record in results.json, evaluation images/s measured here on the
target's val split (a model's eval speed does not depend on its weights), and the two results tables. Wall times on a shared
machine depend on its load: the script prints the load average next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOTYPES = ("chair", "mug", "table", "bottle")


def timed(args: list[str]) -> tuple[float, str]:
    """Wall seconds of a command, and what it printed (an experiment's results table)."""
    started = time.perf_counter()
    output = subprocess.run(args, check=True, stdout=subprocess.PIPE, text=True).stdout
    return time.perf_counter() - started, output


def eval_speed(kind: str, target: Path, size: int, classes: int) -> float:
    """Images per second of one pass over the target's val split with a fresh model."""
    import torch
    import torchvision

    if kind == "classify":
        from proto3d.experiment.classify import _transforms, evaluate, image_folder

        data = torchvision.datasets.ImageFolder(
            str(image_folder(str(target), "val")), _transforms(size, False)
        )
        model = torchvision.models.resnet18(num_classes=classes).eval()
        started = time.perf_counter()
        evaluate(model, data, torch.device("cpu"), 32, 0)
    else:
        from proto3d.experiment.partseg import SegFolder, evaluate, torchvision_model

        data = SegFolder(str(target), "val", size)
        model = torchvision_model("fcn_resnet50", classes, None).eval()
        started = time.perf_counter()
        evaluate(model, data, classes, torch.device("cpu"), 32, 0)
    return len(data) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--variants", type=int, default=6)
    parser.add_argument("--views", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    proto3d = [sys.executable, "-m", "proto3d"]
    shapes = [str(ROOT / "examples" / f"{name}.pdsl") for name in PROTOTYPES]
    common = ["--size", str(args.size), "--batch-size", "16", "--workers", "0", "-q"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        steps = {
            "dataset (synthetic)": proto3d
            + [
                "dataset",
                "-q",
                *shapes,
                "-o",
                str(root / "syn"),
                "--size",
                str(args.size),
                "--variants",
                str(args.variants),
                "--views",
                str(args.views),
                "--seed",
                "0",
            ],
            "dataset (target)": proto3d
            + [
                "dataset",
                "-q",
                *shapes,
                "-o",
                str(root / "tgt"),
                "--size",
                str(args.size),
                "--variants",
                str(max(2, args.variants // 2)),
                "--views",
                str(args.views),
                "--seed",
                "1",
                "--val",
                "0.5",
            ],
            "experiment classify": proto3d
            + [
                "experiment",
                "classify",
                "--synthetic",
                str(root / "syn"),
                "--target",
                str(root / "tgt"),
                "-o",
                str(root / "cls"),
                "--epochs",
                str(args.epochs),
                "--finetune-epochs",
                str(args.epochs),
                *common,
            ],
            "experiment partseg": proto3d
            + [
                "experiment",
                "partseg",
                "--synthetic",
                str(root / "syn"),
                "--target",
                str(root / "tgt"),
                "-o",
                str(root / "seg"),
                "--epochs",
                str(args.epochs),
                "--arch",
                "fcn_resnet50",
                *common,
            ],
        }
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        total, tables = 0.0, []
        for name, command in steps.items():
            seconds, output = timed(command)
            total += seconds
            tables += [f"{name}:", output] if name.startswith("experiment") else []
            print(f"{name:22s} {seconds:7.1f} s")
        print(f"{'end to end':22s} {total:7.1f} s   (load average after: {os.getloadavg()[0]:.1f})")
        classes = len(json.loads((root / "syn" / "labels.json").read_text())["parts"]) + 1
        for kind, folder in [("classify", "cls"), ("partseg", "seg")]:
            results = json.loads((root / folder / "results.json").read_text())
            for stage, timing in results["training_speed"].items():
                print(f"{kind} train {stage:20s} {timing['images_per_second']:7.1f} images/s")
            speed = eval_speed(
                kind, root / "tgt", args.size, len(PROTOTYPES) if kind == "classify" else classes
            )
            print(f"{kind} eval {'':21s} {speed:7.1f} images/s")
        print("\n".join(tables))


if __name__ == "__main__":
    main()
