"""A company that keeps the default taxonomy fine-tunes the default model on a few hundred of its own transcripts:
how much it gains on its own data and how much it forgets elsewhere (CPU).

    python benchmarks/continued.py        # -> benchmarks/results/continued.json

Data: Lumen Mobile, a telecom (`benchmarks/fewshot_data/telecom_default_labels_*.jsonl`, written for this
benchmark with the default labels); 20 conversations per moment (lowest id hashes) are its test set, the rest
train `motclassify.train(records)` with the defaults, which continues from the default model and keeps its heads.
Forgetting is measured on the real test split and the authored test split.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "training"))
from corpus import authored, real  # noqa: E402

TEST_PER_MOMENT = 20


def company_split() -> tuple[list[dict], list[dict]]:
    records = [json.loads(line) for path in sorted((HERE / "fewshot_data").glob("telecom_default_labels_*.jsonl"))
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_moment: dict[str, list[dict]] = {}
    for record in sorted(records, key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest()):
        by_moment.setdefault(record["moment"], []).append(record)
    return ([r for group in by_moment.values() for r in group[TEST_PER_MOMENT:]],
            [r for group in by_moment.values() for r in group[:TEST_PER_MOMENT]])


def scores(classifier, sets: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    from motclassify.evaluation import evaluate

    return {name: {head: round(evaluate(classifier, records)[head]["macro_f1"], 4) for head in ("moment", "sentiment")}
            for name, records in sets.items()}


def main() -> None:
    import motclassify

    train, test = company_split()
    sets = {"Lumen test": test, "real test": real("test"), "authored test": authored("test")}
    before = scores(motclassify.MomentClassifier.load(), sets)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        tuned = motclassify.train(train, output_dir=folder, progress=False)
        seconds = round(time.perf_counter() - started, 1)
        after = scores(tuned, sets)
    lines = [f"{name}: moment {before[name]['moment']:.3f} -> {after[name]['moment']:.3f}, "
             f"sentiment {before[name]['sentiment']:.3f} -> {after[name]['sentiment']:.3f}" for name in sets]
    lines.append(f"{len(train)} Lumen training transcripts, {seconds:.0f} s of training on this 2-core CPU")
    result = {"command": "python benchmarks/continued.py", "device": "cpu", "train_records": len(train),
              "test_records": {name: len(records) for name, records in sets.items()}, "train_seconds": seconds,
              "default_model": before, "after_fine_tuning": after, "summary_lines": lines}
    out = HERE / "results" / "continued.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
