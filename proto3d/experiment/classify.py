"""Classification: does pretraining on synthetic renders help a classifier of real images?

Arms, all evaluated on the target's val split after fine-tuning on its train split: no
pretraining; pretraining on the synthetic set; with `--baseline DIR`, pretraining on another set
(the 2D images of earlier work). Pretraining uses the target's classes: each synthetic category
maps to a target class by name or by the class map, so the pretrained head is the fine-tuning
head's start. `--probe` adds a linear probe (frozen backbone, new head) of each pretrained model.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision import transforms

from proto3d.errors import Proto3dError, diagnostic
from proto3d.experiment.metrics import topk_accuracy
from proto3d.experiment.run import Progress, Run, train_stage
from proto3d.vocab import category_key

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as torchvision's models expect


def image_folder(root: str, split: str, whole: bool = False) -> Path:
    """The ImageFolder of a split: ROOT/classification/SPLIT (a proto3d dataset) or ROOT/SPLIT;
    with `whole`, ROOT itself when it holds class folders (a pretraining set without splits)."""
    base = Path(root)
    for folder in [base / "classification" / split, base / split, *([base] if whole else [])]:
        if folder.is_dir() and any(child.is_dir() for child in folder.iterdir()):
            return folder
    raise Proto3dError(
        diagnostic(
            "X004",
            f"{root}: no image folder for the {split} split",
            expected=f"{root}/classification/{split}/<class>/*.png (a proto3d dataset) or {root}/{split}/<class>/*"
            + (f" or {root}/<class>/*" if whole else ""),
        ),
        root,
    )


def read_class_map(path: str) -> dict[str, str]:
    """A TOML file of `"synthetic category" = "target class"` lines."""
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise Proto3dError(diagnostic("X005", f"not a TOML class map: {error}"), path) from None
    bad = [key for key, value in table.items() if not isinstance(value, str)]
    if bad:
        raise Proto3dError(
            diagnostic(
                "X005",
                f"class map entry {bad[0]!r} is not a class name",
                expected='"synthetic category" = "target class"',
            ),
            path,
        )
    return table


def class_mapping(
    synthetic: list[str], target: list[str], class_map: dict[str, str] | None = None
) -> dict[int, int]:
    """Synthetic class index -> target class index. A class map names them exactly; without one,
    names match ignoring case, spaces, hyphens and underscores. Unmatched categories are left out."""
    by_key = {category_key(name): i for i, name in enumerate(target)}
    if class_map is None:
        mapping = {
            i: by_key[category_key(name)] for i, name in enumerate(synthetic) if category_key(name) in by_key
        }
    else:
        unknown = [n for n in class_map if n not in synthetic] + [
            n for n in class_map.values() if n not in target
        ]
        if unknown:
            raise Proto3dError(
                diagnostic(
                    "X005",
                    f"class map names {unknown[0]!r}, which is not a class",
                    expected=f"synthetic: {', '.join(synthetic)}; target: {', '.join(target)}",
                )
            )
        mapping = {synthetic.index(s): target.index(t) for s, t in class_map.items()}
    if not mapping:
        raise Proto3dError(
            diagnostic(
                "X005",
                "no synthetic category matches a target class",
                expected=f"synthetic: {', '.join(synthetic)}; target: {', '.join(target)}",
                hint="give --class-map FILE",
            )
        )
    return mapping


def _transforms(size: int, train: bool) -> transforms.Compose:
    steps = (
        [
            transforms.RandomResizedCrop(size, scale=(0.5, 1.0), antialias=True),
            transforms.RandomHorizontalFlip(),
        ]
        if train
        else [transforms.Resize(size, antialias=True), transforms.CenterCrop(size)]
    )
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


def _pretraining_set(root: str, target: list[str], class_map: dict[str, str] | None, size: int):
    data = torchvision.datasets.ImageFolder(
        str(image_folder(root, "train", whole=True)), _transforms(size, True)
    )
    mapping = class_mapping(data.classes, target, class_map)
    data.samples = [(path, mapping[label]) for path, label in data.samples if label in mapping]
    data.targets = [label for _, label in data.samples]
    return data, sorted(data.classes[i] for i in set(data.class_to_idx.values()) - set(mapping))


def _head(model: nn.Module) -> nn.Linear:
    """The classifier: torchvision's models end in one Linear layer (fc, classifier[-1], heads.head)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


def evaluate(model: nn.Module, data, device: torch.device, batch_size: int, workers: int) -> dict:
    scores, labels = [], []
    with torch.no_grad():
        for inputs, targets in torch.utils.data.DataLoader(data, batch_size=batch_size, num_workers=workers):
            scores.append(model(inputs.to(device)).float().cpu().numpy())
            labels.append(targets.numpy())
    scores_all, labels_all = np.concatenate(scores), np.concatenate(labels)
    return {
        "top1": topk_accuracy(scores_all, labels_all, 1),
        "top5": topk_accuracy(scores_all, labels_all, 5),
        "images": len(labels_all),
    }


def stages(config: dict) -> list[str]:
    """Every stage the run trains, in order (their checkpoints are the run's files)."""
    names = ["none-finetune"]
    for arm in ["synthetic", *(["baseline"] if config["baseline"] else [])]:
        names += [f"{arm}-pretrain", f"{arm}-finetune", *([f"{arm}-probe"] if config["probe"] else [])]
    return names


def run_classify(run: Run, config: dict) -> dict:
    """Train and evaluate every arm; returns results.json's content (without the config)."""
    c = config
    target_train = torchvision.datasets.ImageFolder(
        str(image_folder(c["target"], "train")), _transforms(c["size"], True)
    )
    target_val = torchvision.datasets.ImageFolder(
        str(image_folder(c["target"], "val")), _transforms(c["size"], False)
    )
    if target_val.classes != target_train.classes:
        raise Proto3dError(
            diagnostic(
                "X004",
                "the target's train and val splits have different classes",
                expected=f"{', '.join(target_train.classes)}",
            ),
            c["target"],
        )
    classes = target_train.classes
    class_map = read_class_map(c["class_map"]) if c["class_map"] else None
    torch.manual_seed(c["seed"])
    initial = torchvision.models.get_model(c["arch"], weights=None, num_classes=len(classes))
    train = dict(lr=c["lr"], weight_decay=c["weight_decay"], batch_size=c["batch_size"], workers=c["workers"])
    loss = nn.CrossEntropyLoss()
    arms: list[dict] = []

    def finish(
        name: str, model: nn.Module, pretraining: int, stage: str, epochs: int, frozen: bool, **extra
    ) -> None:
        losses = train_stage(run, progress, stage, model, target_train, loss, epochs, frozen=frozen, **train)
        result = evaluate(model, target_val, run.device, c["batch_size"], c["workers"])
        arms.append(
            {
                "arm": name,
                "pretraining_images": pretraining,
                "losses": {stage: losses, **extra.pop("losses", {})},
                **extra,
                **result,
            }
        )
        run.echo.status(f"{name}: top-1 {result['top1']:.3f}")

    with Progress(run.echo) as progress:
        finish("no pretraining", copy.deepcopy(initial), 0, "none-finetune", c["finetune_epochs"], False)
        for arm, root in [
            ("synthetic", c["synthetic"]),
            *([("baseline", c["baseline"])] if c["baseline"] else []),
        ]:
            data, unmatched = _pretraining_set(root, classes, class_map, c["size"])
            if unmatched:
                run.echo.status(
                    f"{arm}: categories matching no target class, left out: {', '.join(unmatched)}"
                )
            model = copy.deepcopy(initial)
            pre = train_stage(run, progress, f"{arm}-pretrain", model, data, loss, c["epochs"], **train)
            before = evaluate(model, target_val, run.device, c["batch_size"], c["workers"])["top1"]
            probe = copy.deepcopy(model) if c["probe"] else None
            finish(
                f"{arm} + fine-tune",
                model,
                len(data),
                f"{arm}-finetune",
                c["finetune_epochs"],
                False,
                losses={f"{arm}-pretrain": pre},
                top1_before_finetune=before,
                dataset=root,
            )
            if probe is not None:
                for parameter in probe.parameters():
                    parameter.requires_grad = False
                head = _head(probe)
                torch.manual_seed(run.seed(f"{arm}-probe", -1))
                head.reset_parameters()
                for parameter in head.parameters():
                    parameter.requires_grad = True
                finish(
                    f"{arm} + linear probe",
                    probe,
                    len(data),
                    f"{arm}-probe",
                    c["probe_epochs"],
                    True,
                    losses={f"{arm}-pretrain": pre},
                    dataset=root,
                )
    reference = arms[0]["top1"]
    for arm in arms:
        arm["delta_top1"] = arm["top1"] - reference
    return {"classes": classes, "chance_top1": 1 / len(classes), "arms": arms}


def table(results: dict) -> str:
    rows = [("arm", "pretraining images", "top-1", "top-5", "Δ top-1 vs no pretraining")]
    rows += [
        (
            a["arm"],
            str(a["pretraining_images"]),
            f"{a['top1'] * 100:.1f} %",
            f"{a['top5'] * 100:.1f} %",
            f"{a['delta_top1'] * 100:+.1f}",
        )
        for a in results["arms"]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
