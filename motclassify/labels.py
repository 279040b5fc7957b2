"""The label space of a model: moment labels, sentiment labels and the journey stage of each moment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .errors import MotclassifyError

DEFAULT_STAGES: dict[str, str] = {
    "discovery": "zero",
    "purchase": "first",
    "onboarding": "first",
    "access": "second",
    "delivery": "second",
    "product_issue": "second",
    "billing": "second",
    "cancellation": "second",
    "feedback": "ultimate",
}
DEFAULT_SENTIMENTS: tuple[str, ...] = ("magical", "average", "miserable")


@dataclass(frozen=True)
class LabelSpace:
    """Moment and sentiment labels in head order, plus a moment -> journey stage map."""

    moments: tuple[str, ...] = tuple(DEFAULT_STAGES)
    sentiments: tuple[str, ...] = DEFAULT_SENTIMENTS
    stages: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_STAGES))

    def __post_init__(self) -> None:
        for name, labels in (("moments", self.moments), ("sentiments", self.sentiments)):
            if len(labels) < 2:
                raise MotclassifyError(f"{name}: need at least two labels, got {list(labels)}")
            if len(set(labels)) != len(labels):
                raise MotclassifyError(f"{name}: labels repeat: {list(labels)}")
            if not all(isinstance(label, str) and label for label in labels):
                raise MotclassifyError(f"{name}: labels must be non-empty strings")

    @classmethod
    def build(
        cls,
        moments: Sequence[str] | None = None,
        sentiments: Sequence[str] | None = None,
        stages: Mapping[str, str] | None = None,
    ) -> "LabelSpace":
        """A label space with defaults for whatever is not given; unknown moments get no stage."""
        moments = tuple(moments or DEFAULT_STAGES)
        stage_map = {**DEFAULT_STAGES, **(stages or {})}
        return cls(
            moments=moments,
            sentiments=tuple(sentiments or DEFAULT_SENTIMENTS),
            stages={m: stage_map[m] for m in moments if m in stage_map},
        )

    def stage(self, moment: str) -> str | None:
        """The journey stage of a moment, or None when the label set defines none."""
        return self.stages.get(moment)

    def to_config(self) -> dict[str, Any]:
        return {"moments": list(self.moments), "sentiments": list(self.sentiments), "stages": dict(self.stages)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "LabelSpace":
        return cls(tuple(config["moments"]), tuple(config["sentiments"]), dict(config.get("stages", {})))
