"""Scores of a head against gold labels: per-class precision/recall/F1, macro-F1, confusion matrix, calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, f1_score


def head_report(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str],
                probabilities: np.ndarray | None = None) -> dict[str, Any]:
    """Per-class precision/recall/F1/support, macro-F1, accuracy, confusion matrix (rows gold) and ECE."""
    labels = list(labels)
    report = classification_report(gold, predicted, labels=labels, output_dict=True, zero_division=0)
    result = {
        "macro_f1": macro_f1(gold, predicted, labels),
        "macro_f1_labels": present_labels(gold, labels),
        "accuracy": float(np.mean(np.asarray(gold) == np.asarray(predicted))) if len(gold) else 0.0,
        "support": len(gold),
        "per_class": {label: {k: round(float(report[label][k]), 4) for k in ("precision", "recall", "f1-score", "support")}
                      for label in labels},
        "labels": labels,
        "confusion": confusion_matrix(gold, predicted, labels=labels).tolist(),
    }
    if probabilities is not None:
        index = {label: i for i, label in enumerate(labels)}
        result["ece"] = expected_calibration_error(probabilities, np.array([index[g] for g in gold]))
    return result


def present_labels(gold: Sequence, labels: Sequence) -> list:
    """The labels of ``labels`` that occur in ``gold``, in label order."""
    found = set(np.asarray(gold).tolist())
    return [label for label in labels if label in found]


def macro_f1(gold: Sequence, predicted: Sequence, labels: Sequence) -> float:
    """Macro-F1 averaged over the labels present in the gold data (a label nobody has cannot be scored, so it
    does not count as 0); predictions of an absent label still cost precision on the labels that are present."""
    return float(f1_score(gold, predicted, labels=present_labels(gold, labels), average="macro", zero_division=0))


def expected_calibration_error(probabilities: np.ndarray, gold: np.ndarray, bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins."""
    if len(gold) == 0:
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == gold
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return round(float(total), 4)


def fit_temperature(logits: np.ndarray, gold: np.ndarray) -> float:
    """The softmax temperature that minimises the negative log-likelihood of ``gold`` (grid search on log T)."""
    if len(gold) == 0:
        return 1.0
    best, best_loss = 1.0, np.inf
    for temperature in np.exp(np.linspace(np.log(0.2), np.log(5.0), 81)):
        scaled = logits / temperature
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        loss = -(scaled[np.arange(len(gold)), gold] - np.log(np.exp(scaled).sum(axis=1))).mean()
        if loss < best_loss:
            best, best_loss = float(temperature), loss
    return round(best, 4)


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def calibrated_report(logits: np.ndarray, gold: np.ndarray, labels: Sequence[str], temperature: float) -> dict[str, Any]:
    """:func:`head_report` of raw ``logits`` against ``gold`` label indices at ``temperature``, with the ECE before
    calibration and the temperature."""
    report = head_report([labels[i] for i in gold], [labels[i] for i in logits.argmax(1)], labels, softmax(logits / temperature))
    report["ece_before_calibration"] = expected_calibration_error(softmax(logits), gold)
    report["temperature"] = temperature
    return report


def plot_confusion(report: dict[str, Any], title: str, path: str | Path) -> Path:
    """A confusion-matrix PNG of a :func:`head_report`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    labels = report["labels"]
    figure, axis = plt.subplots(figsize=(1.0 + 0.75 * len(labels), 0.8 + 0.7 * len(labels)))
    ConfusionMatrixDisplay(np.array(report["confusion"]), display_labels=labels).plot(
        ax=axis, colorbar=False, xticks_rotation=45, cmap="Blues")
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return Path(path)
