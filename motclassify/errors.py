"""The errors motclassify raises on purpose: each says what is wrong and, where it can, what to do.

All are ``ValueError`` subclasses under :class:`MotclassifyError`, so ``except ValueError`` code keeps working.
"""


class MotclassifyError(ValueError):
    """Base class; also raised for settings that cannot work (device, token budget, priors, ...)."""


class ModelFormatError(MotclassifyError):
    """A model folder that cannot be read: missing, damaged, or of a newer format."""


class BaseEncoderMismatch(MotclassifyError):
    """The base encoder's weights are not the ones the model was trained on."""


class DataError(MotclassifyError):
    """Labelled data that cannot be used, with the record and the reason."""


class InputError(MotclassifyError):
    """Input that cannot be read or scored: a transcript, or a file as a whole, with the record and the reason."""
