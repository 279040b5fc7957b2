"""The lexical model blended into new heads: fitted, saved and read back, blended the same in training and prediction."""

import json

import numpy as np
import pytest

from motclassify import MomentClassifier, TrainingArguments, train
from motclassify.arguments import LEXICAL_WEIGHT
from motclassify.data import load_examples
from motclassify.lexical import LEXICAL_VOCABULARY_FILE, LEXICAL_WEIGHTS_FILE, LexicalModel, blend
from motclassify.spans import whole_spans
from motclassify.training import _lexical_weights, _StartingPoint

from conftest import DATA

TEXTS = ["Customer: where is my parcel, tracking says nothing", "Customer: refund my money please",
         "Customer: the parcel never came", "Customer: I want my money back"]
TARGETS = {"moment": ["parcel", "money", "parcel", "money"], "sentiment": ["unhappy", None, "unhappy", "happy"]}
LABELS = {"moment": ["money", "parcel", "signin"], "sentiment": ["happy", "unhappy"]}


def test_the_lexical_model_learns_words_and_reads_back_the_same(tmp_path):
    lexical = LexicalModel.fit(TEXTS, TARGETS, LABELS)
    scores = lexical.log_probabilities(["Customer: my parcel is lost", "Customer: money back now"])
    assert [LABELS["moment"][i] for i in scores["moment"].argmax(1)] == ["parcel", "money"]
    np.testing.assert_allclose(np.exp(scores["moment"]).sum(1), 1.0)
    assert np.exp(scores["moment"][:, 2]).max() < 1e-6  # "signin": in the label set, in no training record
    assert scores["sentiment"].shape == (2, 2)  # two labels: one sklearn row, split into two logits
    lexical.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {LEXICAL_WEIGHTS_FILE, LEXICAL_VOCABULARY_FILE}
    again = LexicalModel.load(tmp_path).log_probabilities(["Customer: my parcel is lost"])
    np.testing.assert_allclose(again["moment"], scores["moment"][:1], atol=1e-5)


def test_a_head_with_one_label_gets_no_lexical_part():
    lexical = LexicalModel.fit(TEXTS, {**TARGETS, "sentiment": ["happy", None, "happy", None]}, LABELS)
    assert lexical.heads == ("moment",)


def test_the_blend_weighs_encoder_and_lexical_log_probabilities():
    encoder = {"moment": np.array([[2.0, 0.0, 0.0]]), "sentiment": np.array([[0.0, 1.0]])}
    lexical = {"moment": np.log(np.array([[0.1, 0.8, 0.1]]))}
    blended = blend(encoder, lexical, {"moment": 0.5})
    log_softmax = encoder["moment"] - np.log(np.exp(encoder["moment"]).sum())
    np.testing.assert_allclose(blended["moment"], 0.5 * log_softmax + 0.5 * lexical["moment"])
    sharper = blend(encoder, lexical, {"moment": 0.5}, {"moment": 0.5})["moment"]
    np.testing.assert_allclose(sharper, 2 * blended["moment"])  # then divided by the blend's temperature
    assert blended["sentiment"] is encoder["sentiment"]  # no weight: untouched


def test_new_heads_trained_on_few_records_blend_and_predict_as_validated(tiny_trained_dir):
    config = json.loads((tiny_trained_dir / "motclassify.json").read_text())
    assert config["lexical_weights"] == {"moment": LEXICAL_WEIGHT, "sentiment": LEXICAL_WEIGHT}  # 5 validation records
    metrics = json.loads((tiny_trained_dir / "metrics.json").read_text())
    assert {"macro_f1", "accuracy"} <= set(metrics["moment"]["encoder_alone"])
    assert "Blended with a TF-IDF + logistic regression model" in (tiny_trained_dir / "README.md").read_text()

    classifier = MomentClassifier.load(tiny_trained_dir)
    parsed = [e.transcript for e in load_examples(DATA / "tiny_custom.jsonl")]
    probabilities = classifier.predict_proba(parsed)
    logits = classifier.engine.span_logits(classifier.engine.turn_sums(parsed), whole_spans(parsed))
    lexical = LexicalModel.load(tiny_trained_dir).log_probabilities([t.to_text() for t in parsed])
    for head, head_logits, found in zip(("moment", "sentiment"), logits, probabilities):
        weight, temperature = config["lexical_weights"][head], config["temperatures"][head]
        expected = blend({head: head_logits / temperature}, lexical, {head: weight}, config["lexical_temperatures"])[head]
        expected = np.exp(expected - expected.max(1, keepdims=True))
        np.testing.assert_allclose(found, expected / expected.sum(1, keepdims=True), atol=1e-4)
        encoder_alone = head_logits / temperature - np.log(np.exp(head_logits / temperature).sum(1, keepdims=True))
        assert not np.allclose(np.log(np.maximum(found, 1e-30)), encoder_alone, atol=0.05)  # the lexical part moves them


def test_lexical_weight_zero_trains_the_encoder_alone(tmp_path):
    classifier = train(DATA / "tiny_custom.jsonl", output_dir=tmp_path / "m", epochs=1, max_length=64, batch_size=8,
                       progress=False, lexical_weight=0)
    assert classifier.config.lexical_weights == {} and classifier.lexical is None
    assert not (tmp_path / "m" / LEXICAL_WEIGHTS_FILE).exists()
    assert "encoder_alone" not in json.loads((tmp_path / "m" / "metrics.json").read_text())["moment"]


def test_with_enough_validation_the_weight_is_the_one_of_lowest_calibrated_log_loss():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 200)
    informative = np.log(np.where(np.eye(3)[gold] == 1, 0.9, 0.05))
    noise = np.log(rng.dirichlet(np.ones(3), 200))
    start = _StartingPoint.resolve(None)
    weights = _lexical_weights(TrainingArguments(), start, set(), {"moment": noise, "sentiment": informative},
                               {"moment": informative, "sentiment": noise}, {"moment": gold, "sentiment": gold})
    assert weights == {"moment": 0.8}  # the lexical model is what knows the moment; sentiment stays the encoder's
    assert _lexical_weights(TrainingArguments(), start, {"moment"}, {"moment": noise}, {"moment": informative},
                            {"moment": gold[:10]}) == {}  # a head kept from the default model keeps its weight: none
    assert _lexical_weights(TrainingArguments(lexical_weight=0.3), start, set(), {"moment": noise},
                            {"moment": informative}, {"moment": gold}) == {"moment": 0.3}


def test_lexical_weight_is_checked():
    with pytest.raises(ValueError, match="lexical_weight"):
        TrainingArguments(lexical_weight=1.5)
