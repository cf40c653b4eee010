"""Part segmentation: train on synthetic part masks, evaluate on the target's masks in the same
vocabulary (mmsegmentation's layout: img_dir|ann_dir/{train,val}, 0 = background, 255 = ignore).

Arms: a torchvision segmentation model (DeepLabV3/FCN/LR-ASPP, from scratch or with a local
backbone checkpoint); with `--clip-weights`, an open_clip ViT whose patch tokens, projected into
the joint space, are scored against the text embeddings of the class names (DenseCLIP's dense
head, MaskCLIP's projection): zero-shot, then fine-tuned on the synthetic masks. A constant
predictor (the commonest training class everywhere) is the floor every arm is read against.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from proto3d.errors import Proto3dError, diagnostic
from proto3d.experiment.metrics import confusion_matrix, segmentation_metrics
from proto3d.experiment.run import Progress, Run, load_weights, train_stage

IGNORE = 255
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def seg_folders(root: str, split: str) -> tuple[Path, Path]:
    """(img_dir/SPLIT, ann_dir/SPLIT) under ROOT/segmentation (a proto3d dataset) or ROOT."""
    for base in [Path(root) / "segmentation", Path(root)]:
        images, labels = base / "img_dir" / split, base / "ann_dir" / split
        if images.is_dir() and labels.is_dir():
            return images, labels
    raise Proto3dError(
        diagnostic(
            "X004",
            f"{root}: no mmsegmentation {split} split",
            expected=f"{root}/segmentation/img_dir/{split}/ and ann_dir/{split}/ "
            f"(proto3d dataset --label-map …) or {root}/img_dir/{split}/ and {root}/ann_dir/{split}/",
        ),
        root,
    )


def class_names(root: str) -> list[str] | None:
    """["background", part names…] from a proto3d dataset's labels.json (None without one)."""
    try:
        labels = json.loads((Path(root) / "labels.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return ["background"] + [part["name"] for part in labels.get("parts", [])]


class SegFolder(Dataset):
    """(image float 3xSxS normalised, label int64 SxS) pairs; the label PNG has the image's stem."""

    def __init__(
        self, root: str, split: str, size: int, mean: tuple = MEAN, std: tuple = STD, train: bool = False
    ) -> None:
        images, labels = seg_folders(root, split)
        self.pairs = []
        for image in sorted(p for p in images.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"}):
            label = labels / f"{image.stem}.png"
            if not label.is_file():
                raise Proto3dError(diagnostic("X004", f"{image.name} has no label {label}"), str(image))
            self.pairs.append((image, label))
        self.size, self.train = size, train
        self.mean, self.std = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, label_path = self.pairs[index]
        with Image.open(image_path) as image, Image.open(label_path) as label:
            image = image.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
            if label.mode not in {"L", "P"}:
                raise Proto3dError(
                    diagnostic("X004", f"label {label_path.name} is {label.mode}, not an 8-bit class map"),
                    str(label_path),
                )
            label = label.resize((self.size, self.size), Image.Resampling.NEAREST)
            pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255
            classes = torch.from_numpy(np.asarray(label).astype(np.int64))
        if self.train and torch.rand(()) < 0.5:
            pixels, classes = pixels.flip(-1), classes.flip(-1)
        return (pixels - self.mean) / self.std, classes


def torchvision_model(arch: str, classes: int, backbone_weights: str | None) -> nn.Module:
    """A torchvision segmentation model with random weights, its backbone optionally from a local
    classification checkpoint (e.g. torchvision's resnet50 ImageNet file)."""
    model = torchvision.models.get_model(arch, weights=None, weights_backbone=None, num_classes=classes)
    if backbone_weights:
        state = load_weights(backbone_weights, "--backbone-weights")
        wanted = model.backbone.state_dict()
        state = {k: v for k, v in state.items() if k in wanted}
        missing = sorted(set(wanted) - set(state))
        if missing:
            raise Proto3dError(
                diagnostic(
                    "X003",
                    f"--backbone-weights {backbone_weights} is not a {arch} backbone "
                    f"(missing {len(missing)} tensors, e.g. {missing[0]})",
                ),
                backbone_weights,
            )
        model.backbone.load_state_dict(state)
    return _Out(model)


class _Out(nn.Module):
    """torchvision's segmentation models return {"out": logits, "aux": …}: keep the logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


class DenseClip(nn.Module):
    """CLIP's image encoder made dense: every patch token, through the final norm and projection,
    is compared (cosine, times CLIP's logit scale) with the text embedding of each class name;
    the class scores are upsampled to the input. The text embeddings are fixed."""

    def __init__(self, clip: nn.Module, text: torch.Tensor):
        super().__init__()
        self.visual = clip.visual
        self.visual.output_tokens = True
        self.register_buffer("text", F.normalize(text, dim=-1))
        self.logit_scale = nn.Parameter(clip.logit_scale.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        grid = self.visual.grid_size
        x = F.interpolate(x, size=self.visual.image_size, mode="bilinear", align_corners=False)
        _, tokens = self.visual(x)
        features = F.normalize(tokens @ self.visual.proj, dim=-1)
        scores = self.logit_scale.exp() * features @ self.text.t()
        scores = scores.transpose(1, 2).reshape(x.shape[0], -1, *grid)
        return F.interpolate(scores, size=size, mode="bilinear", align_corners=False)


def prompt(name: str) -> str:
    """The text for a class: "Quadruped/head" -> "a photo of the head of a quadruped."."""
    if "/" not in name:
        return f"a photo of the {name.replace('_', ' ')}."
    group, part = name.split("/", 1)
    return f"a photo of the {part.replace('_', ' ')} of a {group.replace('_', ' ').lower()}."


def clip_model(model_name: str, weights: str, names: list[str]) -> tuple[nn.Module, tuple, tuple]:
    """DenseClip from a local open_clip checkpoint (`model_name`: an open_clip name or a model
    config JSON); returns it with the mean and std its images are normalised with."""
    if not Path(weights).is_file():
        raise Proto3dError(
            diagnostic(
                "X003",
                f"--clip-weights {weights}: no such file",
                hint="give a local open_clip checkpoint (e.g. ViT-B-16's open_clip_pytorch_model.bin): "
                "proto3d never downloads weights",
            ),
            weights,
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a tokenizer from the Hugging Face hub must be in its cache
    import open_clip

    if model_name.endswith(".json"):
        if not Path(model_name).is_file():
            raise Proto3dError(diagnostic("X003", f"--clip-model {model_name}: no such file"), model_name)
        open_clip.add_model_config(model_name)
        model_name = Path(model_name).stem
    if model_name not in open_clip.list_models():
        raise Proto3dError(
            diagnostic(
                "X003",
                f"--clip-model {model_name}: not an open_clip model",
                hint="an open_clip name such as ViT-B-16, or a model config .json",
            ),
            model_name,
        )
    try:
        clip = open_clip.create_model(model_name, pretrained=weights, require_pretrained=True)
    except Exception as error:  # open_clip raises RuntimeError, KeyError, … for a checkpoint of another model
        raise Proto3dError(
            diagnostic("X003", f"--clip-weights {weights} does not load into {model_name}: {error}"), weights
        ) from None
    clip.eval()
    with torch.no_grad():
        text = clip.encode_text(open_clip.get_tokenizer(model_name)([prompt(n) for n in names]))
    return (
        DenseClip(clip, text),
        clip.visual.image_mean or open_clip.OPENAI_DATASET_MEAN,
        clip.visual.image_std or open_clip.OPENAI_DATASET_STD,
    )


def evaluate(
    model: nn.Module, data: SegFolder, classes: int, device: torch.device, batch_size: int, workers: int
) -> np.ndarray:
    confusion = np.zeros((classes, classes), np.int64)
    with torch.no_grad():
        for inputs, labels in DataLoader(data, batch_size=batch_size, num_workers=workers):
            predictions = model(inputs.to(device)).argmax(1).cpu().numpy()
            confusion += _confusion(labels.numpy(), predictions, classes)
    return confusion


def _confusion(labels: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    try:
        return confusion_matrix(labels, predictions, classes, IGNORE)
    except ValueError as error:
        raise Proto3dError(
            diagnostic(
                "X006",
                f"the target's labels are not in the synthetic set's vocabulary: {error}",
                hint="make both datasets with the same --label-map",
            )
        ) from None


def stages(config: dict) -> list[str]:
    return ["torchvision-train", *(["clip-train"] if config["clip_weights"] else [])]


def run_partseg(run: Run, config: dict) -> dict:
    c = config
    names = class_names(c["synthetic"])
    if names is None:
        raise Proto3dError(
            diagnostic(
                "X004",
                f"{c['synthetic']}: no labels.json naming the classes",
                hint="the synthetic set is a proto3d dataset folder",
            ),
            c["synthetic"],
        )
    target_names = class_names(c["target"])
    if target_names is not None and target_names != names:
        raise Proto3dError(
            diagnostic(
                "X006",
                "the target's classes differ from the synthetic set's",
                expected=", ".join(names),
                hint="make both datasets with the same --label-map",
            ),
            c["target"],
        )
    classes = len(names)
    train = dict(lr=c["lr"], weight_decay=c["weight_decay"], batch_size=c["batch_size"], workers=c["workers"])
    evaluation = dict(classes=classes, device=run.device, batch_size=c["batch_size"], workers=c["workers"])
    loss = nn.CrossEntropyLoss(ignore_index=IGNORE)
    arms: list[dict] = []

    def record(name: str, confusion: np.ndarray, **extra) -> None:
        metrics = segmentation_metrics(confusion, names)
        arms.append({"arm": name, **extra, **metrics})
        run.echo.status(f"{name}: mIoU {metrics['mIoU'] or 0:.3f}")

    synthetic = SegFolder(c["synthetic"], "train", c["size"], train=True)
    target = SegFolder(c["target"], "val", c["size"])
    counts = np.zeros(classes, np.int64)
    for _, label in synthetic.pairs:
        with Image.open(label) as mask:
            values = np.asarray(mask).ravel()
        counts += np.bincount(values[values != IGNORE], minlength=classes)[:classes]
    commonest = int(counts.argmax())
    constant = sum(
        (
            _confusion(labels.numpy(), np.full(labels.shape, commonest), classes)
            for _, labels in DataLoader(target, batch_size=c["batch_size"])
        ),
        np.zeros((classes, classes), np.int64),
    )
    record(f"constant ({names[commonest]})", constant)
    with Progress(run.echo) as progress:
        torch.manual_seed(c["seed"])
        model = torchvision_model(c["arch"], classes, c["backbone_weights"])
        losses = train_stage(run, progress, "torchvision-train", model, synthetic, loss, c["epochs"], **train)
        record(c["arch"], evaluate(model, target, **evaluation), losses=losses)
        if c["clip_weights"]:
            torch.manual_seed(c["seed"])
            clip, mean, std = clip_model(c["clip_model"], c["clip_weights"], names)
            clip.to(run.device)
            clip_synthetic = SegFolder(c["synthetic"], "train", c["size"], mean, std, train=True)
            clip_target = SegFolder(c["target"], "val", c["size"], mean, std)
            clip.eval()
            label = (
                f"CLIP {Path(c['clip_model']).stem if c['clip_model'].endswith('.json') else c['clip_model']}"
            )
            record(f"{label} zero-shot", evaluate(clip, clip_target, **evaluation))
            losses = train_stage(
                run,
                progress,
                "clip-train",
                clip,
                clip_synthetic,
                loss,
                c["epochs"],
                **{**train, "lr": c["clip_lr"]},
            )
            record(f"{label} fine-tuned", evaluate(clip, clip_target, **evaluation), losses=losses)
    return {
        "classes": names,
        "ignore_index": IGNORE,
        "train_images": len(synthetic),
        "val_images": len(target),
        "arms": arms,
    }


def table(results: dict) -> str:
    rows = [("arm", "mIoU", "mAcc", "aAcc")]
    rows += [
        (a["arm"], *(f"{a[k] * 100:.1f}" if a[k] is not None else "-" for k in ("mIoU", "mAcc", "aAcc")))
        for a in results["arms"]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
