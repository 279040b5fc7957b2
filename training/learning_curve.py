"""Few-shot learning curve: train with 16 and 64 labelled transcripts per moment, score the test split.

    python training/learning_curve.py    # writes training/results/learning_curve.json

Each point samples N training transcripts per moment (seed 13) from the training split (no augmentation),
trains with the default recipe (dev split for early stopping and calibration) and scores the untouched
test split. The "all" point is the shipped default model (training/results/test_metrics.json).
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

ROOT = Path(__file__).parent
SPLITS = ROOT / "data" / "splits"


def sample_per_moment(records: list[dict], per_class: int, seed: int = 13) -> list[dict]:
    rng = random.Random(seed)
    by_moment: dict[str, list[dict]] = {}
    for record in records:
        by_moment.setdefault(record["moment"], []).append(record)
    return [r for group in by_moment.values() for r in rng.sample(group, min(per_class, len(group)))]


def main() -> None:
    import argparse

    import motclassify
    from motclassify.evaluation import evaluate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-moment", type=int, nargs="+", default=[16, 64])
    args = parser.parse_args()
    train = [json.loads(line) for line in (SPLITS / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    curve = []
    for per_class in args.per_moment:
        subset = sample_per_moment(train, per_class)
        with tempfile.TemporaryDirectory() as folder:
            classifier = motclassify.train(subset, SPLITS / "dev.jsonl", output_dir=folder, epochs=8, patience=3,
                                           progress=False)
            report = evaluate(classifier, SPLITS / "test.jsonl")
        curve.append({"per_moment": per_class, "train_records": len(subset),
                      "moment_macro_f1": round(report["moment"]["macro_f1"], 4),
                      "sentiment_macro_f1": round(report["sentiment"]["macro_f1"], 4)})
        print(curve[-1], flush=True)
    full = json.loads((ROOT / "results" / "test_metrics.json").read_text())
    curve.append({"per_moment": "all", "train_records": len(train), "note": "the default model (plus augmentation)",
                  "moment_macro_f1": round(full["moment"]["macro_f1"], 4),
                  "sentiment_macro_f1": round(full["sentiment"]["macro_f1"], 4)})
    chance = {"moment_macro_f1": round(1 / 9, 4), "sentiment_macro_f1": round(1 / 3, 4)}
    out = ROOT / "results" / "learning_curve.json"
    out.write_text(json.dumps({"curve": curve, "uniform_chance": chance,
                               "command": "python training/learning_curve.py"}, indent=2) + "\n")
    print(json.dumps(curve, indent=2))


if __name__ == "__main__":
    main()
