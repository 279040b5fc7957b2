"""The ``motclassify`` command: score, report, evaluate, train, info."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
import traceback
import warnings
from pathlib import Path

from ._version import __version__
from .arguments import TrainingArguments
from .config import DEFAULT_BATCH_TOKENS
from .errors import MotclassifyError

EXAMPLES = {
    "main": """\
examples:
  motclassify score examples/support_export.jsonl -o out/scored.jsonl
  motclassify report out/scored.jsonl -o out/report --time-col created_at
  motclassify evaluate training/data/splits/test.jsonl --json
  motclassify train my_labelled.jsonl --output my_model --epochs 4
  motclassify info""",
    "score": """\
examples:
  motclassify score export.jsonl -o scored.jsonl
  motclassify score tickets.csv -o scored.parquet --text-col body --id-col ticket_id --keep-cols created_at
  motclassify score messages.csv -o scored.csv --conversation-col conversation_id --speaker-col author \\
      --text-col message --order-col sent_at
  motclassify score big.parquet -o scored.parquet --resume --quantize int8 --threads 2""",
    "report": """\
examples:
  motclassify report scored.jsonl -o report/
  motclassify report scored.parquet -o report/ --time-col created_at""",
    "evaluate": """\
examples:
  motclassify evaluate labelled.jsonl
  motclassify evaluate labelled.csv --model my_model --json""",
    "train": """\
examples:
  motclassify train labelled.jsonl --output my_model
  motclassify train train.jsonl --eval dev.jsonl --output my_model --epochs 8 --max-length 256
  motclassify train more.jsonl --from-model my_model --output my_model_v2   # continue fine-tuning""",
    "info": """\
example:
  motclassify info --model my_model""",
}


TRAIN_FLAGS = {"epochs": int, "max_steps": int, "batch_size": int, "learning_rate": float, "max_length": int,
               "validation_fraction": float, "lexical_weight": float, "seed": int, "threads": int,
               "name": str}  # TrainingArguments fields


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="motclassify", formatter_class=formatter, epilog=EXAMPLES["main"],
        description="Tag customer-support transcripts with their moment of truth (touchpoint, journey stage) and "
                    "how it turned out for the customer (magical, average or miserable).")
    parser.add_argument("--version", action="version", version=f"motclassify {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES[name], formatter_class=formatter)
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks on errors")
        return sub

    def model_options(sub: argparse.ArgumentParser) -> None:
        group = sub.add_argument_group("model and engine")
        group.add_argument("--model", help="model folder (default: the model shipped with motclassify)")
        group.add_argument("--encoder-path", help="local base encoder folder replacing the packaged one (hash-checked)")
        group.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto")
        group.add_argument("--batch-tokens", type=int, default=DEFAULT_BATCH_TOKENS,
                           help=f"padded tokens per encoder batch (default {DEFAULT_BATCH_TOKENS})")
        group.add_argument("--quantize", choices=["int8"], help="int8 dynamic quantization (CPU only)")
        group.add_argument("--threads", type=int, help="torch CPU threads (default: available cores)")
        group.add_argument("--backend", default="torch", choices=["torch", "onnx"],
                           help="encoder runtime: torch (default) or onnx (ONNX Runtime on the CPU, exported once and "
                                "cached; needs motclassify[onnx])")

    score = command("score", "Score every transcript of an export (JSONL, CSV or Parquet).")
    score.add_argument("input", help="input file: .jsonl, .csv or .parquet")
    score.add_argument("-o", "--output", required=True, help="output file: .jsonl, .csv or .parquet")
    score.add_argument("--format", dest="input_format", choices=["jsonl", "csv", "parquet"], help="input format (default: from extension)")
    score.add_argument("--output-format", choices=["jsonl", "csv", "parquet"], help="output format (default: from extension)")
    score.add_argument("--errors", help="errors file (default: OUTPUT_STEM.errors.jsonl beside the output)")
    layout = score.add_argument_group("input layout")
    layout.add_argument("--text-col", default="text", help="column with the transcript text, or the message text (default: text)")
    layout.add_argument("--id-col", default="id", help="column with the transcript id (default: id; row number if absent)")
    layout.add_argument("--conversation-col", help="one row per message: column naming the conversation")
    layout.add_argument("--speaker-col", default="speaker", help="one row per message: speaker column (default: speaker)")
    layout.add_argument("--order-col", help="one row per message: column to order messages by (default: file order)")
    layout.add_argument("--keep-cols", default="", help="comma-separated input columns to carry into the output")
    score.add_argument("--resume", action="store_true", help="continue an interrupted run: skip records already in the output or errors file "
                       "(an id found there N times skips its first N occurrences, so repeated ids resume exactly)")
    score.add_argument("--chunk-size", type=int, default=512, help="transcripts read, scored and written at a time")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    model_options(score)
    engine = score.add_argument_group("engine")
    engine.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="local (default) or ray: Ray Data reads INPUT (a file or a folder of files) and writes "
                             "OUTPUT and the errors as folders of files (needs motclassify[ray])")
    engine.add_argument("--ray-address", help="address of a running Ray cluster (default: start a local one)")
    engine.add_argument("--workers", type=int, help="ray: scoring workers (default: the cluster's CPUs / --threads)")
    engine.add_argument("--gpus-per-worker", type=float, default=0, help="ray: GPUs per worker (default 0: CPU workers)")

    report = command("report", "Write the moments-of-truth report (tables, charts, report.html) from a scored file.")
    report.add_argument("scored", help="output of `motclassify score`")
    report.add_argument("-o", "--output", required=True, help="report folder")
    report.add_argument("--time-col", help="timestamp column for the chart over time, by week or month as the data allows "
                                               "(carry it with score --keep-cols)")
    report.add_argument("--examples", type=int, default=5, help="example ids listed per weak moment (default 5)")

    evaluate = command("evaluate", "Score labelled data and print per-class precision/recall/F1 and macro-F1.")
    evaluate.add_argument("data", help="labelled JSONL or CSV (turns or text, moment, sentiment)")
    evaluate.add_argument("--json", action="store_true", help="print the full report as JSON")
    model_options(evaluate)

    train = command("train", "Fine-tune a model on labelled transcripts (defaults adapt to the data size).")
    train.add_argument("data", help="labelled JSONL, CSV or Parquet (turns or text, moment and/or sentiment)")
    train.add_argument("--output", required=True, help="model folder to write")
    train.add_argument("--eval", help="validation data (default: a stratified split of DATA)")
    train.add_argument("--from-model", help="a motclassify model folder to continue from, or a Hugging Face encoder "
                                            "folder (default: the shipped model's encoder, new heads if the labels differ)")
    train.add_argument("--moments", help="comma-separated moment labels (default: from the data)")
    train.add_argument("--sentiments", help="comma-separated sentiment labels (default: from the data)")
    defaults = TrainingArguments.field_defaults()
    for name, kind in TRAIN_FLAGS.items():
        shown = defaults[name] if defaults[name] is not None else "chosen from the data size"
        train.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"default: {shown}")
    train.add_argument("--refit", action="store_true", default=None, help="after validating on a held-out share, "
                       "train again on all records (about twice the time; without --eval only)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")

    info = command("info", "Print versions, label sets, base-encoder check, device and threads (for bug reports).")
    info.add_argument("--model", help="model folder (default: the shipped model)")
    return parser


def _classifier(args: argparse.Namespace):
    from .classifier import MomentClassifier

    return MomentClassifier.load(args.model, device=args.device, batch_tokens=args.batch_tokens,
                                 quantize=args.quantize, threads=args.threads, encoder_path=args.encoder_path,
                                 backend=args.backend)


def run_score(args: argparse.Namespace) -> int:
    from .files import Layout, conversation_key_hint
    from .scoring import score_file

    if not args.conversation_col and Path(args.input).is_file():
        key = conversation_key_hint(args.input, args.input_format)
        if key:
            print(f"motclassify: warning: column {key!r} repeats across rows, so each row may be one message of a "
                  f"conversation; to score conversations pass --conversation-col {key} (and --speaker-col, --order-col)",
                  file=sys.stderr)

    layout = Layout(text_col=args.text_col, id_col=args.id_col, conversation_col=args.conversation_col,
                    speaker_col=args.speaker_col, order_col=args.order_col,
                    keep_cols=tuple(c.strip() for c in args.keep_cols.split(",") if c.strip()))
    if args.engine == "ray":
        return run_score_on_ray(args, layout)
    summary = score_file(_classifier(args), args.input, args.output, input_format=args.input_format,
                         output_format=args.output_format, layout=layout, errors_path=args.errors, resume=args.resume,
                         chunk_size=args.chunk_size, progress=False if args.quiet else None)
    print(summary.line())
    return 0 if summary.scored or summary.skipped else 1


def run_score_on_ray(args: argparse.Namespace, layout) -> int:
    from .distributed import score_path
    from .errors import InputError

    if args.resume:
        raise InputError("--resume works with the local engine; the ray engine writes a new output folder")
    if args.backend != "torch":
        raise InputError("--backend onnx works with the local engine; Ray workers run the torch backend")
    summary = score_path(args.input, args.output, model=args.model, input_format=args.input_format,
                         output_format=args.output_format, layout=layout, errors_path=args.errors,
                         ray_address=args.ray_address, batch_tokens=args.batch_tokens, quantize=args.quantize,
                         concurrency=args.workers, threads_per_worker=args.threads or 1,
                         num_gpus_per_worker=args.gpus_per_worker)
    print(summary.line())
    return 0 if summary.scored else 1


def run_report(args: argparse.Namespace) -> int:
    from .report import build_report

    page = build_report(args.scored, args.output, time_col=args.time_col, examples=args.examples)
    print(f"report written to {page.parent} (open {page})")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from .card import per_class_table
    from .evaluation import evaluate

    classifier = _classifier(args)
    report = evaluate(classifier, args.data)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for head in ("moment", "sentiment"):
        if head not in report:
            continue
        result = report[head]
        print(f"\n{head}: macro-F1 {result['macro_f1']:.3f} (over the {len(result['macro_f1_labels'])} labels present "
              f"in the data)  accuracy {result['accuracy']:.3f}  n={result['support']}\n")
        print("\n".join(per_class_table(result)))
    return 0


def run_train(args: argparse.Namespace) -> int:
    from .training import train_model

    split = lambda value: [v.strip() for v in value.split(",") if v.strip()] if value else None  # noqa: E731
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    given = {name: getattr(args, name) for name in [*TRAIN_FLAGS, "refit"] if getattr(args, name) is not None}
    folder = train_model(args.data, args.eval, from_model=args.from_model, moments=split(args.moments),
                         sentiments=split(args.sentiments), output_dir=args.output, progress=not args.quiet, **given)
    metrics = json.loads((folder / "metrics.json").read_text())
    refit = f", then refit on all {metrics['train_examples'] + metrics['validation_examples']}" if metrics.get("refit") else ""
    print(f"model written to {folder} ({metrics['train_examples']} training records, validated on "
          f"{metrics['validation_examples']}{refit}); load it with MomentClassifier.load({str(folder)!r})")
    for head in ("moment", "sentiment"):
        baseline = metrics["baseline"].get(head)
        alone = metrics[head].get("encoder_alone")
        print(f"  {head}: validation macro-F1 {metrics[head]['macro_f1']:.3f}"
              + (f" (encoder alone {alone['macro_f1']:.3f}, blended with a TF-IDF model at weight "
                 f"{metrics[head]['lexical_weight']})" if alone else "")
              + (f"; TF-IDF + logistic regression on the same records {baseline['macro_f1']:.3f}" if baseline else ""))
    return 0


def cuda_available() -> bool:
    """Whether torch can use a GPU. Without an NVIDIA driver it cannot, and torch (a second to import) is not loaded."""
    if not any(Path(p).exists() for p in ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/nvidiactl")):
        return False
    import torch

    return torch.cuda.is_available()


def run_info(args: argparse.Namespace) -> int:
    import platform
    from importlib.metadata import version

    from .config import default_threads
    from .errors import BaseEncoderMismatch, ModelFormatError
    from .folder import DEFAULT_MODEL_PATH, read_config, resolve_base_encoder

    folder = Path(args.model) if args.model else DEFAULT_MODEL_PATH
    cuda = cuda_available()
    lines = [f"motclassify {__version__}", f"python {platform.python_version()} on {platform.platform()}",
             f"torch {version('torch')}; CUDA available: {cuda}; "
             f"device (auto): {'cuda' if cuda else 'cpu'}; threads: {default_threads()}",
             f"model folder: {folder.resolve()}"]
    config = read_config(folder)
    lines += [f"model: {config.name} version {config.version} (format {config.format_version}, "
              f"made with motclassify {config.motclassify_version or '?'}){'' if config.trained else '  UNTRAINED PLACEHOLDER'}",
              f"moments: {', '.join(m + (f' ({config.labels.stage(m)})' if config.labels.stage(m) else '') for m in config.labels.moments)}",
              f"sentiments: {', '.join(config.labels.sentiments)}",
              f"max length: {config.max_length} tokens a window, overlap {config.window_overlap_tokens}"]
    if config.lexical_weights:
        lines.append("lexical model blended: " + ", ".join(f"{h} weight {w}" for h, w in config.lexical_weights.items()))
    try:
        path, sha = resolve_base_encoder(config.base_encoder)
        lines.append(f"base encoder: {path} sha256 {sha[:16]}... OK")
    except (BaseEncoderMismatch, ModelFormatError) as error:
        lines.append(f"base encoder: CHECK FAILED: {error}")
    print("\n".join(lines))
    return 0


RUNNERS = {"score": run_score, "report": run_report, "evaluate": run_evaluate, "train": run_train, "info": run_info}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("default" if args.debug else "ignore", category=DeprecationWarning)
    try:
        return RUNNERS[args.command](args)
    except KeyboardInterrupt:
        print("motclassify: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130
    except (MotclassifyError, OSError) as error:  # errors that say what to do in one line; anything else is a bug
        if args.debug:
            traceback.print_exc()
            return 2
        message = textwrap.shorten(str(error).splitlines()[0] if str(error) else type(error).__name__, 400)
        print(f"motclassify: error: {message} (rerun with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
