"""motclassify: tag customer-support transcripts with their moment of truth and how it turned out.

>>> from motclassify import MomentClassifier
>>> clf = MomentClassifier.load()
>>> clf.predict(["Customer: charged twice\nAgent: refunded!\nCustomer: wow, thanks"])[0].moment
'billing'

Names are imported on first use, so ``import motclassify`` (and the command line's ``--help``) stays fast.
"""

import importlib

from ._version import __version__
from .errors import BaseEncoderMismatch, DataError, InputError, ModelFormatError, MotclassifyError

_LAZY = {
    "MomentClassifier": "classifier", "Probabilities": "classifier", "train": "classifier", "BatchingPredictor": "serving",
    "LabelSpace": "labels", "Prediction": "prediction", "Segment": "prediction", "Skipped": "prediction",
    "Trajectory": "prediction", "TrainingArguments": "arguments", "Transcript": "transcript", "Turn": "transcript",
    "average_models": "soup",
}

__all__ = [
    "BaseEncoderMismatch", "BatchingPredictor", "DataError", "InputError", "LabelSpace", "ModelFormatError", "MomentClassifier",
    "MotclassifyError", "Prediction", "Probabilities", "Segment", "Skipped", "Trajectory", "TrainingArguments",
    "Transcript", "Turn", "__version__", "average_models", "train",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'motclassify' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
