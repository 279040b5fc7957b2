"""Record files: reading transcript exports (JSONL, CSV, Parquet; one row per transcript or per message) and writing results."""

from __future__ import annotations

import collections
import csv
import itertools
import json
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from .errors import InputError

FORMATS = ("jsonl", "csv", "parquet")
PARTITION_BYTES = 64 << 20  # message-per-row input is grouped in hash partitions of about this size


@dataclass
class InputRecord:
    """One transcript to score, or the reason it cannot be: ``record`` holds ``turns`` or ``text``."""

    id: str
    where: str
    record: dict[str, Any] | None = None
    keep: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Layout:
    """How a table maps onto transcripts: one row each, or one row per message when ``conversation_col`` is set."""

    text_col: str = "text"
    id_col: str = "id"
    conversation_col: str | None = None
    speaker_col: str = "speaker"
    order_col: str | None = None
    keep_cols: tuple[str, ...] = ()


def refuse_overwriting(input_path: str | os.PathLike, *outputs: str | os.PathLike) -> None:
    """Raise :class:`InputError` if any path to be written is the input file itself (also through a link)."""
    for output in outputs:
        if Path(output).exists() and os.path.samefile(input_path, output):
            raise InputError(f"{output} is the input file {input_path}: writing it would destroy the input; "
                             "choose another output path")


def detect_format(path: str | os.PathLike, given: str | None = None, flag: str = "--format") -> str:
    """The file format from ``given`` or the file extension; ``flag`` names the option that sets it."""
    if given:
        if given not in FORMATS:
            raise InputError(f"unknown format {given!r}: use one of {', '.join(FORMATS)}")
        return given
    suffix = Path(path).suffix.lower().lstrip(".")
    fmt = {"jsonl": "jsonl", "ndjson": "jsonl", "json": "jsonl", "csv": "csv", "tsv": "csv", "parquet": "parquet",
           "pq": "parquet"}.get(suffix)
    if fmt is None:
        raise InputError(f"{path}: cannot tell the format from the extension {suffix!r}; pass {flag} {'|'.join(FORMATS)}")
    return fmt


def count_records(path: str | os.PathLike, fmt: str) -> int | None:
    """How many records the input holds, when that is cheap to know (None otherwise)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if fmt != "jsonl":  # CSV cells may hold newlines: lines are not rows
        return None
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def read_transcripts(path: str | os.PathLike, fmt: str | None = None, layout: Layout = Layout()) -> Iterator[InputRecord]:
    """Stream the transcripts of an export. Per-record problems come back as records with ``error`` set;
    problems with the file itself raise :class:`InputError` before anything is read."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    if fmt == "jsonl":
        if layout.conversation_col:
            return _grouped(path, _table_rows(path, "jsonl", layout), layout)
        return _jsonl_records(path, layout)
    rows = _table_rows(path, fmt, layout)
    return _grouped(path, rows, layout) if layout.conversation_col else _row_records(rows, layout)


def _jsonl_objects(path: Path) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    """``(line number, where, object)`` per non-blank line, or a reason string in place of the object."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            yield number, f"line {number}", parse_json_line(raw)


def parse_json_line(raw: bytes | str) -> dict[str, Any] | str:
    """The JSON object of one line, or the reason it cannot be read."""
    try:
        record = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except UnicodeDecodeError:
        return "bad encoding: not UTF-8"
    except json.JSONDecodeError as error:
        return f"not valid JSON ({error.msg})"
    return record if isinstance(record, dict) else f"expected a JSON object, got {type(record).__name__}"


def _jsonl_records(path: Path, layout: Layout) -> Iterator[InputRecord]:
    for number, where, record in _jsonl_objects(path):
        yield input_record(record, f"line-{number}", where, layout)


def input_record(row: dict[str, Any] | str, fallback_id: str, where: str, layout: Layout) -> InputRecord:
    """The transcript record of one row (one transcript a row), or the reason it cannot be scored: ``row`` is a
    decoded row, or the reason it could not be decoded. ``fallback_id`` names a row without an id."""
    if isinstance(row, str):
        return InputRecord(fallback_id, where, error=row)
    record_id = row.get(layout.id_col)
    identifier = fallback_id if record_id is None or record_id == "" else str(record_id)
    keep = {c: row.get(c) for c in layout.keep_cols}
    key = "turns" if row.get("turns") not in (None, "") else "text"
    value = row.get(key if key == "turns" else layout.text_col)
    if value is None or (isinstance(value, str) and not value.strip()):
        return InputRecord(identifier, where, keep=keep, error="missing text (no turns and an empty text field)")
    return InputRecord(identifier, where, {key: value}, keep)


def read_rows(path: str | os.PathLike, fmt: str | None = None,
              columns: Sequence[str] | None = None) -> tuple[list[str] | None, Iterator[tuple[str, dict[str, Any] | str]]]:
    """The column names (``None`` for JSONL) and ``(where, row)`` of every record of a JSONL, CSV (or TSV) or
    Parquet file, ``(where, reason)`` for a record that cannot be decoded. Parquet reads only ``columns`` if given.

    The one reader of record files: scoring, training and evaluation all go through it.
    """
    path = Path(path)
    fmt = detect_format(path, fmt)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
        wanted = [c for c in dict.fromkeys(columns) if c in names] if columns else None

        def parquet_rows():
            number = 0
            for batch in parquet.iter_batches(batch_size=2048, columns=wanted):
                for row in batch.to_pylist():
                    number += 1
                    yield f"row {number}", row
        return names, parquet_rows()
    if fmt == "jsonl":
        return None, ((where, record) for _, where, record in _jsonl_objects(path))
    handle = open(path, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.DictReader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    names = list(reader.fieldnames or [])

    def csv_rows():
        with handle:
            for row in reader:
                where = f"row {reader.line_num}"
                if any("\udc80" <= ch <= "\udcff" for value in row.values() if isinstance(value, str) for ch in value):
                    yield where, "bad encoding: not UTF-8"
                else:
                    yield where, row
    return names, csv_rows()


def _table_rows(path: Path, fmt: str, layout: Layout) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """``(where, row)`` pairs, or ``(where, reason)`` for rows that cannot be decoded; checks columns first.

    One row per transcript reads the text column, or a ``turns`` column (JSON text in CSV, a list in Parquet)."""
    text = layout.text_col
    wanted = [text, "turns", layout.id_col] + ([layout.conversation_col, layout.speaker_col] if layout.conversation_col else [])
    wanted += [c for c in (layout.order_col, *layout.keep_cols) if c]
    names, rows = read_rows(path, fmt, wanted)
    if names is not None:
        if not names:
            raise InputError(f"{path} holds no records")
        if not layout.conversation_col and text not in names and "turns" in names:
            text = "turns"
        needed = [text] + ([layout.conversation_col, layout.speaker_col] if layout.conversation_col else [])
        _check_columns(path, names, needed + [c for c in (layout.order_col, *layout.keep_cols) if c])
    return rows


CONVERSATION_KEYS = ("conversation_id", "conversation", "ticket_id", "ticket", "thread_id", "thread", "chat_id",
                     "session_id", "case_id", "dialog_id", "dialogue_id")


def conversation_key_hint(path: str | os.PathLike, fmt: str | None = None, rows: int = 5000) -> str | None:
    """A column named like a conversation key whose values repeat within the first ``rows`` rows: the sign of a
    message-per-row file scored as if each row were a transcript."""
    names, records = read_rows(path, fmt)
    seen: dict[str, set] = {}
    for _, row in itertools.islice(records, rows):
        if not isinstance(row, dict):
            continue
        for name in names if names is not None else row:
            if name.lower() in CONVERSATION_KEYS and row.get(name) not in (None, ""):
                values = seen.setdefault(name, set())
                if str(row[name]) in values:
                    return name
                values.add(str(row[name]))
    return None


def _check_columns(path: Path, found: Sequence[str], needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in found]
    if missing:
        raise InputError(f"{path.name} has no column {', '.join(repr(c) for c in missing)} "
                         f"(its columns: {', '.join(found) or 'none'}); name the right ones with "
                         "--text-col / --id-col / --conversation-col / --speaker-col")


def _row_records(rows: Iterator[tuple[str, dict[str, Any] | str]], layout: Layout) -> Iterator[InputRecord]:
    for number, (where, row) in enumerate(rows, 1):
        yield input_record(row, f"row-{number}", where, layout)


def _grouped(path: Path, rows: Iterator[tuple[str, dict[str, Any] | str]], layout: Layout) -> Iterator[InputRecord]:
    """Group message rows into conversations (rows need not be adjacent).

    Rows are spilled to hash partitions on disk, then each partition is grouped in memory: memory is
    bounded by one partition (about 64 MB of rows), not by the file.
    """
    partitions = max(1, os.path.getsize(path) // PARTITION_BYTES + 1)
    with tempfile.TemporaryDirectory(prefix="motclassify-group-") as folder:
        files = [open(Path(folder) / f"{i}.jsonl", "w+", encoding="utf-8") for i in range(partitions)]
        try:
            for index, (where, row) in enumerate(rows):
                if isinstance(row, str):
                    yield InputRecord(where.replace(" ", "-"), where, error=row)
                    continue
                conversation = row.get(layout.conversation_col)
                if conversation is None or conversation == "":
                    yield InputRecord(where.replace(" ", "-"), where, error=f"no {layout.conversation_col!r} value")
                    continue
                key = str(conversation)
                target = files[zlib.crc32(key.encode()) % partitions]
                target.write(json.dumps([key, index, where, row], default=str) + "\n")
            for handle in files:
                handle.seek(0)
                yield from _conversations(handle, layout)
        finally:
            for handle in files:
                handle.close()


def _conversations(handle, layout: Layout) -> Iterator[InputRecord]:
    groups: dict[str, list] = {}
    for line in handle:
        key, index, where, row = json.loads(line)
        groups.setdefault(key, []).append((index, where, row))
    for key, members in groups.items():
        where = f"conversation {key!r}"
        if layout.order_col:
            try:
                members.sort(key=lambda m: _order_key(m[2].get(layout.order_col)))
            except (TypeError, ValueError):
                yield InputRecord(key, where, error=f"{layout.order_col!r} values cannot be ordered")
                continue
        else:
            members.sort(key=lambda m: m[0])
        turns = [{"speaker": row.get(layout.speaker_col) or "other", "text": row.get(layout.text_col)}
                 for _, _, row in members if isinstance(row.get(layout.text_col), str) and row.get(layout.text_col).strip()]
        keep = {c: members[0][2].get(c) for c in layout.keep_cols}
        if not turns:
            yield InputRecord(key, where, keep=keep, error="empty conversation: no message has text")
        else:
            yield InputRecord(key, where, {"turns": turns}, keep)


def _order_key(value: Any) -> tuple[int, Any]:
    if value is None or value == "":
        raise ValueError("missing order value")
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))


class ResultWriter:
    """Appends result rows to JSONL, CSV or Parquet output, whole rows only, so an interrupted run can resume.

    JSONL and CSV grow line by line (a half-written last line is cut off on resume); Parquet is written as
    atomically renamed part files in ``OUTPUT.parts/`` and joined into ``OUTPUT`` by :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike, fmt: str, columns: Sequence[str], resume: bool = False):
        self.path, self.fmt, self.columns = Path(path), fmt, list(columns)
        self.parts = self.path.with_name(self.path.name + ".parts")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not resume:
            shutil.rmtree(self.parts, ignore_errors=True)
            self.path.unlink(missing_ok=True)
        if fmt == "parquet":
            self.parts.mkdir(exist_ok=True)
            if self.path.exists():  # a finished run being extended: its file becomes the first part
                self.path.replace(self.parts / "part-000000.parquet")
            self._part = len(list(self.parts.glob("part-*.parquet")))
        else:
            _cut_partial_line(self.path)
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._handle = open(self.path, "a", encoding="utf-8", newline="")
            self._csv = csv.DictWriter(self._handle, self.columns, extrasaction="ignore") if fmt == "csv" else None
            if self._csv and new:
                self._csv.writeheader()

    def done_ids(self) -> collections.Counter[str]:
        """How many rows of each id the output already holds (for ``--resume``)."""
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            return collections.Counter(str(i) for part in sorted(self.parts.glob("part-*.parquet"))
                                       for i in pq.read_table(part, columns=["id"]).column("id").to_pylist())
        return collections.Counter(read_ids(self.path, self.fmt))

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist([{c: row.get(c) for c in self.columns} for row in rows])
            temporary = self.parts / f".part-{self._part:06d}.tmp"
            pq.write_table(table, temporary)
            temporary.replace(self.parts / f"part-{self._part:06d}.parquet")
            self._part += 1
            return
        if self._csv:
            self._csv.writerows(rows)
        else:
            self._handle.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self.fmt != "parquet":
            self._handle.close()
            return
        import pyarrow.parquet as pq

        parts = sorted(self.parts.glob("part-*.parquet"))
        temporary = self.path.with_name(self.path.name + ".tmp")
        writer = None
        for part in parts:
            table = pq.read_table(part)
            if writer is None:
                writer = pq.ParquetWriter(temporary, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is not None:
            writer.close()
            temporary.replace(self.path)
        shutil.rmtree(self.parts, ignore_errors=True)


def read_ids(path: str | os.PathLike, fmt: str) -> Iterator[str]:
    """The ``id`` of each row of a JSONL or CSV results file (whole lines only)."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            for row in csv.DictReader(handle):
                yield row["id"]
        else:
            for line in handle:
                if line.endswith("\n"):
                    yield str(json.loads(line)["id"])


def _cut_partial_line(path: Path) -> None:
    """Drop a last line left half-written by an interrupted run."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        position = size
        while position > 0:
            step = min(1 << 16, position)
            handle.seek(position - step)
            block = handle.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                end = position - step + newline + 1
                if end != size:
                    handle.truncate(end)
                return
            position -= step
        handle.truncate(0)


def read_table(path: str | os.PathLike, fmt: str | None = None, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """All rows of a (scored) JSONL, CSV or Parquet file as dicts; a row that cannot be decoded is an error."""
    _, rows = read_rows(path, fmt, columns)
    table = []
    for where, row in rows:
        if isinstance(row, str):
            raise InputError(f"{path} {where}: {row}")
        table.append({c: row.get(c) for c in columns} if columns else row)
    return table
