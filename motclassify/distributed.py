"""Scoring on a Ray cluster: Ray Data reads the export, each worker runs the local engine, Ray Data writes results.

Needs the ``ray`` extra: ``pip install "motclassify[ray]"``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_BATCH_TOKENS
from .errors import InputError
from .files import FORMATS, Layout, detect_format, input_record, parse_json_line
from .scoring import ScoreSummary, score_records

if TYPE_CHECKING:
    import pyarrow
    import ray.data

ERROR_COLUMN = "error"  # set (to the reason) on the rows of records that could not be scored
WHERE_COLUMN = "where"
INSTALL_HINT = 'the ray engine needs Ray Data: pip install "motclassify[ray]"'


def require_ray():
    """The ``ray`` module, or an :class:`InputError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise InputError(INSTALL_HINT) from error
    return ray


class _Scorer:
    """A Ray Data worker: loads the model once, then turns batches of input rows into result or error rows."""

    def __init__(self, model: str | None, output_format: str, layout: Layout, json_lines: bool, **classifier_args: Any):
        from .classifier import MomentClassifier

        self.classifier = MomentClassifier(model, **classifier_args)
        self.output_format, self.layout, self.json_lines = output_format, layout, json_lines

    def __call__(self, batch: "pyarrow.Table") -> "pyarrow.Table":
        import pyarrow as pa

        records = []
        for row in batch.to_pylist():
            where = str(row.pop("path", "") or "")
            decoded = parse_json_line(row["text"]) if self.json_lines else row
            named = isinstance(decoded, dict) and decoded.get(self.layout.id_col) not in (None, "")
            fallback_id = "" if named else _content_id(row["text"] if self.json_lines else row)
            records.append(input_record(decoded, fallback_id, where, self.layout))
        scored, bad = score_records(self.classifier, records, self.output_format)
        columns = list(scored[0]) if scored else []
        rows = [{**r, WHERE_COLUMN: None, ERROR_COLUMN: None} for r in scored]
        rows += [{**dict.fromkeys(columns), "id": e["id"], WHERE_COLUMN: e["where"], ERROR_COLUMN: e["reason"]} for e in bad]
        return pa.Table.from_pylist(rows)


def _content_id(raw: str | dict[str, Any]) -> str:
    """The id of a row that has none: Ray does not number rows, so a hash of its content."""
    text = raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True, default=str)
    return "sha1-" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def score_dataset(ds: "ray.data.Dataset", model: str | os.PathLike | None = None, *, batch_tokens: int = DEFAULT_BATCH_TOKENS,
                  num_gpus_per_worker: float = 0, concurrency: int | None = None, threads_per_worker: int = 1,
                  batch_size: int = 256, output_format: str = "parquet", layout: Layout = Layout(),
                  quantize: str | None = None, json_lines: bool = False) -> "ray.data.Dataset":
    """Score every row of ``ds`` (one transcript a row: ``turns`` or a text column, as in the local engine) on Ray
    workers that each load the model once.

    Returns a dataset of the local engine's result rows (columns as ``motclassify score`` writes ``output_format``)
    plus ``where`` and ``error`` columns: ``error`` is null on scored rows and holds the reason on the rows of
    records that could not be scored (those carry only ``id``, ``where`` and ``error``); :func:`split_errors`
    separates them. ``model`` is a model folder every worker can read (``None``: the packaged default model).
    ``num_gpus_per_worker`` > 0 runs each worker on CUDA; ``concurrency`` (the most workers; the pool starts with
    one and grows while the cluster has room, so reading is never starved of CPUs) defaults to the cluster's GPUs /
    ``num_gpus_per_worker``, or its CPUs / ``threads_per_worker``. ``json_lines``: rows are raw JSONL lines
    in a ``text`` column (``ray.data.read_text``), decoded by the workers so that a broken line becomes an error row.
    Rows without an id get ``sha1-`` and a hash of their content (the local engine numbers them instead).
    """
    ray = require_ray()
    if output_format not in FORMATS:
        raise InputError(f"unknown output format {output_format!r}: use one of {', '.join(FORMATS)}")
    if layout.conversation_col:
        raise InputError("the ray engine scores one transcript a row; group message rows into conversations first "
                         "(or score them with the local engine and --conversation-col)")
    if concurrency is None:
        resources = ray.cluster_resources()
        per_worker = ("GPU", num_gpus_per_worker) if num_gpus_per_worker else ("CPU", threads_per_worker)
        concurrency = max(1, int(resources.get(per_worker[0], 1) // per_worker[1]))
    device = "cuda" if num_gpus_per_worker else "cpu"
    return ds.map_batches(
        _Scorer, batch_size=batch_size, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(min_size=1, max_size=concurrency),
        num_cpus=threads_per_worker, num_gpus=num_gpus_per_worker or None,
        fn_constructor_kwargs={"model": None if model is None else str(model), "output_format": output_format,
                               "layout": layout, "json_lines": json_lines, "device": device,
                               "batch_tokens": batch_tokens, "quantize": quantize, "threads": threads_per_worker})


def split_errors(scored: "ray.data.Dataset") -> tuple["ray.data.Dataset", "ray.data.Dataset"]:
    """``(predictions, errors)`` of a :func:`score_dataset` result, computed once (materialized) and then split:
    predictions keep the result columns, errors have ``id``, ``where`` and ``reason``."""
    from ray.data.expressions import col

    done = scored.materialize()
    predictions = done.filter(expr=col(ERROR_COLUMN).is_null()).drop_columns([WHERE_COLUMN, ERROR_COLUMN])
    errors = (done.filter(expr=col(ERROR_COLUMN).is_not_null()).select_columns(["id", WHERE_COLUMN, ERROR_COLUMN])
              .rename_columns({ERROR_COLUMN: "reason"}))
    return predictions, errors


def read_export(path: str | os.PathLike, fmt: str, layout: Layout) -> "ray.data.Dataset":
    """A file or folder of JSONL, CSV or Parquet files as a dataset, with Ray Data's readers. JSONL comes in as raw
    lines (decoded by the workers); CSV columns that name ids, text or kept values are read as text."""
    ray = require_ray()
    light = {"num_cpus": 0}  # reading is I/O: it must not wait for the CPUs the scoring workers hold
    if fmt == "jsonl":
        return ray.data.read_text(str(path), include_paths=True, **light)
    if fmt == "csv":
        import pyarrow as pa
        import pyarrow.csv

        as_text = {c: pa.string() for c in (layout.id_col, layout.text_col, "turns", *layout.keep_cols)}
        return ray.data.read_csv(str(path), include_paths=True,
                                 convert_options=pyarrow.csv.ConvertOptions(column_types=as_text), **light)
    return ray.data.read_parquet(str(path), include_paths=True, **light)


def score_path(input_path: str | os.PathLike, output_path: str | os.PathLike, *, model: str | os.PathLike | None = None,
               input_format: str | None = None, output_format: str | None = None, layout: Layout = Layout(),
               errors_path: str | os.PathLike | None = None, ray_address: str | None = None,
               **score_args: Any) -> ScoreSummary:
    """``motclassify score --engine ray``: read ``input_path`` (a file or a folder of files) with Ray Data, score
    it on the cluster at ``ray_address`` (default: a local one) and write ``output_path`` and the errors as folders
    of files (JSONL for the errors)."""
    ray = require_ray()
    started = time.perf_counter()
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise InputError(f"{input_path}: no such file or folder")
    sample = input_path if input_path.is_file() else next((p for p in sorted(input_path.iterdir()) if p.is_file()), input_path)
    input_format = detect_format(sample, input_format)
    output_format = detect_format(output_path, output_format, flag="--output-format")
    errors_path = Path(errors_path) if errors_path else output_path.with_name(output_path.stem + ".errors")
    for folder in (output_path, errors_path):
        if folder.exists() and (folder.is_file() or any(folder.iterdir())):
            raise InputError(f"{folder} exists and is not an empty folder: the ray engine writes a new folder of files")
    if not ray.is_initialized():
        ray.init(address=ray_address, log_to_driver=False, logging_level=logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # the summary line says what was done
    scored = score_dataset(read_export(input_path, input_format, layout), model, output_format=output_format,
                           layout=layout, json_lines=input_format == "jsonl", **score_args)
    predictions, errors = split_errors(scored)
    counts = predictions.count(), errors.count()
    getattr(predictions, f"write_{'json' if output_format == 'jsonl' else output_format}")(str(output_path))
    if counts[1]:
        errors.write_json(str(errors_path))
    return ScoreSummary(*counts, 0, output_path, errors_path, time.perf_counter() - started)
