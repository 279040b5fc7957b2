"""Rebuild the default model from the corpus, with one command:

    python training/train_default.py

Steps: check the corpus and cut the split (prepare.py), augment the training split (augment.py), fine-tune
with the shipped hyper-parameters (early stopping and calibration on dev), write the model into
motclassify/models/default/, then score the untouched test split into training/results/test_metrics.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent
REPO = ROOT.parent
DEFAULT_MODEL = REPO / "motclassify" / "models" / "default"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=str(DEFAULT_MODEL), help="model folder (default: the packaged default model)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--skip-prepare", action="store_true", help="use the split files as they are")
    parser.add_argument("--patience", type=int, default=2, help="epochs without dev improvement before stopping; the best epoch on dev is kept")
    args = parser.parse_args()

    for step in ("augment.py",) if args.skip_prepare else ("prepare.py", "augment.py"):
        subprocess.run([sys.executable, str(ROOT / step)], check=True)

    import motclassify
    from motclassify.evaluation import evaluate

    output = Path(args.output)
    staging = output.with_name(output.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    classifier = motclassify.train(ROOT / "work" / "train_augmented.jsonl", ROOT / "data" / "splits" / "dev.jsonl",
                                   output_dir=staging, epochs=args.epochs, patience=args.patience,
                                   name="motclassify-default",
                                   version=motclassify.__version__)
    report = evaluate(classifier, ROOT / "data" / "splits" / "test.jsonl")
    shutil.rmtree(output, ignore_errors=True)
    staging.replace(output)
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    (results / "test_metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.copy(output / "metrics.json", results / "dev_metrics.json")
    print(f"default model -> {output}; test macro-F1 moment {report['moment']['macro_f1']:.3f}, "
          f"sentiment {report['sentiment']['macro_f1']:.3f}")


if __name__ == "__main__":
    main()
