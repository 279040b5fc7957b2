"""Weight averaging of fine-tuned models (a "model soup", Wortsman et al. 2022): one model, no extra inference cost.

Models fine-tuned from the same start on the same label sets (different seeds, data mixes or settings) often
generalise better averaged than alone. The average is exact on the merged weights: the LoRA factors of the
ingredients are stacked (the rank adds up), every other stored tensor is averaged.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from safetensors.torch import load_file

from .card import model_folder_card
from .config import HEADS
from .data import load_examples
from .errors import ModelFormatError
from .folder import WEIGHTS_FILE, read_config, save_model_folder
from .metrics import calibrated_report, fit_temperature, plot_confusion

# Settings the ingredients must share: the rest of the config (name, temperatures, priors) is averaged or taken
# from the first.
_SHARED = ("labels", "max_length", "window_overlap_tokens", "lead_turns", "tail_turns", "head_features")


def average_models(model_paths: Sequence[str | os.PathLike], output_dir: str | os.PathLike,
                   weights: Sequence[float] | None = None, *, eval_data: Any = None, name: str | None = None,
                   version: str | None = None) -> Path:
    """Average model folders into one at ``output_dir`` and return its path.

    ``weights`` (default: equal) are normalised to sum to one. The ingredients must share their base encoder,
    label sets, window and pooling settings; training priors are averaged with the same weights. With
    ``eval_data`` (labelled records, anything :func:`motclassify.data.load_examples` reads) the temperatures are
    fitted on it and the folder gets ``metrics.json``, confusion matrices and a README; without, the ingredients'
    temperatures are averaged.
    """
    paths = [Path(p) for p in model_paths]
    if not paths:
        raise ModelFormatError("average_models needs at least one model folder")
    weights = np.full(len(paths), 1 / len(paths)) if weights is None else np.asarray(weights, np.float64)
    if len(weights) != len(paths) or (weights < 0).any() or weights.sum() <= 0:
        raise ModelFormatError(f"average_models needs one non-negative weight per model, got {list(weights)}")
    weights = weights / weights.sum()
    configs = [read_config(p) for p in paths]
    blended = [str(path) for path, config in zip(paths, configs) if config.lexical_weights]
    if blended:
        raise ModelFormatError(f"{', '.join(blended)} blend a lexical model, which cannot be averaged: train the "
                               "ingredients with lexical_weight=0")
    first = configs[0]
    for path, config in zip(paths[1:], configs[1:]):
        differing = [key for key in _SHARED if getattr(config, key) != getattr(first, key)]
        if config.base_encoder.get("sha256") != first.base_encoder.get("sha256"):
            differing.append("base_encoder")
        if config.lora_alpha / config.lora_rank != first.lora_alpha / first.lora_rank:
            differing.append("lora_alpha / lora_rank")
        if differing:
            raise ModelFormatError(f"{path} cannot be averaged with {paths[0]}: they differ in {', '.join(differing)}")
    states = [load_file(str(p / WEIGHTS_FILE)) for p in paths]
    averaged = {}
    for key, tensor in states[0].items():
        parts = [state[key].float() for state in states]
        if key.endswith(".lora_A"):  # delta = scale * B @ A, so stacking [A_i] and [w_i B_i] sums w_i B_i A_i
            averaged[key] = torch.cat(parts, dim=0).to(tensor.dtype)
        elif key.endswith(".lora_B"):
            averaged[key] = torch.cat([w * part for w, part in zip(weights, parts)], dim=1).to(tensor.dtype)
        else:
            averaged[key] = sum(w * part for w, part in zip(weights, parts)).to(tensor.dtype)
    rank = sum(config.lora_rank for config in configs)
    config = replace(first, lora_rank=rank, lora_alpha=first.lora_alpha / first.lora_rank * rank,
                     name=name or first.name, version=version or first.version)
    config.train_priors = {head: {label: float(sum(w * c.train_priors.get(head, priors).get(label, p)
                                                   for w, c in zip(weights, configs)))
                                  for label, p in priors.items()}
                           for head, priors in first.train_priors.items()}
    # Without eval_data the ingredients' temperatures are averaged; with it they are fitted below, from 1.
    config.temperatures = {head: 1.0 if eval_data is not None else
                           float(sum(w * c.temperatures.get(head, 1.0) for w, c in zip(weights, configs)))
                           for head in HEADS}
    folder = save_model_folder(config, averaged, output_dir)
    if eval_data is None:
        return folder
    logits, gold = _validation_logits(folder, eval_data)
    config.temperatures = {head: fit_temperature(logits[head], gold[head]) for head in HEADS}
    metrics: dict[str, Any] = {head: calibrated_report(logits[head], gold[head], getattr(config.labels, f"{head}s"),
                                                       config.temperatures[head]) for head in HEADS}
    metrics.update(ingredients=[p.name for p in paths], weights=[round(float(w), 6) for w in weights],
                   validation_examples=len(next(iter(gold.values()))))
    save_model_folder(config, averaged, folder, extra_files={"metrics.json": json.dumps(metrics, indent=2) + "\n",
                                                             "README.md": model_folder_card(config, metrics)})
    for head in HEADS:
        plot_confusion(metrics[head], f"{head} (validation)", folder / f"confusion_{head}.png")
    return folder


def _validation_logits(folder: Path, eval_data: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per head, log-probabilities at temperature 1 (logits up to a constant) and gold label indices of the
    records of ``eval_data`` that carry that head's label."""
    from .classifier import MomentClassifier

    classifier = MomentClassifier(folder)
    examples = load_examples(eval_data, classifier.moments, classifier.sentiments)
    probabilities = classifier.predict_proba([e.transcript for e in examples])
    logits, gold = {}, {}
    for head, labels, scores in (("moment", classifier.moments, probabilities.moment),
                                 ("sentiment", classifier.sentiments, probabilities.sentiment)):
        rows = [i for i, e in enumerate(examples) if getattr(e, head) is not None]
        logits[head] = np.log(np.clip(np.asarray(scores)[rows], 1e-12, None))
        gold[head] = np.array([labels.index(getattr(examples[i], head)) for i in rows], np.int64)
    return logits, gold
