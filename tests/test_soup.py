"""Model soups: weight averages of model folders are exact on the merged weights and load like any model."""

import json

import numpy as np
import pytest
import torch

from motclassify import ModelFormatError, MomentClassifier, average_models
from motclassify.config import ModelConfig
from motclassify.folder import build_model, load_model_folder, save_model_folder, stored_state

from conftest import DATA

TEXTS = ["Customer: my card was charged twice\nAgent: refunded, sorry!", "cannot log in since the update"]


def random_model(folder, seed: int, **settings):
    torch.manual_seed(seed)
    config = ModelConfig(**{"max_length": 64, "window_overlap_tokens": 16, "name": f"seed-{seed}", **settings})
    model, _ = build_model(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter) * 0.02)
    return save_model_folder(config, stored_state(model), folder)


@pytest.fixture(scope="module")
def encoder_only_dir(tmp_path_factory):
    """The tiny custom-label model trained without a lexical model (soups average encoders and heads only)."""
    from motclassify.training import train_model

    return train_model(DATA / "tiny_custom.jsonl", output_dir=tmp_path_factory.mktemp("soup") / "model", epochs=2,
                       max_length=64, batch_size=8, progress=False, lexical_weight=0)


def test_the_average_is_exact_on_the_merged_weights(tmp_path):
    first, second = random_model(tmp_path / "a", 0), random_model(tmp_path / "b", 1)
    soup = average_models([first, second], tmp_path / "soup", weights=[3, 1])
    merged = [dict(load_model_folder(p)[0].named_parameters()) for p in (first, second, soup)]
    for name in ("encoder.encoder.layer.0.attention.self.query.weight", "encoder.encoder.layer.5.output.dense.weight",
                 "encoder.embeddings.LayerNorm.weight", "moment_head.weight", "sentiment_head.bias"):
        expected = 0.75 * merged[0][name] + 0.25 * merged[1][name]
        torch.testing.assert_close(merged[2][name], expected, atol=2e-3, rtol=0)
        assert not torch.allclose(merged[0][name], merged[1][name], atol=1e-3)
    assert json.loads((soup / "motclassify.json").read_text())["lora_rank"] == 32


def test_a_soup_of_one_model_predicts_like_it(tmp_path):
    model = random_model(tmp_path / "a", 0)
    alone = MomentClassifier(model, device="cpu").predict_proba(TEXTS)
    souped = MomentClassifier(average_models([model, model], tmp_path / "soup"), device="cpu").predict_proba(TEXTS)
    np.testing.assert_allclose(souped.moment, alone.moment, atol=1e-4)
    np.testing.assert_allclose(souped.sentiment, alone.sentiment, atol=1e-4)


def test_eval_data_fits_temperatures_and_writes_the_reports(tmp_path, encoder_only_dir):
    soup = average_models([encoder_only_dir, encoder_only_dir], tmp_path / "soup", eval_data=DATA / "tiny_custom.jsonl",
                          name="tiny-soup", version="2")
    metrics = json.loads((soup / "metrics.json").read_text())
    config = json.loads((soup / "motclassify.json").read_text())
    assert metrics["ingredients"] == ["model", "model"] and metrics["validation_examples"] > 0
    assert config["name"] == "tiny-soup" and config["version"] == "2"
    for head in ("moment", "sentiment"):
        assert config["temperatures"][head] == metrics[head]["temperature"] > 0
        assert (soup / f"confusion_{head}.png").stat().st_size > 0
    assert "the average of 2 fine-tuned models" in (soup / "README.md").read_text()
    assert MomentClassifier(soup).moments == MomentClassifier(encoder_only_dir).moments


def test_models_that_cannot_be_averaged_are_refused(tmp_path, encoder_only_dir, tiny_trained_dir):
    default_labels = random_model(tmp_path / "a", 0)
    with pytest.raises(ModelFormatError, match="differ in labels"):
        average_models([default_labels, encoder_only_dir], tmp_path / "soup")
    with pytest.raises(ModelFormatError, match="differ in max_length"):
        average_models([default_labels, random_model(tmp_path / "b", 1, max_length=128)], tmp_path / "soup")
    with pytest.raises(ModelFormatError, match="blend a lexical model"):
        average_models([tiny_trained_dir, tiny_trained_dir], tmp_path / "soup")
    with pytest.raises(ModelFormatError, match="one non-negative weight per model"):
        average_models([default_labels, default_labels], tmp_path / "soup", weights=[1])
    assert not (tmp_path / "soup").exists()


def test_fine_tuning_continues_from_a_soup_at_its_rank(tmp_path, encoder_only_dir):
    from motclassify import DataError
    from motclassify.training import train_model

    soup = average_models([encoder_only_dir, encoder_only_dir], tmp_path / "soup")
    settings = {"output_dir": tmp_path / "continued", "from_model": soup, "max_steps": 2, "max_length": 64,
                "batch_size": 8, "progress": False}
    continued = train_model(DATA / "tiny_custom.jsonl", **settings)
    rank = json.loads((soup / "motclassify.json").read_text())["lora_rank"]
    assert json.loads((continued / "motclassify.json").read_text())["lora_rank"] == rank
    assert rank == 2 * json.loads((encoder_only_dir / "motclassify.json").read_text())["lora_rank"]
    with pytest.raises(DataError, match="leave lora_rank unset"):
        train_model(DATA / "tiny_custom.jsonl", **{**settings, "lora_rank": 16})
