"""The hyper-parameters of fine-tuning (no torch import: the command line builds its flags from them)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from .errors import DataError

SMALL_DATA = 500  # fewer training records than this: a larger validation share and a fixed schedule
MIN_STEPS = 50  # optimiser steps at the least, however few the records
EARLY_STOPPING_MIN_VALIDATION = 100  # with fewer validation records one record moves macro-F1 by points: no early stopping
LEXICAL_WEIGHT = 0.7  # a new head's lexical blend weight when validation is too small to choose it (few-shot dev split)
LEXICAL_WEIGHT_GRID = (0.0, 0.2, 0.4, 0.6, 0.8)  # the weights validation chooses among when it is large enough


@dataclass
class TrainingArguments:
    """Hyper-parameters of :func:`train_model`. Fields left ``None`` are chosen from the data size:

    - steps: ``epochs`` if given, else ``max_steps`` if given, else six epochs but at least ``MIN_STEPS`` steps;
    - validation (when no eval data is given): 15% held out, 20% below ``SMALL_DATA`` records;
    - early stopping on validation macro-F1 only with at least ``EARLY_STOPPING_MIN_VALIDATION`` validation
      records; otherwise the schedule runs to its end;
    - ``lexical_weight``: how much a TF-IDF + logistic regression model of the same records (see
      :mod:`motclassify.lexical`) weighs in each head's log-probabilities. Left ``None``: heads kept from the
      starting model keep its weight (none for the default model); a new head gets the weight of
      ``LEXICAL_WEIGHT_GRID`` with the lowest validation log-loss (at the blend's best temperature) when at least
      ``EARLY_STOPPING_MIN_VALIDATION`` records validate, else ``LEXICAL_WEIGHT``. 0 turns the lexical model off.
      Without eval data the lexical model is finally refitted on all the records (it is cheap), validation ones
      included;
    - ``refit=True`` (when no eval data is given): after validating, train again from the start on all the records
      (validation ones included) with the same schedule, keeping the validation figures and calibration. Off by
      default: on the few-shot benchmark at 16 records a class it added about 0.02 moment and 0.01 sentiment
      macro-F1 on average but doubled the training time (benchmarks/results/fewshot_refit.json).
    """

    epochs: int | None = None
    max_steps: int | None = None
    batch_size: int = 16
    learning_rate: float = 6e-4
    head_learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 256
    lora_rank: int | None = None  # None: the starting model's (16 and 32 from a plain encoder)
    lora_alpha: float | None = None
    patience: int = 2
    validation_fraction: float | None = None
    refit: bool = False
    lexical_weight: float | None = None
    warm_start_heads: bool = True  # new heads start from a logistic regression on the starting encoder's features
    class_weights: bool = True
    segment_loss_weight: float = 0.5
    head_features: dict[str, list[str]] | None = None  # what each head reads (see MomentModel); None keeps the start's
    seed: int = 13
    threads: int | None = None
    progress: bool = True
    name: str = "motclassify-model"
    version: str = "1"

    def __post_init__(self) -> None:
        for name in ("epochs", "max_steps", "batch_size", "patience", "lora_rank", "threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise DataError(f"TrainingArguments.{name} must be a whole number of at least 1, got {value!r}")
        if self.max_length < 16:
            raise DataError(f"TrainingArguments.max_length must be at least 16, got {self.max_length}")
        for name in ("learning_rate", "head_learning_rate", "lora_alpha"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise DataError(f"TrainingArguments.{name} must be positive, got {getattr(self, name)!r}")
        for name in ("weight_decay", "warmup_ratio", "segment_loss_weight", "lexical_weight"):
            if getattr(self, name) is not None and not 0 <= getattr(self, name) <= 1:
                raise DataError(f"TrainingArguments.{name} must be between 0 and 1, got {getattr(self, name)!r}")
        if self.validation_fraction is not None and not 0 < self.validation_fraction < 1:
            raise DataError(f"TrainingArguments.validation_fraction must be between 0 and 1, got {self.validation_fraction!r}")

    @classmethod
    def field_defaults(cls) -> dict[str, Any]:
        """Each field's default, for building command-line flags."""
        return {f.name: cls.__dataclass_fields__[f.name].default for f in fields(cls)}

    def total_steps(self, records: int) -> int:
        steps_per_epoch = math.ceil(records / self.batch_size)
        if self.epochs is not None:
            return self.epochs * steps_per_epoch
        return self.max_steps or max(MIN_STEPS, 6 * steps_per_epoch)
