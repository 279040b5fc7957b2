"""The lexical model a fine-tuned model may be blended with: TF-IDF (word 1-2-grams) + logistic regression per head.

With a few dozen records a class, the words of a company's own moments (its product names, its "refund", its
"boarding pass") carry much of the signal, and a bag of words learns them from fewer examples than the encoder's
heads do. Training blends its log-probabilities into the encoder's when that wins (``benchmarks/fewshot.py``);
a model folder then holds it as ``lexical.safetensors`` (idf and weights) and ``lexical_vocabulary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from scipy.special import log_softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from .errors import ModelFormatError

LEXICAL_WEIGHTS_FILE = "lexical.safetensors"
LEXICAL_VOCABULARY_FILE = "lexical_vocabulary.json"
_VECTORIZER_SETTINGS = {"ngram_range": (1, 2), "sublinear_tf": True}
_ABSENT_LOGIT = -20.0  # labels no training record carries: practically never predicted by this part


class LexicalModel:
    """TF-IDF + logistic regression for each head, over the label sets given; :meth:`log_probabilities` has one
    column per label, in that order."""

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray, weights: Mapping[str, np.ndarray],
                 biases: Mapping[str, np.ndarray]):
        self.vectorizer = TfidfVectorizer(vocabulary=list(vocabulary), **_VECTORIZER_SETTINGS)
        self.vectorizer.idf_ = np.asarray(idf, np.float64)
        self.weights = {head: np.asarray(w, np.float64) for head, w in weights.items()}
        self.biases = {head: np.asarray(b, np.float64) for head, b in biases.items()}

    @classmethod
    def fit(cls, texts: Sequence[str], targets: Mapping[str, Sequence[str | None]],
            labels: Mapping[str, Sequence[str]], C: float = 10.0) -> "LexicalModel":
        """Fit on ``texts`` with, per head, one label (or ``None``) per text; a head whose records hold fewer than
        two labels gets no lexical part."""
        vectorizer = TfidfVectorizer(**_VECTORIZER_SETTINGS)
        features = vectorizer.fit_transform(texts)
        weights, biases = {}, {}
        for head, head_targets in targets.items():
            rows = [i for i, label in enumerate(head_targets) if label is not None]
            found = sorted({head_targets[i] for i in rows})
            if len(found) < 2:
                continue
            classifier = LogisticRegression(max_iter=2000, C=C, class_weight="balanced")
            classifier.fit(features[rows], [head_targets[i] for i in rows])
            coef, intercept = classifier.coef_, classifier.intercept_
            if len(found) == 2:  # sklearn keeps one row for two classes: two opposite logits
                coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
            weight = np.zeros((len(labels[head]), features.shape[1]))
            bias = np.full(len(labels[head]), _ABSENT_LOGIT)
            where = [list(labels[head]).index(label) for label in classifier.classes_]
            weight[where], bias[where] = coef, intercept
            weights[head], biases[head] = weight, bias
        return cls(vectorizer.get_feature_names_out(), vectorizer.idf_, weights, biases)

    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(self.weights)

    def log_probabilities(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Per head, log-probabilities of each label for each text."""
        features = self.vectorizer.transform(texts)
        return {head: log_softmax(np.asarray(features @ weight.T) + self.biases[head], axis=1)
                for head, weight in self.weights.items()}

    def save(self, folder: str | Path) -> None:
        from safetensors.numpy import save_file

        folder = Path(folder)
        tensors = {"idf": self.vectorizer.idf_.astype(np.float32)}
        for head in self.heads:
            tensors[f"{head}.weight"] = self.weights[head].astype(np.float32)
            tensors[f"{head}.bias"] = self.biases[head].astype(np.float32)
        save_file(tensors, str(folder / LEXICAL_WEIGHTS_FILE))
        vocabulary = self.vectorizer.get_feature_names_out().tolist()
        (folder / LEXICAL_VOCABULARY_FILE).write_text(json.dumps(vocabulary, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> "LexicalModel":
        from safetensors.numpy import load_file

        folder = Path(folder)
        try:
            tensors = load_file(str(folder / LEXICAL_WEIGHTS_FILE))
            vocabulary = json.loads((folder / LEXICAL_VOCABULARY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ModelFormatError(f"{folder}: the model blends a lexical part, but its files cannot be read: {error}") from error
        heads = sorted({name.split(".")[0] for name in tensors if name != "idf"})
        if len(vocabulary) != len(tensors["idf"]):
            raise ModelFormatError(f"{folder / LEXICAL_VOCABULARY_FILE} does not fit {folder / LEXICAL_WEIGHTS_FILE}")
        return cls(vocabulary, tensors["idf"], {h: tensors[f"{h}.weight"] for h in heads},
                   {h: tensors[f"{h}.bias"] for h in heads})


def blend(logits: Mapping[str, np.ndarray], lexical: Mapping[str, np.ndarray], weights: Mapping[str, float],
          temperatures: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
    """Per head, ``((1 - w) * log_softmax(encoder logits) + w * lexical log-probabilities) / T`` (the encoder's logits
    already divided by its own calibration temperature, ``T`` the blend's, default 1); heads without a weight keep
    the encoder's logits."""
    result = dict(logits)
    for head, weight in weights.items():
        if weight and head in lexical:
            encoder = log_softmax(np.asarray(logits[head], np.float64), axis=1)
            result[head] = ((1 - weight) * encoder + weight * lexical[head]) / (temperatures or {}).get(head, 1.0)
    return result
