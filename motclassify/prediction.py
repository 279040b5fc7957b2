"""What the classifier returns: typed, immutable, JSON-ready."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Segment:
    """A stretch of the conversation (inclusive turn range) with its own moment and sentiment."""

    turns: tuple[int, int]
    moment: str
    sentiment: str
    moment_score: float
    sentiment_score: float


@dataclass(frozen=True)
class Trajectory:
    """Sentiment scores of the customer's opening (up to their first message, read on its own) and of the whole
    conversation (the outcome)."""

    start_scores: dict[str, float]
    end_scores: dict[str, float]

    @property
    def start(self) -> str:
        return max(self.start_scores, key=self.start_scores.__getitem__)

    @property
    def end(self) -> str:
        return max(self.end_scores, key=self.end_scores.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "start_scores": self.start_scores, "end_scores": self.end_scores}


@dataclass(frozen=True)
class Prediction:
    """The moment of truth found in one transcript.

    ``moment`` and ``sentiment`` are the transcript-level labels, ``*_scores`` their calibrated
    probabilities, ``stage`` the journey stage of the moment, ``segments`` the moments along the
    conversation and ``trajectory`` how sentiment moved from its opening to its end.
    """

    id: str | None
    moment: str
    stage: str | None
    sentiment: str
    moment_scores: dict[str, float]
    sentiment_scores: dict[str, float]
    segments: tuple[Segment, ...]
    trajectory: Trajectory
    model: str = ""
    model_version: str = ""

    @property
    def moment_score(self) -> float:
        return self.moment_scores[self.moment]

    @property
    def sentiment_score(self) -> float:
        return self.sentiment_scores[self.sentiment]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the row written by ``motclassify score``)."""
        return {
            "id": self.id,
            "moment": self.moment,
            "stage": self.stage,
            "sentiment": self.sentiment,
            "moment_score": self.moment_score,
            "sentiment_score": self.sentiment_score,
            "moment_scores": self.moment_scores,
            "sentiment_scores": self.sentiment_scores,
            "segments": [{**asdict(s), "turns": list(s.turns)} for s in self.segments],
            "trajectory": self.trajectory.to_dict(),
            "model": self.model,
            "model_version": self.model_version,
        }


@dataclass(frozen=True)
class Skipped:
    """A transcript that could not be read, returned in its place by ``predict(..., errors="skip")``."""

    position: int
    id: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "position": self.position, "error": self.reason}
