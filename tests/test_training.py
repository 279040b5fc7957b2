import json

import pytest
import torch
from safetensors.torch import load_file

import motclassify
from motclassify import MomentClassifier, TrainingArguments, train
from motclassify.data import DataError, load_examples

from conftest import DATA

FAST = dict(epochs=1, max_length=64, batch_size=8, progress=False)


def test_tiny_run_writes_a_model_folder_that_predicts_with_custom_labels(tiny_trained_dir):
    files = {p.name for p in tiny_trained_dir.iterdir()}
    assert {"motclassify.json", "model.safetensors", "metrics.json", "README.md", "confusion_moment.png",
            "confusion_sentiment.png"} <= files
    config = json.loads((tiny_trained_dir / "motclassify.json").read_text())
    assert config["moments"] == ["money", "parcel", "signin"] and config["motclassify_version"] == motclassify.__version__
    assert set(config["temperatures"]) == {"moment", "sentiment"}
    metrics = json.loads((tiny_trained_dir / "metrics.json").read_text())
    assert {"macro_f1", "per_class", "confusion", "ece", "ece_before_calibration"} <= set(metrics["moment"])
    prediction = MomentClassifier.load(tiny_trained_dir).predict_one("Customer: where is my parcel")
    assert prediction.moment in {"money", "parcel", "signin"} and prediction.sentiment in {"happy", "unhappy"}


def test_records_missing_one_label_train_the_other_head(tmp_path):
    records = [json.loads(line) for line in (DATA / "tiny_custom.jsonl").read_text().splitlines()]
    for i, record in enumerate(records):
        if "moment" in record and "sentiment" in record:
            record.pop("sentiment" if i % 2 else "moment")
    examples = load_examples(records)
    assert sum(e.moment is None for e in examples) >= 10 and sum(e.sentiment is None for e in examples) >= 10
    classifier = train(records, output_dir=tmp_path / "m", **FAST)
    assert classifier.sentiments == ("happy", "unhappy")


def test_fixed_seed_gives_the_same_model_twice(tmp_path):
    first = train(DATA / "tiny_custom.jsonl", output_dir=tmp_path / "a", **FAST)
    second = train(DATA / "tiny_custom.jsonl", output_dir=tmp_path / "b", **FAST)
    a, b = load_file(str(tmp_path / "a/model.safetensors")), load_file(str(tmp_path / "b/model.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)
    assert first.config.temperatures == second.config.temperatures


def test_continued_fine_tuning_keeps_the_label_sets_and_new_labels_get_new_heads(tiny_trained_dir, tmp_path):
    records = [{"text": "Customer: refund please\nAgent: done", "moment": "money", "sentiment": "happy"}] * 6 + \
              [{"text": "Customer: parcel lost\nAgent: wait", "moment": "parcel", "sentiment": "unhappy"}] * 6
    continued = train(records, from_model=tiny_trained_dir, output_dir=tmp_path / "c", **FAST)
    assert continued.moments == ("money", "parcel", "signin")
    relabelled = [{**r, "moment": {"money": "refund", "parcel": "shipping"}[r["moment"]]} for r in records]
    renamed = train(relabelled, from_model=tiny_trained_dir, output_dir=tmp_path / "r", **FAST)
    assert renamed.moments == ("refund", "shipping") and renamed.sentiments == ("happy", "unhappy")
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["started_from"] == f"model folder {tiny_trained_dir}"


def test_new_heads_start_from_a_linear_probe_that_already_separates_the_classes(tmp_path):
    from motclassify.config import ModelConfig
    from motclassify.engine import Windower, load_tokenizer
    from motclassify.folder import TOKENIZER_FILE, build_model, packaged_base_path
    from motclassify.labels import LabelSpace
    from motclassify.training import _Trainer

    examples = load_examples(DATA / "tiny_custom.jsonl")
    labels = LabelSpace.build(("money", "parcel", "signin"), ("happy", "unhappy"), {})
    model, base = build_model(ModelConfig(labels=labels, max_length=64), packaged_base_path())
    trainer = _Trainer(model, Windower(load_tokenizer(base / TOKENIZER_FILE), 64), TrainingArguments(),
                       examples, examples[:4])

    features, targets = trainer._features(examples, trainer.train_windows)  # the encoder is untouched: read once

    def accuracy(head):
        layer = getattr(model, f"{head}_head")
        with torch.no_grad():
            predicted = layer(torch.as_tensor(features[head])).argmax(1).numpy()
        labelled = targets[head] != -100
        return (predicted[labelled] == targets[head][labelled]).mean()

    before = {head: accuracy(head) for head in ("moment", "sentiment")}
    trainer.warm_start_heads(["moment", "sentiment"])
    after = {head: accuracy(head) for head in ("moment", "sentiment")}
    assert after["moment"] >= 0.9 and after["sentiment"] >= 0.9
    assert after["moment"] > before["moment"]  # the untouched head is random


@pytest.mark.parametrize("field,value", [("epochs", 0), ("max_steps", -3), ("batch_size", 2.5), ("learning_rate", 0),
                                         ("validation_fraction", 1.0), ("warmup_ratio", 2)])
def test_training_arguments_are_checked_when_made(field, value):
    with pytest.raises(DataError, match=f"TrainingArguments.{field}"):
        TrainingArguments(**{field: value})


def test_the_schedule_adapts_to_the_data_size():
    arguments = TrainingArguments()
    assert arguments.total_steps(96) == 50  # few records: at least MIN_STEPS optimiser steps
    assert arguments.total_steps(3200) == 6 * 200
    assert TrainingArguments(epochs=2).total_steps(96) == 12 and TrainingArguments(max_steps=40).total_steps(96) == 40


def test_refit_validates_on_the_held_out_share_then_trains_on_every_record(tiny_trained_dir, tmp_path):
    train(DATA / "tiny_custom.jsonl", output_dir=tmp_path / "r", refit=True, epochs=2, max_length=64, batch_size=8,
          progress=False)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    once = json.loads((tiny_trained_dir / "metrics.json").read_text())  # the same arguments, refit off
    assert metrics["refit"] and not once["refit"] and metrics["train_examples"] + metrics["validation_examples"] == 24
    assert [h["refit"] for h in metrics["history"] if "refit" in h] == [True]  # one run over all 24 after validating
    assert not any("refit" in h for h in once["history"])
    assert metrics["moment"] == once["moment"]  # the validation estimate comes from the same first run
    assert "refit on all 24" in (tmp_path / "r" / "README.md").read_text()
    refit, held_out = (load_file(str(folder / "model.safetensors")) for folder in (tmp_path / "r", tiny_trained_dir))
    assert any(not torch.equal(refit[k], held_out[k]) for k in refit)  # the refit model learned from more records
    with pytest.raises(DataError, match="refit"):  # nothing is held out when eval data is given: said, not ignored
        train(DATA / "tiny_custom.jsonl", DATA / "tiny_custom.jsonl", refit=True, **FAST)


def test_metrics_put_the_model_beside_a_tfidf_baseline_on_the_same_records(tiny_trained_dir):
    metrics = json.loads((tiny_trained_dir / "metrics.json").read_text())
    for head in ("moment", "sentiment"):
        assert 0 <= metrics["baseline"][head]["macro_f1"] <= 1
    assert "TF-IDF + logistic regression fitted on the same training records" in (tiny_trained_dir / "README.md").read_text()


def test_datasets_dataset_is_accepted(tmp_path):
    datasets = pytest.importorskip("datasets")
    records = [json.loads(line) for line in (DATA / "tiny_custom.jsonl").read_text().splitlines()]
    dataset = datasets.Dataset.from_list([{"text": r.get("text") or "\n".join(f"{t['speaker']}: {t['text']}" for t in r["turns"]),
                                           "moment": r.get("moment"), "sentiment": r.get("sentiment")} for r in records])
    assert len(load_examples(dataset)) == len(records)


@pytest.mark.parametrize("content,message", [
    ('{"id": "a", "body": "x", "moment": "m"}\n', "line 1 \\(id 'a'\\): needs a 'turns' or a 'text' column"),
    ('{"text": "hello"}\n', "line 1: has neither a 'moment' nor a 'sentiment' label"),
    ('{"text": "hello", "moment": "m"}\n{oops\n', "line 2: not valid JSON"),
    ("", "no records"),
])
def test_bad_training_files_name_the_record(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        train(path, **FAST)


def test_bad_csv_and_unknown_eval_labels(tmp_path):
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("transcript,label\nhello,money\n")
    with pytest.raises(DataError, match="row 2: needs a 'turns' or a 'text' column"):
        load_examples(csv_path)
    eval_path = tmp_path / "eval.jsonl"
    eval_path.write_text('{"id": "e1", "text": "hi", "moment": "weather", "sentiment": "happy"}\n')
    with pytest.raises(DataError, match="id 'e1'.*unknown moment label 'weather'"):
        train(DATA / "tiny_custom.jsonl", eval_path, **FAST)


def test_fit_continues_training_in_place(tiny_trained_dir, tmp_path):
    classifier = MomentClassifier.load(tiny_trained_dir)
    before = classifier.predict_proba(["Customer: my parcel is lost"]).moment
    returned = classifier.fit(DATA / "tiny_custom.jsonl", output_dir=tmp_path / "fitted", **FAST)
    assert returned is classifier and classifier.model_path == tmp_path / "fitted"
    assert classifier.moments == ("money", "parcel", "signin")
    assert not (classifier.predict_proba(["Customer: my parcel is lost"]).moment == before).all()
