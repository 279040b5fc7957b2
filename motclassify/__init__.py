"""motclassify: tag customer-support transcripts with their moment of truth and how it turned out.

>>> from motclassify import MomentClassifier
>>> clf = MomentClassifier.load()
>>> clf.predict(["Customer: charged twice\nAgent: refunded!\nCustomer: wow, thanks"])[0].moment
'billing'
"""

__version__ = "0.1.0"

from .classifier import MomentClassifier, Probabilities  # noqa: E402
from .labels import LabelSpace  # noqa: E402
from .model import BaseEncoderMismatch, ModelFormatError  # noqa: E402
from .prediction import Prediction, Segment, Skipped, Trajectory  # noqa: E402
from .training import TrainingArguments, train  # noqa: E402
from .transcript import Transcript, Turn  # noqa: E402

__all__ = [
    "BaseEncoderMismatch", "LabelSpace", "ModelFormatError", "MomentClassifier", "Prediction",
    "Probabilities", "Segment", "Skipped", "Trajectory", "TrainingArguments", "Transcript", "Turn", "__version__", "train",
]
