"""Fine-tuning: LoRA adapters on the encoder plus both heads, trained on labelled transcripts."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight
from tqdm.auto import tqdm

from .data import DataError, Example, infer_labels, load_examples
from .engine import Encoder, Window, default_threads, load_tokenizer
from .labels import DEFAULT_SENTIMENTS, DEFAULT_STAGES, LabelSpace
from .metrics import expected_calibration_error, fit_temperature, head_report, macro_f1, plot_confusion
from .model import (
    CONFIG_FILE,
    TOKENIZER_FILE,
    ModelConfig,
    MomentModel,
    build_model,
    load_model_folder,
    save_model_folder,
    stored_state,
)

logger = logging.getLogger("motclassify.training")
HEADS = ("moment", "sentiment")


@dataclass
class TrainingArguments:
    """Hyper-parameters of :func:`train`; the defaults are those of the shipped model."""

    epochs: int = 6
    batch_size: int = 16
    learning_rate: float = 6e-4
    head_learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 256
    lora_rank: int = 16
    lora_alpha: float = 32.0
    patience: int = 2
    validation_fraction: float = 0.15
    class_weights: bool = True
    segment_loss_weight: float = 0.5
    head_features: dict[str, list[str]] | None = None  # what each head reads (see MomentModel); None keeps the start's
    seed: int = 13
    threads: int | None = None
    progress: bool = True
    name: str = "motclassify-model"
    version: str = "1"


def train(train_data: Any, eval_data: Any = None, *, base_model: str | os.PathLike | None = None,
          moments: Sequence[str] | None = None, sentiments: Sequence[str] | None = None,
          stages: dict[str, str] | None = None, output_dir: str | os.PathLike | None = None,
          args: TrainingArguments | None = None, **overrides: Any):
    """Fine-tune a moment classifier and return it as a loaded :class:`~motclassify.MomentClassifier`.

    ``train_data`` / ``eval_data``: a JSONL or CSV path, a ``datasets.Dataset`` or a list of dicts, each
    record with ``turns`` or ``text`` and a ``moment`` and/or ``sentiment`` label. ``base_model``: ``None``
    for the packaged all-MiniLM-L6-v2, a local Hugging Face encoder folder, or a motclassify model folder to
    continue from (its label sets are kept unless ``moments``/``sentiments`` are given). Without
    ``eval_data`` a stratified validation split is held out. The model folder is written to ``output_dir``
    (a temporary folder if not given) with metrics, confusion matrices and a model card.
    Keyword ``overrides`` set fields of :class:`TrainingArguments`.
    """
    from .classifier import MomentClassifier

    args = replace(args or TrainingArguments(), **overrides)
    _seed_everything(args.seed)
    if args.threads or torch.get_num_threads() > default_threads():
        torch.set_num_threads(args.threads or default_threads())

    start = _StartingPoint.resolve(base_model)
    moments = tuple(moments) if moments else (start.labels.moments if start.labels else None)
    sentiments = tuple(sentiments) if sentiments else (start.labels.sentiments if start.labels else None)
    train_examples = load_examples(train_data, moments, sentiments)
    moments = moments or infer_labels(train_examples, "moment", tuple(DEFAULT_STAGES))
    sentiments = sentiments or infer_labels(train_examples, "sentiment", DEFAULT_SENTIMENTS)
    labels = LabelSpace.build(moments, sentiments, {**(start.labels.stages if start.labels else {}), **(stages or {})})
    if eval_data is not None:
        validation = load_examples(eval_data, labels.moments, labels.sentiments)
    else:
        train_examples, validation = stratified_split(train_examples, args.validation_fraction, args.seed)

    config = replace(start.config, labels=labels, max_length=args.max_length, lora_rank=args.lora_rank,
                     lora_alpha=args.lora_alpha, name=args.name, version=args.version, trained=True,
                     head_features=args.head_features or start.config.head_features)
    model, base_path = build_model(config, start.encoder_override)
    start.load_into(model)
    encoder = Encoder(load_tokenizer(base_path / TOKENIZER_FILE), config.max_length, config.window_overlap_tokens)

    trainer = _Trainer(model, encoder, args, train_examples, validation)
    history = trainer.fit()
    logits, gold = trainer.validation_logits()
    config.temperatures = {head: fit_temperature(logits[head][gold[head] != -100], gold[head][gold[head] != -100])
                           for head in HEADS}
    config.train_priors = {head: _priors(train_examples, head, getattr(labels, f"{head}s")) for head in HEADS}

    folder = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="motclassify-"))
    metrics = _validation_metrics(logits, gold, labels, config.temperatures)
    metrics.update(history=history, train_examples=len(train_examples), validation_examples=len(validation),
                   training_arguments=asdict(args))
    save_model_folder(config, stored_state(model), folder,
                      extra_files={"metrics.json": json.dumps(metrics, indent=2) + "\n",
                                   "README.md": model_card(config, metrics)})
    for head in HEADS:
        plot_confusion(metrics[head], f"{head} (validation)", folder / f"confusion_{head}.png")
    return MomentClassifier.load(folder, threads=args.threads)


@dataclass
class _StartingPoint:
    """Where training starts: the packaged encoder, a local encoder folder, or a motclassify model folder."""

    config: ModelConfig
    encoder_override: str | None = None
    labels: LabelSpace | None = None
    state: dict[str, torch.Tensor] | None = None

    @classmethod
    def resolve(cls, base_model: str | os.PathLike | None) -> "_StartingPoint":
        if base_model is None:
            return cls(ModelConfig())
        path = Path(base_model)
        if not (path / CONFIG_FILE).is_file():
            raise DataError(f"base model {path}: not a model folder (no {CONFIG_FILE})")
        if "moments" not in json.loads((path / CONFIG_FILE).read_text()):
            return cls(ModelConfig(), encoder_override=str(path))
        model, _, state = load_model_folder(path, merge=False)
        return cls(model.config, labels=model.config.labels, state=state)

    def load_into(self, model: MomentModel) -> None:
        """Copy the starting model's weights; heads only where the label sets are unchanged."""
        if self.state is None:
            return
        shapes = {name: tensor.shape for name, tensor in model.state_dict().items()}
        fitting = {k: v.float() for k, v in self.state.items() if shapes.get(k) == v.shape}
        same = {"moment_head": self.labels.moments == model.config.labels.moments,
                "sentiment_head": self.labels.sentiments == model.config.labels.sentiments,
                "moment_features": self.config.head_features["moment"] == model.config.head_features["moment"],
                "sentiment_features": self.config.head_features["sentiment"] == model.config.head_features["sentiment"]}
        fitting = {k: v for k, v in fitting.items()
                   if not k.startswith(("moment_head", "sentiment_head"))
                   or (same[k.split(".")[0]] and same[k.split("_")[0] + "_features"])}
        if model.config.lora_rank != self.config.lora_rank:
            raise DataError(f"continuing from a model with LoRA rank {self.config.lora_rank}: keep lora_rank the same")
        model.load_state_dict(fitting, strict=False)


class _Trainer:
    def __init__(self, model: MomentModel, encoder: Encoder, args: TrainingArguments,
                 train_examples: list[Example], validation: list[Example]):
        self.model, self.encoder, self.args = model, encoder, args
        self.train_examples, self.validation = train_examples, validation
        self.labels = model.config.labels
        self.index = {"moment": {l: i for i, l in enumerate(self.labels.moments)},
                      "sentiment": {l: i for i, l in enumerate(self.labels.sentiments)}}
        self.train_windows = encoder.windows([e.transcript for e in train_examples])
        self.validation_windows = encoder.windows([e.transcript for e in validation])
        self.class_weights = {head: self._class_weights(head) for head in HEADS}

    def _class_weights(self, head: str) -> torch.Tensor | None:
        labels = self.labels.moments if head == "moment" else self.labels.sentiments
        gold = [getattr(e, head) for e in self.train_examples if getattr(e, head) is not None]
        if not self.args.class_weights or not gold:
            return None
        present = sorted(set(gold), key=labels.index)
        weights = dict(zip(present, compute_class_weight("balanced", classes=np.array(present), y=np.array(gold))))
        return torch.tensor([weights.get(label, 1.0) for label in labels], dtype=torch.float32)

    def fit(self) -> list[dict[str, float]]:
        args = self.args
        heads = [p for n, p in self.model.named_parameters() if p.requires_grad and n.startswith(("moment_head", "sentiment_head"))]
        encoder_params = [p for n, p in self.model.named_parameters() if p.requires_grad and n.startswith("encoder")]
        optimizer = torch.optim.AdamW([{"params": encoder_params, "lr": args.learning_rate},
                                       {"params": heads, "lr": args.head_learning_rate}], weight_decay=args.weight_decay)
        steps_per_epoch = math.ceil(len(self.train_examples) / args.batch_size)
        total = steps_per_epoch * args.epochs
        warmup = max(1, int(total * args.warmup_ratio))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))))
        rng = random.Random(args.seed)
        history, best_score, best_state, stale = [], -1.0, None, 0
        for epoch in range(1, args.epochs + 1):
            self.model.train()
            bar = tqdm(self._batches(rng), total=steps_per_epoch, desc=f"epoch {epoch}/{args.epochs}",
                       disable=not args.progress, leave=False)
            running = []
            for batch in bar:
                loss = self._loss(batch)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 1.0)
                optimizer.step()
                scheduler.step()
                running.append(loss.item())
                bar.set_postfix(loss=f"{np.mean(running[-20:]):.3f}")
            scores = self._validation_scores()
            history.append({"epoch": epoch, "train_loss": round(float(np.mean(running)), 4), **scores})
            message = f"epoch {epoch}: loss {history[-1]['train_loss']:.3f} " + " ".join(f"{k} {v:.3f}" for k, v in scores.items())
            tqdm.write(message) if args.progress else logger.info(message)
            if scores["score"] > best_score + 1e-4:
                best_score, best_state, stale = scores["score"], copy.deepcopy(self.model.trainable_state()), 0
            else:
                stale += 1
                if stale >= args.patience:
                    break
        self.model.load_state_dict(best_state, strict=False)
        self.model.eval()
        return history

    def _batches(self, rng: random.Random):
        """Shuffled batches of similar length (sorted within pools of 50 batches) for less padding."""
        order = list(range(len(self.train_examples)))
        rng.shuffle(order)
        pool = self.args.batch_size * 50
        batches = []
        for i in range(0, len(order), pool):
            chunk = sorted(order[i:i + pool], key=lambda j: sum(len(w.input_ids) for w in self.train_windows[j]))
            batches += [chunk[k:k + self.args.batch_size] for k in range(0, len(chunk), self.args.batch_size)]
        rng.shuffle(batches)
        return iter(batches)

    def _forward(self, examples: Sequence[Example], windows: Sequence[list[Window]], with_segments: bool):
        """Logits of each transcript (and of each labelled segment) from one encoder pass over their windows."""
        owner = torch.tensor([i for i, ws in enumerate(windows) for _ in ws])
        ids, mask, turn_ids = self.encoder.pad([w for ws in windows for w in ws])
        n_turns = torch.tensor([len(e.transcript.turns) for e in examples])
        width = int(n_turns.max())
        sums, counts = self.model.turn_sums(ids, mask, turn_ids, width)
        offsets = torch.nn.functional.pad(n_turns.cumsum(0), (1, 0))
        position = torch.arange(width)
        index = offsets[owner][:, None] + position
        valid = position[None] < n_turns[owner][:, None]
        total = int(n_turns.sum())
        flat_sums = sums.new_zeros(total, sums.shape[-1]).index_add(0, index[valid], sums[valid])
        flat_counts = counts.new_zeros(total).index_add(0, index[valid], counts[valid])
        spans = [(offsets[i].item(), offsets[i].item() + len(e.transcript.turns) - 1, e.moment, e.sentiment)
                 for i, e in enumerate(examples)]
        if with_segments:
            spans += [(offsets[i].item() + s.first, offsets[i].item() + s.last, s.moment, s.sentiment)
                      for i, e in enumerate(examples) for s in e.segments]
        moment_logits, sentiment_logits = self.model.span_logits(flat_sums, flat_counts, torch.tensor([s[0] for s in spans]),
                                                                 torch.tensor([s[1] for s in spans]))
        targets = {head: torch.tensor([self.index[head].get(s[2 + k], -100) if s[2 + k] else -100 for s in spans])
                   for k, head in enumerate(HEADS)}
        return {"moment": moment_logits, "sentiment": sentiment_logits}, targets, len(examples)

    def _loss(self, batch: list[int]) -> torch.Tensor:
        examples = [self.train_examples[i] for i in batch]
        logits, targets, n = self._forward(examples, [self.train_windows[i] for i in batch], with_segments=True)
        loss = logits["moment"].new_zeros(())
        for head in HEADS:
            weights = torch.ones(len(targets[head]))
            weights[n:] = self.args.segment_loss_weight
            per_item = torch.nn.functional.cross_entropy(logits[head], targets[head], weight=self.class_weights[head],
                                                         ignore_index=-100, reduction="none")
            labelled = targets[head] != -100
            if labelled.any():
                loss = loss + (per_item * weights)[labelled].sum() / weights[labelled].sum()
        return loss

    def validation_logits(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Validation logits per head, and gold label indices (-100 where a record lacks that label)."""
        self.model.eval()
        logits, gold = {h: [] for h in HEADS}, {h: [] for h in HEADS}
        with torch.inference_mode():
            for i in range(0, len(self.validation), 32):
                batch = range(i, min(i + 32, len(self.validation)))
                out, targets, _ = self._forward([self.validation[j] for j in batch],
                                                [self.validation_windows[j] for j in batch], with_segments=False)
                for head in HEADS:
                    logits[head].append(out[head].numpy())
                    gold[head].append(targets[head].numpy())
        return {h: np.concatenate(logits[h]) for h in HEADS}, {h: np.concatenate(gold[h]) for h in HEADS}

    def _validation_scores(self) -> dict[str, float]:
        logits, gold = self.validation_logits()
        scores = {}
        for head in HEADS:
            labelled = gold[head] != -100
            labels = list(range(logits[head].shape[1]))
            scores[f"{head}_macro_f1"] = macro_f1(gold[head][labelled], logits[head][labelled].argmax(1), labels)
        scores["score"] = float(np.mean([scores[f"{h}_macro_f1"] for h in HEADS]))
        return scores


def stratified_split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out ``fraction`` of the examples, stratified by moment x sentiment where every cell allows it."""
    if len(examples) < 4:
        raise DataError(f"training data: {len(examples)} records are too few to hold out a validation split; pass eval_data")
    keys = [f"{e.moment}|{e.sentiment}" for e in examples]
    for strata in (keys, [e.moment or e.sentiment for e in examples], None):
        try:
            train, validation = train_test_split(examples, test_size=fraction, random_state=seed, stratify=strata)
            return list(train), list(validation)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _priors(examples: Sequence[Example], head: str, labels: Sequence[str]) -> dict[str, float]:
    counts = {label: 1.0 for label in labels}  # add-one smoothing: no zero priors
    for example in examples:
        if getattr(example, head) is not None:
            counts[getattr(example, head)] += 1
    total = sum(counts.values())
    return {label: round(count / total, 6) for label, count in counts.items()}


def _validation_metrics(logits: dict[str, np.ndarray], gold: dict[str, np.ndarray], labels: LabelSpace,
                        temperatures: dict[str, float]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for head in HEADS:
        names = list(getattr(labels, f"{head}s"))
        labelled = gold[head] != -100
        raw, target = logits[head][labelled], gold[head][labelled]
        calibrated = _softmax(raw / temperatures[head])
        report = head_report([names[i] for i in target], [names[i] for i in raw.argmax(1)], names, calibrated)
        report["ece_before_calibration"] = expected_calibration_error(_softmax(raw), target)
        report["temperature"] = temperatures[head]
        metrics[head] = report
    return metrics


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def model_card(config: ModelConfig, metrics: dict[str, Any]) -> str:
    """A short generated model card (``README.md`` of the model folder)."""
    lines = [f"# {config.name} (version {config.version})", "",
             "A motclassify moment-of-truth classifier: all-MiniLM-L6-v2 with LoRA adapters and two heads.", "",
             f"- moments: {', '.join(config.labels.moments)}", f"- sentiments: {', '.join(config.labels.sentiments)}",
             f"- trained on {metrics['train_examples']} transcripts, validated on {metrics['validation_examples']}",
             f"- max length {config.max_length} tokens a window; longer transcripts are read in overlapping windows", "",
             "## Validation scores", ""]
    for head in HEADS:
        report = metrics[head]
        lines += [f"### {head}: macro-F1 {report['macro_f1']:.3f}, accuracy {report['accuracy']:.3f}, "
                  f"ECE {report['ece_before_calibration']:.3f} before / {report['ece']:.3f} after calibration "
                  f"(temperature {report['temperature']})", "", "| label | precision | recall | F1 | support |",
                  "|---|---|---|---|---|"]
        lines += [f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1-score']:.3f} | {int(s['support'])} |"
                  for label, s in report["per_class"].items()]
        lines += ["", f"![confusion matrix](confusion_{head}.png)", ""]
    lines += ["Load it with `MomentClassifier.load(\"<this folder>\")`."]
    return "\n".join(lines) + "\n"


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
