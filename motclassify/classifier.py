"""MomentClassifier: transcripts in, moments of truth out."""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from .config import DEFAULT_BATCH_TOKENS, ModelConfig
from .engine import Engine, TurnSums
from .errors import InputError, MotclassifyError
from .folder import DEFAULT_MODEL_PATH, load_model_folder, save_model_folder
from .labels import LabelSpace
from .lexical import LexicalModel, blend
from .prediction import Prediction, Segment, Skipped, Trajectory
from .spans import local_spans, segment_spans, separate_openings, span_texts, whole_spans
from .training import train_model
from .transcript import Transcript, TranscriptLike


class Probabilities(NamedTuple):
    """Class probabilities, one row per transcript, columns in the classifier's label order."""

    moment: np.ndarray
    sentiment: np.ndarray


class MomentClassifier:
    """Tags transcripts with their moment type, journey stage and sentiment (magical / average / miserable).

    Parameters
    ----------
    model_path:
        A motclassify model folder; ``None`` means the default model shipped with the package.
    device:
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    batch_tokens:
        Padded-token budget of one encoder batch (batch size x longest window).
    quantize:
        ``"int8"`` for dynamic int8 linear layers on CPU (with ``backend="onnx"``: one scale per output channel,
        closer to full precision), ``None`` for full precision.
    threads:
        Torch CPU threads; default: the cores this process may use.
    backend:
        ``"torch"`` (default) or ``"onnx"``: the encoder run by ONNX Runtime on the CPU (exported from this model
        at the first load and cached; needs ``motclassify[onnx]``). Same labels (``benchmarks/RESULTS.md``).
    priors:
        Label priors of your data, e.g. ``{"sentiment": {"magical": 0.05, "average": 0.8, "miserable": 0.15}}``.
        Scores are re-weighted from the training priors to these (Bayes' rule); missing labels keep theirs.
    encoder_path:
        A local folder of the base encoder, replacing the one recorded in the model's settings (hash-checked).
    chunk_size:
        Transcripts encoded together; bounds memory when predicting over long iterables.

    A loaded classifier is read-only during prediction and safe to share across threads.
    """

    def __init__(self, model_path: str | os.PathLike | None = None, *, device: str = "auto",
                 batch_tokens: int = DEFAULT_BATCH_TOKENS, quantize: str | None = None, threads: int | None = None,
                 priors: Mapping[str, Mapping[str, float]] | None = None,
                 encoder_path: str | os.PathLike | None = None, chunk_size: int = 256, backend: str = "torch"):
        self.device = device
        self.backend = backend
        self.batch_tokens = batch_tokens
        self.quantize = quantize
        self.threads = threads
        self.encoder_path = encoder_path
        self.chunk_size = chunk_size
        self.priors = dict(priors or {})
        self._load_folder(Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH)

    def _load_folder(self, folder: Path) -> None:
        model, tokenizer_path, self._stored_state = load_model_folder(folder, self.encoder_path)
        self.model_path = folder
        self.config: ModelConfig = model.config
        self.tokenizer_path = tokenizer_path
        self.engine = Engine(model, tokenizer_path, device=self.device, batch_tokens=self.batch_tokens,
                             quantize=self.quantize, threads=self.threads, backend=self.backend)
        self._prior_weights = {head: self._prior_ratio(head) for head in ("moment", "sentiment")}
        self.lexical = LexicalModel.load(folder) if self.config.lexical_weights else None
        if not self.config.trained:
            message = (f"the model at {folder} is an UNTRAINED PLACEHOLDER: its predictions are "
                       "meaningless. Train one with `motclassify train` or load a trained model folder.")
            warnings.warn(message, UserWarning, stacklevel=4)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, **kwargs: Any) -> "MomentClassifier":
        """Load a model folder (default: the packaged model); keyword arguments as in the constructor."""
        return cls(path, **kwargs)

    @property
    def labels(self) -> LabelSpace:
        return self.config.labels

    @property
    def moments(self) -> tuple[str, ...]:
        return self.labels.moments

    @property
    def sentiments(self) -> tuple[str, ...]:
        return self.labels.sentiments

    def predict(self, transcripts: Iterable[TranscriptLike], errors: str = "raise") -> list[Prediction | Skipped]:
        """One :class:`Prediction` per transcript, in input order.

        Transcripts may be plain text (``Customer: ...`` lines or one message), lists of
        ``{"speaker", "text"}`` dicts, records with ``turns`` or ``text``, or :class:`Transcript` objects.
        ``errors="raise"`` (default): a transcript that cannot be read raises ``ValueError`` naming its position
        and id; ``errors="skip"``: it comes back as a :class:`Skipped` saying why, and the rest are predicted.
        """
        if isinstance(transcripts, (str, Transcript, Mapping)):
            raise TypeError("predict takes a list of transcripts; use predict_one for a single transcript")
        return list(self.predict_iter(transcripts, errors=errors))

    def predict_one(self, transcript: TranscriptLike) -> Prediction:
        """The prediction for a single transcript."""
        return self._predict_chunk([Transcript.parse(transcript)])[0]

    def predict_iter(self, transcripts: Iterable[TranscriptLike], errors: str = "raise") -> Iterator[Prediction | Skipped]:
        """Predictions streamed chunk by chunk, in input order; memory stays bounded for any input length.

        ``errors`` as in :meth:`predict`; with ``"raise"``, every prediction before the bad transcript is yielded first.
        """
        for chunk in self._chunks(transcripts, errors):
            predicted = iter(self._predict_chunk([t for t in chunk if isinstance(t, Transcript)]))
            yield from (next(predicted) if isinstance(item, Transcript) else item for item in chunk)

    def predict_proba(self, transcripts: Iterable[TranscriptLike]) -> Probabilities:
        """Calibrated, prior-adjusted probabilities of both heads, columns in ``moments`` / ``sentiments`` order.

        Only the whole-transcript heads run (no segments or trajectory), so this is the cheaper call for scoring.
        A transcript that cannot be read raises ``ValueError`` naming its position and id.
        """
        if isinstance(transcripts, (str, Transcript, Mapping)):
            raise TypeError("predict_proba takes a list of transcripts")
        moment = [np.empty((0, len(self.moments)))]
        sentiment = [np.empty((0, len(self.sentiments)))]
        for chunk in self._chunks(transcripts, "raise"):
            distinct, where = _distinct(chunk)
            moment_p, sentiment_p = self._span_probabilities(distinct, self.engine.turn_sums(distinct), whole_spans(distinct))
            moment.append(moment_p[where])
            sentiment.append(sentiment_p[where])
        return Probabilities(np.concatenate(moment).astype(np.float32), np.concatenate(sentiment).astype(np.float32))

    def _chunks(self, transcripts: Iterable[TranscriptLike], errors: str) -> Iterator[list[Transcript | Skipped]]:
        """Parsed transcripts ``chunk_size`` at a time; a chunk ends early (and then raises) at a bad one under
        ``errors="raise"``, and holds a :class:`Skipped` in its place under ``errors="skip"``."""
        if errors not in ("raise", "skip"):
            raise MotclassifyError(f"errors must be 'raise' or 'skip', got {errors!r}")
        chunk: list[Transcript | Skipped] = []
        for position, item in enumerate(transcripts):
            try:
                chunk.append(Transcript.parse(item))
            except ValueError as error:
                item_id = item.get("id") if isinstance(item, Mapping) else None
                where = f"item {position}" + (f" (id {item_id!r})" if item_id is not None else "")
                reason = str(error).split(": ", 1)[-1]
                if errors == "raise":
                    if chunk:
                        yield chunk
                    raise InputError(f"{where}: {reason}") from error
                chunk.append(Skipped(position, None if item_id is None else str(item_id), reason))
            if len(chunk) == self.chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def save(self, path: str | os.PathLike) -> Path:
        """Write this model as a folder that :meth:`load` reads back."""
        folder = save_model_folder(self.config, self._stored_state, path)
        if self.lexical is not None:
            self.lexical.save(folder)
        return folder

    def fit(self, train_data: Any, eval_data: Any = None, **training_args: Any) -> "MomentClassifier":
        """Continue fine-tuning this model on labelled data (see :func:`motclassify.train`); returns self.

        Keyword arguments go to :func:`~motclassify.training.train_model` (``output_dir``, ``epochs``, label sets, ...).
        """
        self._load_folder(train_model(train_data, eval_data, from_model=self.model_path, **training_args))
        return self

    def _prior_ratio(self, head: str) -> np.ndarray:
        labels = self.moments if head == "moment" else self.sentiments
        target = dict(self.priors.get(head, {}))
        unknown = set(target) - set(labels)
        if unknown:
            raise MotclassifyError(f"priors[{head!r}] names unknown labels {sorted(unknown)}; the model's are {list(labels)}")
        trained = self.config.train_priors.get(head) or {label: 1 / len(labels) for label in labels}
        return np.array([target.get(label, trained[label]) / trained[label] for label in labels], np.float64)

    def _probabilities(self, scores: np.ndarray, head: str) -> np.ndarray:
        """Calibrated scores (log-probabilities up to a constant) to probabilities under the priors asked for."""
        exp = np.exp(scores - scores.max(axis=1, keepdims=True)) * self._prior_weights[head]
        return exp / exp.sum(axis=1, keepdims=True)

    def _span_probabilities(self, encoded: Sequence[Transcript], turns: TurnSums, spans: list[tuple[int, int, int]]):
        """Both heads' probabilities of each span of the ``encoded`` transcripts (whose turn sums are ``turns``)."""
        logits = dict(zip(("moment", "sentiment"), self.engine.span_logits(turns, spans)))
        scores = {head: values.astype(np.float64) / self.config.temperatures.get(head, 1.0) for head, values in logits.items()}
        if self.lexical is not None and spans:
            scores = blend(scores, self.lexical.log_probabilities(span_texts(encoded, spans)), self.config.lexical_weights,
                           self.config.lexical_temperatures)
        return self._probabilities(scores["moment"], "moment"), self._probabilities(scores["sentiment"], "sentiment")

    def _predict_chunk(self, transcripts: list[Transcript]) -> list[Prediction]:
        distinct, where = _distinct(transcripts)
        predicted = self._predict_distinct(distinct)
        return [replace(predicted[i], id=t.id) if predicted[i].id != t.id else predicted[i]
                for t, i in zip(transcripts, where)]

    def _predict_distinct(self, transcripts: list[Transcript]) -> list[Prediction]:
        if not transcripts:
            return []
        count = len(transcripts)
        cut = separate_openings(transcripts)  # encoded on their own, in the same batches
        encoded = [*transcripts, *(start for _, start in cut)]
        turns = self.engine.turn_sums(encoded)
        local = local_spans(transcripts)
        opening_spans = [(count + j, 0, len(start.turns) - 1) for j, (_, start) in enumerate(cut)]
        moment_p, sentiment_p = self._span_probabilities(encoded, turns, whole_spans(transcripts) + local + opening_spans)
        opening_p = sentiment_p[:count].copy()
        opening_p[[i for i, _ in cut]] = sentiment_p[count + len(local):]
        segments_of = segment_spans(transcripts, moment_p[count:count + len(local)].argmax(axis=1))
        segment_moment_p, segment_sentiment_p = self._span_probabilities(encoded, turns, [s for spans in segments_of for s in spans])
        segment_rows = iter(range(len(segment_moment_p)))
        predictions = []
        for i, transcript in enumerate(transcripts):
            moment = self.moments[int(moment_p[i].argmax())]
            segments = []
            for _, first, last in segments_of[i]:
                row = next(segment_rows)
                m, s = int(segment_moment_p[row].argmax()), int(segment_sentiment_p[row].argmax())
                segments.append(Segment((first, last), self.moments[m], self.sentiments[s],
                                        float(segment_moment_p[row, m]), float(segment_sentiment_p[row, s])))
            predictions.append(Prediction(
                id=transcript.id,
                moment=moment,
                stage=self.labels.stage(moment),
                sentiment=self.sentiments[int(sentiment_p[i].argmax())],
                moment_scores=_scores(self.moments, moment_p[i]),
                sentiment_scores=_scores(self.sentiments, sentiment_p[i]),
                segments=tuple(segments),
                trajectory=Trajectory(_scores(self.sentiments, opening_p[i]), _scores(self.sentiments, sentiment_p[i])),
                model=self.config.name,
                model_version=self.config.version,
            ))
        return predictions


def _distinct(transcripts: Sequence[Transcript]) -> tuple[list[Transcript], list[int]]:
    """The distinct conversations among ``transcripts`` (same turns), and the position of each transcript's in that
    list: exact duplicates, common in exports (auto-replies, re-sent messages), are encoded once."""
    first: dict[tuple, Transcript] = {}
    for transcript in transcripts:
        first.setdefault(transcript.turns, transcript)
    position = {turns: i for i, turns in enumerate(first)}
    return list(first.values()), [position[t.turns] for t in transcripts]


def _scores(labels: Sequence[str], row: np.ndarray) -> dict[str, float]:
    return {label: round(float(p), 6) for label, p in zip(labels, row)}


def train(train_data: Any, eval_data: Any = None, **kwargs: Any) -> MomentClassifier:
    """Fine-tune a moment classifier and return it loaded; the model folder is ``kwargs["output_dir"]`` (a
    temporary folder if not given). Arguments as in :func:`~motclassify.training.train_model`."""
    return MomentClassifier.load(train_model(train_data, eval_data, **kwargs), threads=kwargs.get("threads"))
