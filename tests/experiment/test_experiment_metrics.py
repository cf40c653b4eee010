"""The experiment metrics (plain NumPy: they run without the [train] extra) against hand-computed cases."""

import numpy as np
import pytest

from proto3d.experiment.metrics import confusion_matrix, segmentation_metrics, topk_accuracy


def test_confusion_matrix_counts_pixels_and_skips_the_ignore_index():
    labels = np.array([[0, 0, 1], [1, 255, 2]])
    predicted = np.array([[0, 1, 1], [2, 0, 2]])
    assert confusion_matrix(labels, predicted, 3).tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_a_label_outside_the_vocabulary_is_an_error():
    with pytest.raises(ValueError, match="label 7 is not a class"):
        confusion_matrix(np.array([0, 7]), np.array([0, 0]), 3)


def test_segmentation_metrics_by_hand():
    # rows true, columns predicted; class 2 never occurs in the labels (but is predicted once)
    confusion = np.array([[3, 1, 0], [1, 4, 1], [0, 0, 0]])
    m = segmentation_metrics(confusion, ["background", "seat", "leg"])
    iou_bg, iou_seat = 3 / (4 + 4 - 3), 4 / (6 + 5 - 4)
    assert m["per_class_iou"] == {
        "background": pytest.approx(iou_bg),
        "seat": pytest.approx(iou_seat),
        "leg": None,
    }
    assert m["mIoU"] == pytest.approx((iou_bg + iou_seat) / 2)  # the absent class is left out, as mmseg does
    assert m["mAcc"] == pytest.approx((3 / 4 + 4 / 6) / 2)
    assert m["aAcc"] == pytest.approx(7 / 10)


def test_metrics_of_nothing_are_none():
    m = segmentation_metrics(np.zeros((2, 2), np.int64), ["a", "b"])
    assert (m["mIoU"], m["mAcc"], m["aAcc"]) == (None, None, None)


def test_topk_accuracy_by_hand():
    scores = np.array([[0.1, 0.5, 0.4], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    labels = np.array([2, 0, 0])
    assert topk_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(scores, labels, 2) == pytest.approx(2 / 3)
    assert topk_accuracy(scores, labels, 5) == 1.0  # k capped at the 3 classes
