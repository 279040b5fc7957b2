import json

import pytest
from safetensors.torch import load_file

import motclassify
from motclassify import MomentClassifier
from motclassify.data import DataError, load_examples
from motclassify.training import train

from conftest import DATA

FAST = dict(epochs=1, max_length=64, batch_size=8, progress=False)


def test_tiny_run_writes_a_model_folder_that_predicts_with_custom_labels(tiny_trained_dir):
    files = {p.name for p in tiny_trained_dir.iterdir()}
    assert {"config.json", "model.safetensors", "metrics.json", "README.md", "confusion_moment.png",
            "confusion_sentiment.png"} <= files
    config = json.loads((tiny_trained_dir / "config.json").read_text())
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


def test_continued_fine_tuning_keeps_the_label_sets(tiny_trained_dir, tmp_path):
    records = [{"text": "Customer: refund please\nAgent: done", "moment": "money", "sentiment": "happy"}] * 6 + \
              [{"text": "Customer: parcel lost\nAgent: wait", "moment": "parcel", "sentiment": "unhappy"}] * 6
    continued = train(records, base_model=tiny_trained_dir, output_dir=tmp_path / "c", **FAST)
    assert continued.moments == ("money", "parcel", "signin")
    with pytest.raises(DataError, match="unknown moment label 'shipping'"):
        train([{"text": "x", "moment": "shipping", "sentiment": "happy"}] * 6, base_model=tiny_trained_dir, **FAST)


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
