"""Scoring a classifier against labelled data."""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import load_examples
from .metrics import head_report


def evaluate(classifier, data: Any) -> dict[str, Any]:
    """Per-class precision/recall/F1, macro-F1, accuracy, confusion matrix and ECE of both heads on ``data``.

    ``data`` is anything :func:`motclassify.data.load_examples` reads; labels outside the model's label
    sets are an error naming the record. A head is reported only when some records carry its label.
    """
    examples = load_examples(data, classifier.moments, classifier.sentiments)
    probabilities = classifier.predict_proba([e.transcript for e in examples])
    report: dict[str, Any] = {"model": classifier.config.name, "model_version": classifier.config.version,
                              "records": len(examples)}
    for head, labels, scores in (("moment", classifier.moments, probabilities.moment),
                                 ("sentiment", classifier.sentiments, probabilities.sentiment)):
        rows = [i for i, e in enumerate(examples) if getattr(e, head) is not None]
        if rows:
            gold = [getattr(examples[i], head) for i in rows]
            predicted = [labels[j] for j in np.asarray(scores)[rows].argmax(axis=1)]
            report[head] = head_report(gold, predicted, labels, np.asarray(scores)[rows])
    return report
