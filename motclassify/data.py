"""Labelled data for training and evaluation: JSONL, CSV, a Hugging Face ``datasets.Dataset`` or a list of dicts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .errors import DataError, InputError
from .files import read_rows
from .transcript import Transcript


@dataclass(frozen=True)
class LabelledSpan:
    """A secondary-moment annotation: an inclusive turn range with its own labels."""

    first: int
    last: int
    moment: str | None
    sentiment: str | None


@dataclass(frozen=True)
class Example:
    """One labelled transcript; either label may be missing (that head then skips it)."""

    transcript: Transcript
    moment: str | None
    sentiment: str | None
    segments: tuple[LabelledSpan, ...] = ()


def read_records(source: str | os.PathLike) -> Iterable[tuple[str, dict[str, Any]]]:
    """Yield ``(location, record)`` from a JSONL, CSV (or TSV) or Parquet file, read by the same reader as
    ``motclassify score``; the location names the line or row for errors."""
    path = Path(source)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        _, rows = read_rows(path)
    except InputError as error:
        raise DataError(str(error)) from error
    for where, row in rows:
        if isinstance(row, str):
            raise DataError(f"{path.name} {where}: {row}")
        yield f"{path.name} {where}", {k: (None if v == "" else v) for k, v in row.items()}


def load_examples(data: Any, moments: Sequence[str] | None = None, sentiments: Sequence[str] | None = None) -> list[Example]:
    """Read labelled examples from a path, a ``datasets.Dataset`` or an iterable of dicts.

    Each record needs ``turns`` or ``text``, and ``moment`` and/or ``sentiment``. Given label sets,
    a label outside them is an error naming the record.
    """
    if isinstance(data, (str, os.PathLike)):
        records: Iterable[tuple[str, Mapping[str, Any]]] = read_records(data)
    else:
        records = ((f"record {index}", record) for index, record in enumerate(data))
    examples = []
    for location, record in records:
        examples.append(_example(location, record, moments, sentiments))
    if not examples:
        raise DataError(f"{data if isinstance(data, (str, os.PathLike)) else 'training data'}: no records")
    return examples


def _example(location: str, record: Mapping[str, Any], moments: Sequence[str] | None,
             sentiments: Sequence[str] | None) -> Example:
    if not isinstance(record, Mapping):
        raise DataError(f"{location}: expected a mapping, got {type(record).__name__}")
    name = location + (f" (id {record['id']!r})" if record.get("id") is not None else "")
    if record.get("turns") is None and record.get("text") is None:
        raise DataError(f"{name}: needs a 'turns' or a 'text' column")
    try:
        transcript = Transcript.parse(record)
    except ValueError as error:
        raise DataError(f"{name}: {error}") from error
    moment = _label(name, "moment", record.get("moment"), moments)
    sentiment = _label(name, "sentiment", record.get("sentiment"), sentiments)
    if moment is None and sentiment is None:
        raise DataError(f"{name}: has neither a 'moment' nor a 'sentiment' label")
    segments = record.get("segments") or ()
    if isinstance(segments, str):
        segments = json.loads(segments)
    spans = []
    for segment in segments:
        try:
            first, last = (int(x) for x in segment["turns"])
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"{name}: a segment needs 'turns': [first, last]") from error
        if not 0 <= first <= last < len(transcript.turns):
            raise DataError(f"{name}: segment turns [{first}, {last}] outside the {len(transcript.turns)} turns")
        spans.append(LabelledSpan(first, last, _label(name, "moment", segment.get("moment"), moments),
                                  _label(name, "sentiment", segment.get("sentiment"), sentiments)))
    return Example(transcript, moment, sentiment, tuple(spans))


def _label(name: str, head: str, value: Any, allowed: Sequence[str] | None) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN from a table
        return None
    value = str(value).strip()
    if not value:
        return None
    if allowed is not None and value not in allowed:
        raise DataError(f"{name}: unknown {head} label {value!r}; expected one of {list(allowed)}")
    return value


def infer_labels(examples: Sequence[Example], head: str, default: Sequence[str]) -> tuple[str, ...]:
    """The label set of a head as found in the data: the default order when it is a subset of the default set."""
    found = {getattr(e, head) for e in examples} | {getattr(s, head) for e in examples for s in e.segments}
    found.discard(None)
    if len(found) < 2:
        raise DataError(f"training data: need at least two {head} labels, found {sorted(found)}")
    if found <= set(default):
        return tuple(label for label in default if label in found)
    return tuple(sorted(found))


def stratified_split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out ``fraction`` of the examples, stratified by moment x sentiment where every cell allows it, else by
    moment (or sentiment), else at random."""
    from sklearn.model_selection import train_test_split

    if len(examples) < 4:
        raise DataError(f"training data: {len(examples)} records are too few to hold out a validation split; pass eval_data")
    keys = [f"{e.moment}|{e.sentiment}" for e in examples]
    for strata in (keys, [e.moment or e.sentiment for e in examples], None):
        try:
            train, validation = train_test_split(examples, test_size=fraction, random_state=seed, stratify=strata)
            return list(train), list(validation)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def label_priors(examples: Sequence[Example], head: str, labels: Sequence[str]) -> dict[str, float]:
    """The share of each label of ``head`` among the examples, add-one smoothed (no zero priors)."""
    counts = {label: 1.0 for label in labels}
    for example in examples:
        if getattr(example, head) is not None:
            counts[getattr(example, head)] += 1
    total = sum(counts.values())
    return {label: round(count / total, 6) for label, count in counts.items()}
