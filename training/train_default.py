"""Rebuild the default model, with one command:

    python training/train_default.py                     # both stages (about 60 + 5 x 35 minutes on a 2-core CPU)
    python training/train_default.py --stage1 DIR        # stage 2 only, continuing from a stage-1 model folder
    python training/train_default.py --stage1 DIR --reuse  # average stage-2 runs already in training/work/stage2/

Stage 1 learns the task from the authored corpus: check it and cut its split (prepare.py), augment the training
split (augment.py), fine-tune from the base encoder (early stopping and calibration on the authored dev split).
Stage 2 adapts it to real conversations: merge and split the labelled real threads (prepare_real.py), then
three runs continue from stage 1 (INGREDIENTS: two training mixes of corpus.training_records, two seeds), each
3 epochs, and the shipped model is their greedy soup (Wortsman et al. 2022): the runs in order of their own real-dev
score, each kept in the weight average (motclassify.average_models) only if it raises the average's real-dev
score; temperatures fitted on real dev (companies that training never saw); that selection soup is kept in
training/selection_model/. The kept runs are then trained again with the real dev threads added to their mix (as
scikit-learn refits a chosen estimator on all its data) and averaged: the shipped model, with the selection soup's
temperatures and real-dev figures (the held-out estimate). The model is written into
motclassify/models/default/; the real and authored test splits, never used for training or tuning, are scored
into training/results/test_metrics.json.
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
WORK = ROOT / "work"
# The stage-2 runs: name -> (invented-brand tweets in the mix, seed; 13 is TrainingArguments' default). The
# shipped model is their greedy soup.
INGREDIENTS = {"threads": (False, 13), "threads_tweets": (True, 13), "threads_tweets_seed1": (True, 1)}

sys.path.insert(0, str(ROOT))
from corpus import authored, real, training_records, write_jsonl  # noqa: E402


def run(script: str) -> None:
    subprocess.run([sys.executable, str(ROOT / script)], check=True)


def stage1(epochs: int, patience: int) -> Path:
    import motclassify

    run("prepare.py")
    run("augment.py")
    folder = WORK / "stage1"
    shutil.rmtree(folder, ignore_errors=True)
    from motclassify.folder import packaged_base_path

    motclassify.train(WORK / "train_augmented.jsonl", ROOT / "data" / "splits" / "dev.jsonl", output_dir=folder,
                      from_model=packaged_base_path(), epochs=epochs, patience=patience, lexical_weight=0,
                      name="motclassify-default-stage1", version="1")
    return folder


def dev_scores(report: dict) -> tuple[float, float, float]:
    """Moment and sentiment macro-F1 on real dev, and the selection score: their mean."""
    moment, sentiment = report["moment"]["macro_f1"], report["sentiment"]["macro_f1"]
    return moment, sentiment, (moment + sentiment) / 2


def greedy_soup(runs: list[Path], dev_file: Path) -> list[Path]:
    """The runs to average: best first by their own dev score, each kept only if the average's dev score rises."""
    import motclassify
    from motclassify.evaluation import evaluate

    own = {run: dev_scores(json.loads((run / "metrics.json").read_text())) for run in runs}
    ranked = sorted(runs, key=lambda run: -own[run][2])
    kept, best = ranked[:1], own[ranked[0]][2]
    for run in ranked[1:]:
        trial = motclassify.average_models(kept + [run], WORK / "soup_trial")
        moment, sentiment, score = dev_scores(evaluate(motclassify.MomentClassifier(trial), dev_file))
        print(f"soup {[r.name for r in kept + [run]]}: real dev macro-F1 moment {moment:.3f}, sentiment "
              f"{sentiment:.3f}, score {score:.3f} (best so far {best:.3f})", flush=True)
        if score > best:
            kept, best = kept + [run], score
    shutil.rmtree(WORK / "soup_trial", ignore_errors=True)
    return kept


def keep_calibration(selection: Path, refit: Path) -> None:
    """Give the refit soup the selection soup's temperatures, real-dev figures and confusion matrices: real dev is
    in the refit's training data, so the selection's figures are the held-out estimate (as with refit=True in
    motclassify.train)."""
    from safetensors.torch import load_file

    from motclassify.card import model_folder_card
    from motclassify.folder import WEIGHTS_FILE, read_config, save_model_folder

    config = read_config(refit)
    config.temperatures = read_config(selection).temperatures
    metrics = {**json.loads((selection / "metrics.json").read_text()), "refit": True}
    save_model_folder(config, load_file(str(refit / WEIGHTS_FILE)), refit,
                      extra_files={"metrics.json": json.dumps(metrics, indent=2) + "\n",
                                   "README.md": model_folder_card(config, metrics)})
    for png in selection.glob("confusion_*.png"):
        shutil.copy(png, refit / png.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=str(DEFAULT_MODEL), help="model folder (default: the packaged default model)")
    parser.add_argument("--stage1", help="a stage-1 model folder to continue from (default: train stage 1 first)")
    parser.add_argument("--stage1-epochs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each stage-2 run")
    parser.add_argument("--patience", type=int, default=2, help="epochs without dev improvement before stopping")
    parser.add_argument("--reuse", action="store_true", help="average the stage-2 runs already in training/work/stage2/")
    args = parser.parse_args()

    import motclassify
    from motclassify.config import HEAD_FEATURES
    from motclassify.evaluation import evaluate
    from motclassify.folder import is_model_folder

    start = Path(args.stage1) if args.stage1 else stage1(args.stage1_epochs, args.patience)
    run("prepare_real.py")
    dev_file = write_jsonl(real("dev"), WORK / "real_dev.jsonl")
    def stage2_run(name: str, real_splits: tuple[str, ...], folder: Path) -> Path:
        tweets, seed = INGREDIENTS[name]
        if not (args.reuse and is_model_folder(folder)):
            train_file = write_jsonl(training_records(tweets=tweets, real_splits=real_splits),
                                     WORK / f"train_{folder.parent.name}_{name}.jsonl")
            motclassify.train(train_file, dev_file, from_model=start, output_dir=folder, epochs=args.epochs,
                              patience=args.patience, head_features=HEAD_FEATURES, seed=seed, name="motclassify-default",
                              version=motclassify.__version__)
        return folder

    ingredients = [stage2_run(name, ("train",), WORK / "stage2" / name) for name in INGREDIENTS]
    kept = greedy_soup(ingredients, dev_file)
    selection = ROOT / "selection_model"
    shutil.rmtree(selection, ignore_errors=True)
    motclassify.average_models(kept, selection, eval_data=dev_file, name="motclassify-default",
                               version=motclassify.__version__)
    output = Path(args.output)
    staging = output.with_name(output.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    motclassify.average_models([stage2_run(run.name, ("train", "dev"), WORK / "refit" / run.name) for run in kept],
                               staging, name="motclassify-default", version=motclassify.__version__)
    keep_calibration(selection, staging)
    classifier = motclassify.MomentClassifier(staging)
    report = {"real test": evaluate(classifier, real("test")), "authored test": evaluate(classifier, authored("test"))}
    shutil.rmtree(output, ignore_errors=True)
    staging.replace(output)
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    (results / "test_metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.copy(output / "metrics.json", results / "dev_metrics.json")
    print(f"default model -> {output}; " + "; ".join(
        f"{name} macro-F1 moment {r['moment']['macro_f1']:.3f}, sentiment {r['sentiment']['macro_f1']:.3f}"
        for name, r in report.items()))


if __name__ == "__main__":
    main()
