"""Few-shot fine-tuning on companies' own label sets, against TF-IDF + LR and frozen embeddings + LR (CPU).

    python benchmarks/fewshot.py                                   # the full run -> benchmarks/results/fewshot.json
    python benchmarks/fewshot.py --companies software --per-class 8 --seeds 1 --out /tmp/smoke.json   # a smoke run
    python benchmarks/fewshot.py --per-class 16 --seeds 1 --refit --out benchmarks/results/fewshot_refit.json

Data (`benchmarks/fewshot_data/`, written for this benchmark, none of it from the default corpus):
- airline: SkyBridge Air, 6 moments of its own, NPS-style sentiment (promoter / passive / detractor);
- bank: Northfield Bank, 6 moments, 5-level sentiment (very_negative ... very_positive);
- software: Tallyworks SaaS, 5 moments, 2-level sentiment (satisfied / dissatisfied).
Per company, 25 conversations per moment (the lowest hashes of their ids) are the test set and the next 25 the dev
set (``--split dev`` evaluates there, for choosing a recipe without looking at the test set); each point samples
N training conversations per moment from the rest, once per seed, and every system gets the same N. The
fine-tuned model is `motclassify.train(records)` with its defaults, as a user would call it (it holds its own
validation records out of the N); its wall-clock training time is recorded. Macro-F1 is over the labels present
in the test set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).parent
DATA = HERE / "fewshot_data"
HEADS = ("moment", "sentiment")
TEST_PER_CLASS = 25


def load_company(name: str, split: str = "test") -> tuple[list[dict], list[dict]]:
    """The company's training pool and evaluation set. Per moment, in the order of their ids' hashes, the first
    ``TEST_PER_CLASS`` conversations are the test set and the next ``TEST_PER_CLASS`` the dev set; ``split="dev"``
    evaluates on the dev set and samples training records from the rest (the test set stays unseen: recipe choices
    are made there), ``split="test"`` evaluates on the test set and samples from everything after it."""
    records = [json.loads(line) for path in sorted(DATA.glob(f"{name}_[0-9].jsonl"))
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_moment: dict[str, list[dict]] = {}
    for record in sorted(records, key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest()):
        by_moment.setdefault(record["moment"], []).append(record)
    first = TEST_PER_CLASS if split == "dev" else 0
    evaluation = [r for group in by_moment.values() for r in group[first:first + TEST_PER_CLASS]]
    pool = [r for group in by_moment.values() for r in group[first + TEST_PER_CLASS:]]
    return pool, evaluation


def sample(pool: list[dict], per_class: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    by_moment: dict[str, list[dict]] = {}
    for record in pool:
        by_moment.setdefault(record["moment"], []).append(record)
    return [r for moment in sorted(by_moment) for r in rng.sample(by_moment[moment], min(per_class, len(by_moment[moment])))]


def text_of(record: dict) -> str:
    return "\n".join(f"{t['speaker']}: {t['text']}" for t in record["turns"])


class FrozenEmbeddings:
    """Mean-pooled all-MiniLM-L6-v2 sentence embeddings (the packaged base encoder), cached per text."""

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        from motclassify.folder import packaged_base_path

        self.encoder = SentenceTransformer(str(packaged_base_path()), device="cpu")
        self.encoder.max_seq_length = 256
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, records: list[dict]) -> np.ndarray:
        missing = [text_of(r) for r in records if text_of(r) not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.encoder.encode(missing, batch_size=32, normalize_embeddings=True)))
        return np.stack([self.cache[text_of(r)] for r in records])


def frozen_scores(embed: FrozenEmbeddings, train: list[dict], test: list[dict]) -> dict[str, float]:
    from motclassify.metrics import macro_f1

    result = {}
    for head in HEADS:
        model = LogisticRegression(max_iter=3000, C=10.0, class_weight="balanced")
        model.fit(embed(train), [r[head] for r in train])
        gold = [r[head] for r in test]
        result[head] = round(macro_f1(gold, model.predict(embed(test)), sorted(set(gold))), 4)
    return result


def point(company: str, per_class: int, seed: int, pool: list[dict], test: list[dict], embed: FrozenEmbeddings,
          from_model: str | None, refit: bool = False) -> dict:
    import motclassify
    from motclassify.data import load_examples
    from motclassify.evaluation import evaluate
    from motclassify.training import tfidf_baseline

    train = sample(pool, per_class, seed)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        classifier = motclassify.train(train, output_dir=folder, from_model=from_model, seed=seed, progress=False,
                                        refit=refit)
        seconds = time.perf_counter() - started
        report = evaluate(classifier, test)
    tfidf = tfidf_baseline(load_examples(train), load_examples(test))
    return {"company": company, "per_class": per_class, "seed": seed, "train_records": len(train),
            "train_seconds": round(seconds, 1),
            "motclassify": {head: round(report[head]["macro_f1"], 4) for head in HEADS},
            "tfidf + logistic regression": {head: tfidf[head]["macro_f1"] for head in HEADS},
            "frozen MiniLM + logistic regression": frozen_scores(embed, train, test)}


SYSTEMS = ("motclassify", "tfidf + logistic regression", "frozen MiniLM + logistic regression")


def summary(points: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds of each system and head, per company and size."""
    rows = []
    for key in sorted({(p["company"], p["per_class"]) for p in points}):
        group = [p for p in points if (p["company"], p["per_class"]) == key]
        row = {"company": key[0], "per_class": key[1], "seeds": len(group),
               "train_seconds_mean": round(float(np.mean([p["train_seconds"] for p in group])), 1)}
        for system in SYSTEMS:
            row[system] = {head: round(float(np.mean([p[system][head] for p in group])), 4) for head in HEADS}
            row[system]["sd"] = {head: round(float(np.std([p[system][head] for p in group])), 4) for head in HEADS}
        row["motclassify_at_least_both_baselines"] = {
            head: all(row["motclassify"][head] >= row[system][head] for system in SYSTEMS[1:]) for head in HEADS}
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    """The learning-curve table: mean moment / sentiment macro-F1 over seeds, best of each head in bold."""
    lines = ["| label set, N per moment | seeds | `motclassify train` defaults | TF-IDF + LR | frozen MiniLM + LR "
             "| training time (mean) |", "|---|---|---|---|---|---|"]
    for row in rows:
        best = {head: max(row[system][head] for system in SYSTEMS) for head in HEADS}
        cells = [" / ".join(f"**{row[s][h]:.3f}**" if row[s][h] == best[h] else f"{row[s][h]:.3f}" for h in HEADS)
                 for s in SYSTEMS]
        lines.append(f"| {row['company']}, {row['per_class']} | {row['seeds']} | " + " | ".join(cells)
                     + f" | {row['train_seconds_mean']:.0f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", nargs="+", default=["airline", "bank", "software"])
    parser.add_argument("--per-class", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per point (default 3)")
    parser.add_argument("--from-model", help="model folder to start from (default: the shipped default model)")
    parser.add_argument("--refit", action="store_true", help="train with refit=True (validate, then train on all N)")
    parser.add_argument("--split", choices=["test", "dev"], default="test",
                        help="evaluate on the test set (default) or on the dev set, for choosing a recipe")
    parser.add_argument("--out", default=str(HERE / "results" / "fewshot.json"))
    args = parser.parse_args()
    embed = FrozenEmbeddings()
    out = Path(args.out)
    points = []
    companies = {company: load_company(company, args.split) for company in args.companies}
    for seed in range(args.seeds):  # seed outermost: a stopped run still holds whole tables of its first seeds
        for per_class in args.per_class:
            for company, (pool, test) in companies.items():
                points.append(point(company, per_class, seed, pool, test, embed, args.from_model, args.refit))
                print(json.dumps(points[-1]), flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)  # written after every point
                out.write_text(json.dumps({"command": "python " + " ".join(sys.argv), "split": args.split,
                                           "device": "cpu",
                                           "machine": {"cpu": platform.processor() or platform.machine(),
                                                       "python": platform.python_version()},
                                           "summary": summary(points), "table": markdown(summary(points)),
                                           "points": points}, indent=2) + "\n")
    print(markdown(summary(points)))


if __name__ == "__main__":
    main()
