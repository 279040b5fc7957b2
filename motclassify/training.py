"""Fine-tuning: LoRA adapters on the encoder plus both heads, with defaults that adapt to the data size.

:func:`train_model` writes a model folder; :func:`motclassify.train` and ``MomentClassifier.fit`` load it.
"""

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
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_class_weight
from tqdm.auto import tqdm

from .arguments import EARLY_STOPPING_MIN_VALIDATION, LEXICAL_WEIGHT, LEXICAL_WEIGHT_GRID, SMALL_DATA, TrainingArguments
from .card import model_folder_card
from .config import HEADS, default_threads
from .data import Example, infer_labels, label_priors, load_examples, stratified_split
from .engine import Window, Windower, load_tokenizer
from .errors import DataError
from .folder import (
    DEFAULT_MODEL_PATH,
    TOKENIZER_FILE,
    ModelConfig,
    build_model,
    is_model_folder,
    load_model_folder,
    save_model_folder,
    stored_state,
)
from .labels import DEFAULT_SENTIMENTS, DEFAULT_STAGES, LabelSpace
from .lexical import LexicalModel, blend
from .metrics import calibrated_report, fit_temperature, macro_f1, plot_confusion, softmax
from .model import MomentModel

logger = logging.getLogger("motclassify.training")
def train_model(train_data: Any, eval_data: Any = None, *, from_model: str | os.PathLike | None = None,
                moments: Sequence[str] | None = None, sentiments: Sequence[str] | None = None,
                stages: dict[str, str] | None = None, output_dir: str | os.PathLike | None = None,
                args: TrainingArguments | None = None, **overrides: Any) -> Path:
    """Fine-tune a moment classifier; returns the model folder written (metrics, confusion matrices, model card).

    ``train_data`` / ``eval_data``: a JSONL, CSV or Parquet path, a ``datasets.Dataset`` or a list of dicts, each
    record with ``turns`` or ``text`` and a ``moment`` and/or ``sentiment`` label. ``from_model``: ``None`` starts
    from the shipped default model's encoder (adapted to support conversations), a motclassify model folder
    continues from that model, a Hugging Face encoder folder starts from that encoder. Label sets are given, or
    taken from the data; when the data's labels are among the starting model's, its label sets and heads are kept,
    otherwise new heads are trained (warm-started by a logistic regression on the starting features).
    Without ``eval_data`` a stratified validation split is held out. Keyword ``overrides`` set fields of
    :class:`TrainingArguments`.
    """
    args = replace(args or TrainingArguments(), **overrides)
    _seed_everything(args.seed)
    if args.threads or torch.get_num_threads() > default_threads():
        torch.set_num_threads(args.threads or default_threads())

    start = _StartingPoint.resolve(from_model)
    train_examples = load_examples(train_data, moments, sentiments)
    labels = LabelSpace.build(
        _label_set(moments, train_examples, "moment", start, tuple(DEFAULT_STAGES)),
        _label_set(sentiments, train_examples, "sentiment", start, DEFAULT_SENTIMENTS),
        {**(start.labels.stages if start.labels else {}), **(stages or {})})
    all_examples, refit = train_examples, False
    if eval_data is not None:
        if args.refit:
            raise DataError("refit retrains on the records held out for validation; with eval_data nothing is held "
                            "out: drop refit, or add eval_data to the training records")
        validation = load_examples(eval_data, labels.moments, labels.sentiments)
    else:
        fraction = args.validation_fraction or (0.2 if len(train_examples) < SMALL_DATA else 0.15)
        train_examples, validation = stratified_split(train_examples, fraction, args.seed)
        refit = args.refit

    config = replace(start.config, labels=labels, max_length=args.max_length,
                     lora_rank=args.lora_rank or start.config.lora_rank,
                     lora_alpha=args.lora_alpha or start.config.lora_alpha, name=args.name, version=args.version, trained=True,
                     head_features=args.head_features or start.config.head_features)
    trainer = _Trainer.start(config, start, args, train_examples, validation)
    history = trainer.fit()
    logits, gold = trainer.validation_logits()
    logits = {head: logits[head][gold[head] != -100] for head in HEADS}
    gold = {head: gold[head][gold[head] != -100] for head in HEADS}
    config.temperatures = {head: fit_temperature(logits[head], gold[head]) for head in HEADS}
    metrics = {head: calibrated_report(logits[head], gold[head], getattr(labels, f"{head}s"), config.temperatures[head])
               for head in HEADS}
    label_sets = {head: getattr(labels, f"{head}s") for head in HEADS}
    lexical = lexical_model(train_examples, label_sets)  # the blend's lexical part and the baseline to beat
    lexical_scores = _labelled_rows(lexical.log_probabilities([e.transcript.to_text() for e in validation]), validation)
    config.lexical_weights, config.lexical_temperatures = {}, {}
    if args.lexical_weight != 0:
        scores = {head: logits[head] / config.temperatures[head] for head in HEADS}
        config.lexical_weights = _lexical_weights(args, start, trainer.kept_heads, scores, lexical_scores, gold)
        blended = blend(scores, lexical_scores, config.lexical_weights)
        config.lexical_temperatures = {head: fit_temperature(blended[head], gold[head]) for head in config.lexical_weights}
        for head, weight in config.lexical_weights.items():
            metrics[head] = {**calibrated_report(blended[head], gold[head], getattr(labels, f"{head}s"),
                                                 config.lexical_temperatures[head]),
                             "encoder_temperature": config.temperatures[head], "lexical_weight": weight,
                             "encoder_alone": {key: metrics[head][key] for key in ("macro_f1", "accuracy")}}
    metrics.update(baseline=_argmax_scores(lexical_scores, gold), train_examples=len(train_examples),
                   validation_examples=len(validation), refit=refit)
    if refit:  # the validation figures and calibration above stay: they are the honest estimate
        logger.info("refitting on all %d records", len(all_examples))
        trainer = _Trainer.start(config, start, args, all_examples, [])
        history += [{**entry, "refit": True} for entry in trainer.fit()]
    model = trainer.model
    config.train_priors = {head: label_priors(all_examples if refit else train_examples, head, getattr(labels, f"{head}s"))
                           for head in HEADS}
    metrics.update(history=history, started_from=start.description, training_arguments=asdict(args))
    folder = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="motclassify-"))
    save_model_folder(config, stored_state(model), folder,
                      extra_files={"metrics.json": json.dumps(metrics, indent=2) + "\n",
                                   "README.md": model_folder_card(config, metrics)})
    if config.lexical_weights:  # refitted on every record the user gave for training (it is cheap)
        (lexical_model(all_examples, label_sets) if eval_data is None else lexical).save(folder)
    for head in HEADS:
        plot_confusion(metrics[head], f"{head} (validation)", folder / f"confusion_{head}.png")
    return folder


def _label_set(given: Sequence[str] | None, examples: Sequence[Example], head: str, start: "_StartingPoint",
               default: Sequence[str]) -> tuple[str, ...]:
    """The given labels; else the starting model's when the data's labels are among them; else the data's."""
    if given:
        return tuple(given)
    found = {getattr(e, head) for e in examples} | {getattr(s, head) for e in examples for s in e.segments}
    found.discard(None)
    kept = getattr(start.labels, f"{head}s") if start.labels else ()
    if found and found <= set(kept):
        return tuple(kept)
    return infer_labels(examples, head, default)


def lexical_model(examples: Sequence[Example], labels: dict[str, Sequence[str]]) -> LexicalModel:
    """TF-IDF + logistic regression of both heads fitted on the examples' whole transcripts, over ``labels``."""
    return LexicalModel.fit([e.transcript.to_text() for e in examples],
                            {head: [getattr(e, head) for e in examples] for head in HEADS}, labels)


def tfidf_baseline(train_examples: Sequence[Example], validation: Sequence[Example]) -> dict[str, dict[str, float]]:
    """Macro-F1 and accuracy on the validation records of TF-IDF (word 1-2-grams) + logistic regression fitted on
    the same training records: the bar a fine-tuned model has to clear to earn its keep."""
    labels = {head: sorted({getattr(e, head) for e in [*train_examples, *validation]} - {None}) for head in HEADS}
    scores = lexical_model(train_examples, labels).log_probabilities([e.transcript.to_text() for e in validation])
    gold = {head: np.array([labels[head].index(getattr(e, head)) for e in validation if getattr(e, head) is not None])
            for head in HEADS}
    return _argmax_scores(_labelled_rows(scores, validation), gold)


def _argmax_scores(scores: dict[str, np.ndarray], gold: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Macro-F1 and accuracy of each head's argmax of ``scores`` against ``gold`` label indices (heads with gold)."""
    return {head: {"macro_f1": round(macro_f1(gold[head], values.argmax(1), range(values.shape[1])), 4),
                   "accuracy": round(float(np.mean(gold[head] == values.argmax(1))), 4)}
            for head, values in scores.items() if len(gold[head])}


def _labelled_rows(scores: dict[str, np.ndarray], examples: Sequence[Example]) -> dict[str, np.ndarray]:
    """Each head's rows of ``scores`` (one per example) for the examples that carry that head's label."""
    return {head: values[[i for i, e in enumerate(examples) if getattr(e, head) is not None]]
            for head, values in scores.items()}


def _lexical_weights(args: TrainingArguments, start: "_StartingPoint", kept_heads: set[str],
                     scores: dict[str, np.ndarray], lexical_scores: dict[str, np.ndarray],
                     gold: dict[str, np.ndarray]) -> dict[str, float]:
    """Each head's blend weight of the lexical model (see :class:`TrainingArguments`); heads at 0 are left out."""
    weights = {}
    for head in lexical_scores:
        if args.lexical_weight is not None:
            weights[head] = args.lexical_weight
        elif head in kept_heads:
            weights[head] = start.config.lexical_weights.get(head, 0.0)
        elif len(gold[head]) >= EARLY_STOPPING_MIN_VALIDATION:
            weights[head] = min(LEXICAL_WEIGHT_GRID, key=lambda w: _calibrated_log_loss(
                blend(scores, lexical_scores, {head: w})[head], gold[head]))
        else:
            weights[head] = LEXICAL_WEIGHT
    return {head: weight for head, weight in weights.items() if weight}


def _calibrated_log_loss(scores: np.ndarray, gold: np.ndarray) -> float:
    """Log-loss at the temperature that fits best: how well the scores rank, whatever their sharpness (a bag of
    words' probabilities are flatter than a fine-tuned head's)."""
    return float(log_loss(gold, softmax(scores / fit_temperature(scores, gold)), labels=range(scores.shape[1])))


@dataclass
class _StartingPoint:
    """Where training starts: a motclassify model folder (its encoder deltas, label sets and heads), or a plain
    Hugging Face encoder folder."""

    config: ModelConfig
    description: str
    encoder_path: str | None = None
    labels: LabelSpace | None = None
    state: dict[str, torch.Tensor] | None = None

    @classmethod
    def resolve(cls, from_model: str | os.PathLike | None) -> "_StartingPoint":
        path = Path(from_model) if from_model is not None else DEFAULT_MODEL_PATH
        if is_model_folder(path):
            model, _, state = load_model_folder(path, merge=False)
            description = "the default model" if from_model is None else f"model folder {path}"
            return cls(model.config, description, labels=model.config.labels, state=state)
        if not (path / "config.json").is_file():
            raise DataError(f"{path}: neither a motclassify model folder nor a Hugging Face encoder folder")
        return cls(ModelConfig(), f"encoder folder {path}", encoder_path=str(path))

    def load_into(self, model: MomentModel) -> set[str]:
        """Copy the starting model's encoder deltas, and each head whose labels and features are unchanged;
        returns the heads kept."""
        if self.state is None:
            return set()
        if model.config.lora_rank != self.config.lora_rank:
            raise DataError(f"continuing from a model with LoRA rank {self.config.lora_rank}: leave lora_rank unset "
                            "(it then keeps the starting model's) or set it to that rank")
        kept = {head for head in HEADS
                if getattr(self.labels, f"{head}s") == getattr(model.config.labels, f"{head}s")
                and self.config.head_features[head] == model.config.head_features[head]}
        model.load_state_dict({k: v.float() for k, v in self.state.items()
                               if not k.startswith(("moment_head", "sentiment_head")) or k.split("_")[0] in kept},
                              strict=False)
        return kept


class _Trainer:
    def __init__(self, model: MomentModel, windower: Windower, args: TrainingArguments,
                 train_examples: list[Example], validation: list[Example]):
        self.model, self.windower, self.args = model, windower, args
        self.train_examples, self.validation = train_examples, validation
        self.labels = model.config.labels
        self.index = {"moment": {l: i for i, l in enumerate(self.labels.moments)},
                      "sentiment": {l: i for i, l in enumerate(self.labels.sentiments)}}
        self.train_windows = windower.windows([e.transcript for e in train_examples])
        self.validation_windows = windower.windows([e.transcript for e in validation])
        self.class_weights = {head: self._class_weights(head) for head in HEADS}
        self.kept_heads: set[str] = set()  # heads copied from the starting model

    @classmethod
    def start(cls, config: ModelConfig, start: _StartingPoint, args: TrainingArguments, train_examples: list[Example],
              validation: list[Example]) -> _Trainer:
        """A trainer of a fresh model built from ``start`` (its heads warm-started where they are new)."""
        model, base_path = build_model(config, start.encoder_path)
        windower = Windower(load_tokenizer(base_path / TOKENIZER_FILE), config.max_length, config.window_overlap_tokens)
        trainer = cls(model, windower, args, train_examples, validation)
        trainer.kept_heads = start.load_into(model)
        if args.warm_start_heads:
            trainer.warm_start_heads([head for head in HEADS if head not in trainer.kept_heads])
        return trainer

    def _class_weights(self, head: str) -> torch.Tensor | None:
        labels = self.labels.moments if head == "moment" else self.labels.sentiments
        gold = [getattr(e, head) for e in self.train_examples if getattr(e, head) is not None]
        if not self.args.class_weights or not gold:
            return None
        present = sorted(set(gold), key=labels.index)
        weights = dict(zip(present, compute_class_weight("balanced", classes=np.array(present), y=np.array(gold))))
        return torch.tensor([weights.get(label, 1.0) for label in labels], dtype=torch.float32)

    def warm_start_heads(self, heads: Sequence[str]) -> None:
        """Set each of ``heads`` to a logistic regression fitted on the starting encoder's features of the training
        records (a linear probe), so fine-tuning starts from a head that already separates the classes."""
        if not heads:
            return
        features, targets = self._features(self.train_examples, self.train_windows)
        for head in heads:
            labelled = targets[head] != -100
            classes = np.unique(targets[head][labelled])
            if len(classes) < 2:
                continue
            probe = LogisticRegression(max_iter=2000, C=1.0, class_weight="balanced" if self.args.class_weights else None)
            probe.fit(features[head][labelled], targets[head][labelled])
            coef, intercept = probe.coef_, probe.intercept_
            if len(classes) == 2:  # sklearn keeps one row for two classes: split it into two opposite logits
                coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
            layer = getattr(self.model, f"{head}_head")
            with torch.no_grad():
                layer.weight.zero_()
                layer.bias.fill_(float(intercept.min()) - 2.0)  # labels absent from the training records start unlikely
                layer.weight[torch.as_tensor(classes)] = torch.as_tensor(coef, dtype=layer.weight.dtype)
                layer.bias[torch.as_tensor(classes)] = torch.as_tensor(intercept, dtype=layer.bias.dtype)

    def fit(self) -> list[dict[str, float]]:
        args = self.args
        heads = [p for n, p in self.model.named_parameters() if p.requires_grad and n.startswith(("moment_head", "sentiment_head"))]
        encoder_params = [p for n, p in self.model.named_parameters() if p.requires_grad and n.startswith("encoder")]
        optimizer = torch.optim.AdamW([{"params": encoder_params, "lr": args.learning_rate},
                                       {"params": heads, "lr": args.head_learning_rate}], weight_decay=args.weight_decay)
        steps_per_epoch = math.ceil(len(self.train_examples) / args.batch_size)
        total = args.total_steps(len(self.train_examples))
        warmup = max(1, int(total * args.warmup_ratio))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))))
        early_stopping = len(self.validation) >= EARLY_STOPPING_MIN_VALIDATION  # without validation: run to the end
        rng = random.Random(args.seed)
        history, best_score, best_state, stale, step = [], -1.0, None, 0, 0
        epochs = math.ceil(total / steps_per_epoch)
        for epoch in range(1, epochs + 1):
            self.model.train()
            batches = list(self._batches(rng))[:total - step]
            bar = tqdm(batches, desc=f"epoch {epoch}/{epochs}", disable=not args.progress, leave=False)
            running = []
            for batch in bar:
                loss = self._loss(batch)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 1.0)
                optimizer.step()
                scheduler.step()
                step += 1
                running.append(loss.item())
                bar.set_postfix(loss=f"{np.mean(running[-20:]):.3f}")
            if not early_stopping and step < total:
                continue
            entry = {"epoch": epoch, "step": step, "train_loss": round(float(np.mean(running)), 4)}
            if not self.validation:
                history.append(entry)
                break
            scores = self._validation_scores()
            history.append({**entry, **scores})
            message = f"epoch {epoch}: loss {history[-1]['train_loss']:.3f} " + " ".join(f"{k} {v:.3f}" for k, v in scores.items())
            tqdm.write(message) if args.progress else logger.info(message)
            if scores["score"] > best_score + 1e-4:
                best_score, best_state, stale = scores["score"], copy.deepcopy(self.model.trainable_state()), 0
            else:
                stale += 1
                if stale >= args.patience:
                    break
        if best_state is not None:
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

    def _spans(self, examples: Sequence[Example], windows: Sequence[list[Window]], with_segments: bool):
        """Pooled turn sums of the examples from one encoder pass over their windows, the spans to score (each
        transcript, and each labelled segment if asked) and their targets."""
        owner = [i for i, ws in enumerate(windows) for _ in ws]
        offsets = np.cumsum([0] + [len(e.transcript.turns) for e in examples])
        ids, mask, turn_ids = self.windower.pad([w for ws in windows for w in ws])
        sums, counts = self.model.turn_sums(ids, mask, turn_ids, torch.as_tensor(offsets[owner]), int(offsets[-1]))
        spans = [(offsets[i], offsets[i + 1] - 1, e.moment, e.sentiment) for i, e in enumerate(examples)]
        if with_segments:
            spans += [(offsets[i] + s.first, offsets[i] + s.last, s.moment, s.sentiment)
                      for i, e in enumerate(examples) for s in e.segments]
        bounds = [torch.as_tensor([int(s[k]) for s in spans]) for k in (0, 1)]
        targets = {head: torch.tensor([self.index[head].get(s[2 + k], -100) if s[2 + k] else -100 for s in spans])
                   for k, head in enumerate(HEADS)}
        return sums, counts, bounds, targets

    def _forward(self, examples: Sequence[Example], windows: Sequence[list[Window]], with_segments: bool):
        """Logits of each transcript (and of each labelled segment) from one encoder pass over their windows."""
        sums, counts, (first, last), targets = self._spans(examples, windows, with_segments)
        moment_logits, sentiment_logits = self.model.span_logits(sums, counts, first, last)
        return {"moment": moment_logits, "sentiment": sentiment_logits}, targets, len(examples)

    def _features(self, examples: Sequence[Example], windows: Sequence[list[Window]]):
        """What each head reads for each whole transcript (eval mode, no gradients), and the targets."""
        self.model.eval()
        features, targets = {h: [] for h in HEADS}, {h: [] for h in HEADS}
        with torch.inference_mode():
            for i in range(0, len(examples), 32):
                sums, counts, (first, last), batch_targets = self._spans(examples[i:i + 32], windows[i:i + 32], False)
                for head, values in self.model.span_features(sums, counts, first, last).items():
                    features[head].append(values.numpy())
                    targets[head].append(batch_targets[head].numpy())
        return {h: np.concatenate(features[h]) for h in HEADS}, {h: np.concatenate(targets[h]) for h in HEADS}

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
                out, targets, _ = self._forward(self.validation[i:i + 32], self.validation_windows[i:i + 32],
                                                with_segments=False)
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


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
