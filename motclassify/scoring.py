"""Batch scoring of an export: stream records in, predictions and errors out, resumable."""

from __future__ import annotations

import collections
import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from tqdm.auto import tqdm

from .classifier import MomentClassifier
from .errors import InputError
from .files import (
    InputRecord,
    Layout,
    ResultWriter,
    count_records,
    detect_format,
    read_ids,
    read_transcripts,
    refuse_overwriting,
)
from .prediction import Prediction
from .transcript import Transcript


@dataclass
class ScoreSummary:
    """What a scoring run did; every input record is counted once in ``scored``, ``errors`` or ``skipped``."""

    scored: int
    errors: int
    skipped: int
    output: Path
    errors_path: Path
    seconds: float
    repeated_ids: int = 0

    def line(self) -> str:
        rate = self.scored / self.seconds if self.seconds > 0 else 0.0
        text = f"scored {self.scored} transcripts ({rate:.1f}/s) -> {self.output}; {self.errors} errors"
        text += f" -> {self.errors_path}" if self.errors else ""
        text += f"; {self.skipped} already done (resumed)" if self.skipped else ""
        if self.repeated_ids:
            text += (f"; warning: {self.repeated_ids} records repeat an earlier record's id (each was scored; "
                     "--resume counts an id's occurrences)")
        return text


def result_columns(classifier: MomentClassifier, fmt: str, keep_cols: Iterable[str] = ()) -> list[str]:
    """Output columns: nested scores in JSONL; one probability column per label in CSV and Parquet."""
    base = ["id", "moment", "stage", "sentiment", "moment_score", "sentiment_score"]
    if fmt == "jsonl":
        scores = ["moment_scores", "sentiment_scores", "segments", "trajectory"]
    else:
        scores = ([f"p_moment_{m}" for m in classifier.moments] + [f"p_sentiment_{s}" for s in classifier.sentiments]
                  + ["segments", "trajectory_start", "trajectory_end"])
    return base + scores + ["model", "model_version"] + [c for c in keep_cols if c not in base]


def result_row(prediction: Prediction, fmt: str, keep: dict[str, Any]) -> dict[str, Any]:
    row = prediction.to_dict()
    if fmt != "jsonl":
        row.update({f"p_moment_{k}": v for k, v in row.pop("moment_scores").items()})
        row.update({f"p_sentiment_{k}": v for k, v in row.pop("sentiment_scores").items()})
        trajectory = row.pop("trajectory")
        row.update(trajectory_start=trajectory["start"], trajectory_end=trajectory["end"],
                   segments=json.dumps(row["segments"]))
    return {**{k: v for k, v in keep.items() if k not in row}, **row}


def score_records(classifier: MomentClassifier, records: list[InputRecord],
                  fmt: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Result rows (in ``fmt``'s columns) of the records that can be scored, in order, and an error row
    (``id``, ``where``, ``reason``) for each of the others."""
    parsed: list[tuple[InputRecord, Transcript]] = []
    bad: list[dict[str, Any]] = []
    for record in records:
        if record.error is None:
            try:
                parsed.append((record, Transcript.parse(record.record, id=record.id)))
                continue
            except ValueError as error:
                record.error = str(error).removeprefix(f"transcript {record.id!r}: ")
        bad.append({"id": record.id, "where": record.where, "reason": record.error})
    predictions = classifier.predict([t for _, t in parsed]) if parsed else []
    return [result_row(p, fmt, r.keep) for (r, _), p in zip(parsed, predictions)], bad


def score_file(classifier: MomentClassifier, input_path: str | Path, output_path: str | Path, *,
               input_format: str | None = None, output_format: str | None = None, layout: Layout = Layout(),
               errors_path: str | Path | None = None, resume: bool = False, chunk_size: int = 512,
               progress: bool | None = None) -> ScoreSummary:
    """Score every transcript of ``input_path`` into ``output_path``; bad records go to the errors file.

    Memory stays flat: records are read, scored and written ``chunk_size`` at a time. Records that share an id
    are each scored (and counted in ``repeated_ids``); ``resume`` skips an id's first N occurrences when the
    output and errors file hold N rows of it, so a resumed run writes what an uninterrupted one would.
    """
    started = time.perf_counter()
    input_format = detect_format(input_path, input_format)
    output_path = Path(output_path)
    if output_path.is_dir():
        raise InputError(f"{output_path} is a folder: give the output a file name, e.g. {output_path / 'scored.jsonl'}")
    output_format = detect_format(output_path, output_format, flag="--output-format")
    errors_path = Path(errors_path) if errors_path else output_path.with_name(output_path.stem + ".errors.jsonl")
    refuse_overwriting(input_path, output_path, errors_path)
    records = read_transcripts(input_path, input_format, layout)
    first = next(records, None)
    if first is None:
        raise InputError(f"{input_path} holds no records")
    records = itertools.chain([first], records)
    writer = ResultWriter(output_path, output_format, result_columns(classifier, output_format, layout.keep_cols), resume)
    done = writer.done_ids() + (collections.Counter(read_ids(errors_path, "jsonl")) if resume else collections.Counter())
    seen: collections.Counter[str] = collections.Counter()
    if not resume:
        errors_path.unlink(missing_ok=True)
    total = None if layout.conversation_col else count_records(input_path, input_format)
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=total, unit=" transcripts", disable=not show, dynamic_ncols=True, smoothing=0.1)
    scored = errors = skipped = repeated = 0
    try:
        with open(errors_path, "a", encoding="utf-8") as error_file:
            for chunk in iter(lambda: list(itertools.islice(records, chunk_size)), []):
                todo = []
                for record in chunk:
                    seen[record.id] += 1
                    repeated += seen[record.id] > 1
                    if seen[record.id] <= done[record.id]:
                        skipped += 1
                    else:
                        todo.append(record)
                good, bad = score_records(classifier, todo, output_format)
                writer.write(good)
                if bad:
                    error_file.write("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in bad))
                    error_file.flush()
                scored, errors = scored + len(good), errors + len(bad)
                bar.update(len(chunk))
    finally:
        bar.close()
        writer.close()
    if errors == 0 and errors_path.exists() and errors_path.stat().st_size == 0:
        errors_path.unlink()
    return ScoreSummary(scored, errors, skipped, output_path, errors_path, time.perf_counter() - started, repeated)

