import numpy as np
import pytest
import torch

from motclassify import Transcript
from motclassify.engine import Engine, autocast_dtype, load_tokenizer, resolve_device

from conftest import long_transcript


def test_tokenizer_has_no_fixed_128_truncation(small_classifier):
    tokenizer = load_tokenizer(small_classifier.tokenizer_path)
    assert len(tokenizer.encode("word " * 400).ids) > 400


def test_batches_are_length_sorted_and_within_the_token_budget(small_classifier):
    engine = small_classifier.engine
    transcripts = [Transcript.parse("Customer: " + "hello " * n) for n in (50, 1, 30, 5, 60, 2, 45, 12)]
    windows = [w for ws in engine.windower.windows(transcripts) for w in ws]
    budget_engine = Engine.__new__(Engine)
    budget_engine.batch_tokens, budget_engine.windower = 128, engine.windower
    batches = budget_engine.batches(windows)
    assert sorted(i for b in batches for i in b) == list(range(len(windows)))
    lengths = [len(windows[i].input_ids) for b in batches for i in b]
    assert lengths == sorted(lengths)
    widths = [engine.pad([windows[i] for i in b])[0].shape[1] for b in batches]
    assert all(len(b) * width <= 128 for b, width in zip(batches, widths))
    assert all(width % 32 == 0 or width == engine.windower.max_length for width in widths)  # few distinct shapes
    assert all(width >= max(len(windows[i].input_ids) for i in b) for b, width in zip(batches, widths))


def test_short_windows_are_not_padded_to_the_width_of_a_long_one(small_classifier):
    engine = small_classifier.engine
    full = engine.windower.max_length - 8  # words of "hello": one window of about the full width
    transcripts = [Transcript.parse("Customer: " + "hello " * n) for n in (4, full, 5, 3, 6)]
    windows = [w for ws in engine.windower.windows(transcripts) for w in ws]
    long_window = max(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    batches = engine.batches(windows)
    assert [long_window] in batches and sorted(i for b in batches for i in b) == list(range(len(windows)))
    padded = sum(len(b) * engine.windower.width(max(len(windows[i].input_ids) for i in b)) for b in batches)
    assert padded < len(windows) * engine.windower.width(len(windows[long_window].input_ids))


def test_windows_cut_on_turn_starts_and_cover_every_token(small_classifier):
    encoder = small_classifier.engine.windower
    transcript = Transcript.parse(long_transcript(12, "so?"))
    windows = encoder.windows([transcript])[0]
    assert len(windows) > 3
    assert all(len(w.input_ids) <= encoder.max_length for w in windows)
    seen_turns = set()
    for w in windows:
        inner = w.turn_ids[1:-1]
        seen_turns.update(inner)
        assert w.input_ids[0] == encoder.cls_id and w.input_ids[-1] == encoder.sep_id
    assert seen_turns == set(range(len(transcript.turns)))
    # with short turns, a turn start always lies in the overlap: each later window starts on a role marker
    short = encoder.windows([Transcript.parse([{"speaker": "customer", "text": f"short turn {n}"} for n in range(60)])])[0]
    assert len(short) > 2
    role_tokens = {tuple(v) for v in encoder.role_ids.values()}
    for w in short[1:]:
        assert any(tuple(w.input_ids[1:1 + len(r)]) == r for r in role_tokens)


def test_long_transcript_end_still_changes_the_output(small_classifier):
    happy = long_transcript(14, "That is wonderful, thank you so much, problem solved!")
    angry = long_transcript(14, "This is useless. I am cancelling and reporting you.")
    assert len(small_classifier.engine.windower.windows([Transcript.parse(happy)])[0]) >= 3
    a, b = small_classifier.predict([happy, angry])
    assert max(abs(a.sentiment_scores[k] - b.sentiment_scores[k]) for k in a.sentiment_scores) > 1e-3


def test_results_come_back_in_input_order_and_batch_equals_one_by_one(small_classifier):
    texts = [long_transcript(n % 7, f"message {n} " * (n % 5 + 1)) for n in range(25)]
    batch = small_classifier.predict(texts)
    single = [small_classifier.predict_one(t) for t in texts]
    for b, s in zip(batch, single):
        assert b.moment == s.moment and b.sentiment == s.sentiment
        np.testing.assert_allclose(list(b.moment_scores.values()), list(s.moment_scores.values()), atol=1e-4)
        np.testing.assert_allclose(list(b.sentiment_scores.values()), list(s.sentiment_scores.values()), atol=1e-4)


def test_device_resolution():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="not supported"):
        resolve_device("mps")


def test_autocast_policy_for_cuda_and_cpu():
    assert autocast_dtype(torch.device("cpu")) is None
    assert autocast_dtype(torch.device("cuda"), bf16_supported=True) is torch.bfloat16
    assert autocast_dtype(torch.device("cuda"), bf16_supported=False) is torch.float16


def test_int8_on_cpu_quantizes_the_encoder_and_stays_close(small_model_dir, small_classifier):
    from motclassify import MomentClassifier

    quantized = MomentClassifier.load(small_model_dir, device="cpu", quantize="int8")
    modules = [type(m).__module__ for m in quantized.engine.model.encoder.modules()]
    assert sum("quantized.dynamic" in name for name in modules) == 6 * 6  # every linear of the 6 layers
    texts = [long_transcript(n % 4, f"case {n}: my parcel is late " * (1 + n % 3)) for n in range(20)]
    full, small = small_classifier.predict_proba(texts), quantized.predict_proba(texts)
    assert 0 < np.abs(full.moment - small.moment).max() < 0.05  # label agreement on the trained model: benchmarks/


def test_bad_engine_options(small_model_dir):
    from motclassify import MomentClassifier

    with pytest.raises(ValueError, match="quantize"):
        MomentClassifier.load(small_model_dir, quantize="int4")
    with pytest.raises(ValueError, match="batch_tokens"):
        MomentClassifier.load(small_model_dir, batch_tokens=10)


def test_a_batch_mixing_short_windows_and_long_transcripts(small_classifier):
    """Windows of long transcripts that end before the transcript's last turn, batched with others."""
    texts = [long_transcript(29, "fine"), "Customer: hi", long_transcript(3, "ok"), long_transcript(12, "bye")]
    predictions = small_classifier.predict(texts)
    assert [len(p.segments) > 0 for p in predictions] == [True] * 4
    single = small_classifier.predict_one(texts[0])
    assert single.moment_scores == pytest.approx(predictions[0].moment_scores, abs=1e-4)


def test_span_parts_pool_the_whole_span_its_opening_its_closing_turns_and_its_last_turn(small_classifier):
    model = small_classifier.engine.model
    lead, tail = model.config.lead_turns, model.config.tail_turns
    assert lead > 0
    sums = torch.arange(1.0, 15.0).reshape(7, 2)
    counts = torch.tensor([1.0, 2.0, 1.0, 3.0, 1.0, 1.0, 2.0])

    def mean(first: int, last: int) -> torch.Tensor:
        return sums[first:last + 1].sum(0) / counts[first:last + 1].sum()

    parts = model.span_parts(sums, counts, torch.tensor([0, 6]), torch.tensor([5, 6]))
    expected = {"all": (mean(0, 5), mean(6, 6)), "lead": (mean(0, lead - 1), mean(6, 6)),
                "tail": (mean(6 - tail, 5), mean(6, 6)), "last": (mean(5, 5), mean(6, 6))}
    for name, (first, second) in expected.items():
        torch.testing.assert_close(parts[name][0], first)
        torch.testing.assert_close(parts[name][1], second)


def test_the_sentiment_head_reads_the_ending_and_the_moment_head_the_opening(small_classifier):
    model = small_classifier.engine.model
    assert model.config.head_features == {"moment": ["all", "lead", "tail"], "sentiment": ["all", "tail", "last"]}
    assert model.sentiment_head.in_features == model.moment_head.in_features == 3 * model.hidden_size


def test_model_folders_without_lead_turns_load_with_two_part_features(tmp_path):
    import json

    from motclassify import MomentClassifier
    from motclassify.config import ModelConfig
    from motclassify.folder import build_model, save_model_folder, stored_state

    two_parts = {"moment": ["all", "tail"], "sentiment": ["all", "tail"]}
    model, _ = build_model(ModelConfig(max_length=64, lead_turns=0, head_features=two_parts, name="two-part"))
    folder = save_model_folder(model.config, stored_state(model), tmp_path / "model")
    config = json.loads((folder / "motclassify.json").read_text())
    del config["lead_turns"], config["head_features"]  # as written before lead pooling existed
    (folder / "motclassify.json").write_text(json.dumps(config))
    classifier = MomentClassifier.load(folder, device="cpu")
    assert classifier.engine.model.moment_head.in_features == 2 * model.hidden_size
    assert classifier.predict_one("customer: my parcel is late again").moment in classifier.moments


def test_model_folders_without_head_features_load_with_three_part_features_on_both_heads(tmp_path):
    import json

    from motclassify import MomentClassifier
    from motclassify.config import ModelConfig
    from motclassify.folder import build_model, save_model_folder, stored_state

    legacy = {"moment": ["all", "lead", "tail"], "sentiment": ["all", "lead", "tail"]}
    model, _ = build_model(ModelConfig(max_length=64, head_features=legacy, name="same-parts"))
    folder = save_model_folder(model.config, stored_state(model), tmp_path / "model")
    config = json.loads((folder / "motclassify.json").read_text())
    del config["head_features"]  # as written before each head had its own features
    (folder / "motclassify.json").write_text(json.dumps(config))
    classifier = MomentClassifier.load(folder, device="cpu")
    assert classifier.config.head_features == legacy
    assert classifier.predict_one("customer: my parcel is late again").sentiment in classifier.sentiments


def test_training_and_the_engine_compute_the_same_logits(small_model_dir):
    """One feature path: the trainer's forward pass and the inference engine agree on the same transcripts."""
    from motclassify.data import load_examples
    from motclassify.folder import load_model_folder
    from motclassify.training import TrainingArguments, _Trainer

    from conftest import DATA

    examples = load_examples(DATA / "tiny_custom.jsonl")[:12] + load_examples(
        [{"turns": long_transcript(20, "thanks, sorted"), "moment": "billing", "sentiment": "average"}])
    model, tokenizer_path, _ = load_model_folder(small_model_dir)
    engine = Engine(model, tokenizer_path, device="cpu")
    trainer = _Trainer(model, engine.windower, TrainingArguments(class_weights=False), examples, examples)
    model.eval()
    with torch.inference_mode():
        trained, _, _ = trainer._forward(examples, trainer.train_windows, with_segments=False)
    turns = engine.turn_sums([e.transcript for e in examples])
    moment, sentiment = engine.span_logits(turns, [(i, 0, len(e.transcript.turns) - 1) for i, e in enumerate(examples)])
    np.testing.assert_allclose(trained["moment"].numpy(), moment, atol=1e-4)
    np.testing.assert_allclose(trained["sentiment"].numpy(), sentiment, atol=1e-4)


def test_format_1_folders_still_load_and_save_in_the_current_format(small_model_dir, tmp_path):
    import json
    import shutil

    from motclassify import MomentClassifier
    from motclassify.folder import CONFIG_FILE, FORMAT_VERSION, is_model_folder

    old = tmp_path / "old"
    shutil.copytree(small_model_dir, old)
    config = json.loads((old / CONFIG_FILE).read_text())
    config["base_model"] = config.pop("base_encoder")
    config["format_version"] = 1
    (old / "config.json").write_text(json.dumps(config))  # as written by motclassify 0.1
    (old / CONFIG_FILE).unlink()
    assert is_model_folder(old)
    classifier = MomentClassifier.load(old, device="cpu")
    reference = MomentClassifier.load(small_model_dir, device="cpu")
    text = "Customer: I was charged twice\nAgent: refunded"
    assert classifier.predict_one(text).moment_scores == reference.predict_one(text).moment_scores
    saved = classifier.save(tmp_path / "new")
    assert json.loads((saved / CONFIG_FILE).read_text())["format_version"] == FORMAT_VERSION
    assert not (saved / "config.json").exists() and not is_model_folder(tmp_path)
