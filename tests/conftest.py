"""Shared fixtures: small real models on the real base encoder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from motclassify.config import ModelConfig
from motclassify.folder import build_model, save_model_folder, stored_state

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
CLI = [sys.executable, "-m", "motclassify.cli"]


@pytest.fixture(scope="session")
def small_model_dir(tmp_path_factory) -> Path:
    """The real encoder with seeded random heads, default labels and a short 64-token window."""
    torch.manual_seed(0)
    config = ModelConfig(max_length=64, window_overlap_tokens=16, name="test-small", version="t1")
    model, _ = build_model(config)
    with torch.no_grad():  # non-zero adapters so the stored encoder deltas matter in round trips
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.02)
    return save_model_folder(config, stored_state(model), tmp_path_factory.mktemp("small") / "model")


@pytest.fixture(scope="session")
def tiny_trained_dir(tmp_path_factory) -> Path:
    """A model really trained (briefly) on the custom-label fixture data."""
    from motclassify.training import train_model

    return train_model(DATA / "tiny_custom.jsonl", output_dir=tmp_path_factory.mktemp("tiny") / "model", epochs=2,
                       max_length=64, batch_size=8, progress=False)


@pytest.fixture(scope="session")
def small_classifier(small_model_dir):
    from motclassify import MomentClassifier

    return MomentClassifier.load(small_model_dir, device="cpu")


def long_transcript(turns: int, ending: str) -> list[dict[str, str]]:
    filler = "I am still waiting for an update on the order I placed last month, number {n}, please check it."
    body = [{"speaker": "customer" if n % 2 == 0 else "agent", "text": filler.format(n=n)} for n in range(turns)]
    return body + [{"speaker": "customer", "text": ending}]
