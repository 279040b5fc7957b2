"""Transcripts: parse plain text, turn dicts or single messages into one normalised form."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Union

from .errors import InputError

ROLES = ("customer", "agent", "bot", "system", "other")

ROLE_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        ["customer", "user", "client", "caller", "member", "guest", "visitor", "buyer", "patient",
         "passenger", "subscriber", "consumer", "shopper", "end user", "enduser", "cust", "c"],
        "customer",
    ),
    **dict.fromkeys(
        ["agent", "rep", "representative", "support", "advisor", "adviser", "associate", "staff",
         "operator", "specialist", "csr", "human agent", "live agent", "support agent", "host",
         "moderator", "team", "support team", "customer service", "service", "a", "employee"],
        "agent",
    ),
    **dict.fromkeys(
        ["bot", "chatbot", "assistant", "virtual assistant", "va", "automated", "auto-reply",
         "autoreply", "ivr", "ai"],
        "bot",
    ),
    **dict.fromkeys(["system", "sys", "event", "notification"], "system"),
}

_SPEAKER_LINE = re.compile(r"^\s*\[?([A-Za-z][A-Za-z .'_-]{0,30}?)\]?\s*[:>]\s?(.*)$")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")

TEXT_KEYS = ("text", "content", "message", "body", "utterance")
SPEAKER_KEYS = ("speaker", "role", "author", "from", "sender")


def normalise_role(name: str) -> str:
    """Map a speaker name or alias to one of :data:`ROLES` (unknown names become ``other``)."""
    key = _SPACES.sub(" ", str(name)).strip().lower()
    return ROLE_ALIASES.get(key, key if key in ROLES else "other")


def normalise_text(text: str) -> str:
    """Collapse runs of spaces and blank lines; strip the ends."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return _BLANK_LINES.sub("\n", "\n".join(lines)).strip()


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: a normalised speaker role and its text."""

    speaker: str
    text: str


@dataclass(frozen=True)
class Transcript:
    """An ordered conversation. Build one with :meth:`parse` from any accepted input form."""

    turns: tuple[Turn, ...]
    id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.turns:
            raise InputError(f"{_name(self.id)}: has no turns")

    @classmethod
    def from_text(cls, text: str, id: str | None = None) -> "Transcript":
        """Parse ``Customer: ...`` / ``Agent: ...`` lines; text with no speaker lines is one customer message."""
        if not isinstance(text, str):
            raise InputError(f"{_name(id)}: text must be a string, got {type(text).__name__}")
        turns: list[list[str]] = []
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            match = _SPEAKER_LINE.match(line)
            role = normalise_role(match.group(1)) if match else "other"
            if match and match.group(1).strip().lower() in ROLE_ALIASES:
                turns.append([role, match.group(2)])
            elif turns:
                turns[-1][1] += "\n" + line
            elif line.strip():
                turns.append(["customer", line])
        return cls._build([(role, body) for role, body in turns], id, source="text")

    @classmethod
    def from_turns(cls, turns: Iterable[Mapping[str, Any] | Turn], id: str | None = None) -> "Transcript":
        """Build from ``{"speaker": ..., "text": ...}`` dicts (``role``/``content`` and similar keys accepted)."""
        pairs = []
        for position, turn in enumerate(turns):
            if isinstance(turn, Turn):
                pairs.append((turn.speaker, turn.text))
                continue
            if not isinstance(turn, Mapping):
                raise InputError(f"{_name(id)}: turn {position} must be a mapping, got {type(turn).__name__}")
            text = next((turn[k] for k in TEXT_KEYS if k in turn), None)
            if not isinstance(text, str):
                reason = "has no text" if text is None else f"text must be a string, got {type(text).__name__}"
                raise InputError(f"{_name(id)}: turn {position} {reason}")
            speaker = next((turn[k] for k in SPEAKER_KEYS if turn.get(k) is not None), "other")
            pairs.append((normalise_role(speaker), text))
        return cls._build(pairs, id, source="turns")

    @classmethod
    def parse(cls, value: Any, id: str | None = None) -> "Transcript":
        """Accept a Transcript, a string, a list of turn dicts, or a record dict with ``turns`` or ``text``."""
        if isinstance(value, Transcript):
            return value
        if isinstance(value, str):
            return cls.from_text(value, id)
        if isinstance(value, Mapping):
            record_id = value.get("id", id)
            record_id = None if record_id is None else str(record_id)
            if value.get("turns") is not None:
                return cls.from_turns(_as_list(value["turns"], record_id), record_id)
            if value.get("text") is not None:
                return cls.from_text(value["text"], record_id)
            raise InputError(f"{_name(record_id)}: record has neither 'turns' nor 'text'")
        if isinstance(value, (list, tuple)):
            return cls.from_turns(value, id)
        raise InputError(f"{_name(id)}: cannot read a transcript from {type(value).__name__}")

    def render(self) -> list[tuple[str, str]]:
        """The turns as ``(role marker, text)`` pairs, the form the model reads."""
        return [(f"{turn.speaker}:", turn.text) for turn in self.turns]

    def to_text(self) -> str:
        """Plain text, one ``Role: text`` turn a line."""
        return "\n".join(f"{turn.speaker.capitalize()}: {turn.text}" for turn in self.turns)

    @classmethod
    def _build(cls, pairs: list[tuple[str, str]], id: str | None, source: str) -> "Transcript":
        turns = tuple(Turn(role, text) for role, text in ((r, normalise_text(t)) for r, t in pairs) if text)
        if not turns:
            raise InputError(f"{_name(id)}: empty transcript (no {'text' if source == 'text' else 'turn with text'})")
        return cls(turns=turns, id=id)


TranscriptLike = Union[Transcript, str, Mapping[str, Any], list, tuple]


def _as_list(value: Any, id: str | None) -> list:
    if hasattr(value, "tolist"):  # numpy / pyarrow arrays from Parquet
        value = value.tolist()
    if isinstance(value, str):  # turns stored as JSON text in a CSV cell
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise InputError(f"{_name(id)}: 'turns' must be a list, or JSON text of one; got text that is not JSON "
                             f"({error.msg})") from error
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{_name(id)}: 'turns' must be a list, got {type(value).__name__}")
    return list(value)


def _name(id: str | None) -> str:
    return f"transcript {id!r}" if id is not None else "transcript"
