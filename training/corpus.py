"""The default model's data, one place for the recipe and the benchmarks to read it from.

- authored: the hand-written corpus, split per record (``data/splits/{train,dev,test}.jsonl``, ``prepare.py``);
- real: the labelled real Twitter care threads, split by company (``data/real/real.jsonl``, ``prepare_real.py``);
- real style: conversations written here that open with the real training companies' messages
  (``data/real_style/threads_*.jsonl``), and short Twitter care threads written here for invented brands of many
  sectors (``data/real_style/tweets_*.jsonl``), all training data.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data"
REAL_REPEATS = 3  # the real training threads are few and closest to what users score: each is seen three times an epoch


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def authored(split: str) -> list[dict]:
    return read_jsonl(DATA / "splits" / f"{split}.jsonl")


def real(split: str) -> list[dict]:
    return [r for r in read_jsonl(DATA / "real" / "real.jsonl") if r["split"] == split]


def real_style(pattern: str = "*_*.jsonl") -> list[dict]:
    """Real-style threads: ``threads_*.jsonl`` (real openings continued), ``tweets_*.jsonl`` (invented brands)."""
    return [r for path in sorted((DATA / "real_style").glob(pattern)) if not path.name.startswith("openings")
            for r in read_jsonl(path)]


def training_records(authored_train: list[dict] | None = None, tweets: bool = True,
                     real_splits: tuple[str, ...] = ("train",)) -> list[dict]:
    """A second-stage training mix: the authored training split (or the given version of it), the real threads of
    ``real_splits`` ``REAL_REPEATS`` times, the real-style continuations of real openings and (unless
    ``tweets=False``) the invented-brand care tweets."""
    return ((authored("train") if authored_train is None else authored_train)
            + [r for split in real_splits for r in real(split)] * REAL_REPEATS
            + real_style("*_*.jsonl" if tweets else "threads_*.jsonl"))


def write_jsonl(records: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    return path
