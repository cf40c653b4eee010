"""Evaluation metrics in plain NumPy, so they are checked by hand-computed cases without torch."""

from __future__ import annotations

import numpy as np


def confusion_matrix(
    labels: np.ndarray, predictions: np.ndarray, classes: int, ignore_index: int = 255
) -> np.ndarray:
    """(classes, classes) int64 counts, rows the true class, columns the prediction; pixels labelled
    `ignore_index` are not counted. A label outside 0..classes-1 is a ValueError (a wrong vocabulary)."""
    labels = np.asarray(labels).ravel().astype(np.int64)
    predictions = np.asarray(predictions).ravel().astype(np.int64)
    keep = labels != ignore_index
    labels, predictions = labels[keep], predictions[keep]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"label {int(labels.max() if labels.max() >= classes else labels.min())} is not a class "
            f"(0..{classes - 1}, {ignore_index} = ignore)"
        )
    return np.bincount(labels * classes + predictions, minlength=classes * classes).reshape(classes, classes)


def segmentation_metrics(confusion: np.ndarray, names: list[str]) -> dict:
    """mmsegmentation's IoUMetric: mIoU and mAcc average the classes present in the labels (a class
    absent from them has no IoU: None, and is left out of the means); aAcc is overall pixel accuracy."""
    confusion = np.asarray(confusion, dtype=np.float64)
    true = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    hits = np.diag(confusion)
    present = true > 0
    iou = np.divide(hits, true + predicted - hits, out=np.zeros_like(hits), where=present)
    accuracy = np.divide(hits, true, out=np.zeros_like(hits), where=present)
    total = true.sum()
    return {
        "mIoU": float(iou[present].mean()) if present.any() else None,
        "mAcc": float(accuracy[present].mean()) if present.any() else None,
        "aAcc": float(hits.sum() / total) if total else None,
        "per_class_iou": {name: float(iou[i]) if present[i] else None for i, name in enumerate(names)},
    }


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the k highest scores (k is capped at the number of classes)."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean()) if len(labels) else 0.0
