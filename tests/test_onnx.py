import numpy as np
import pytest

from motclassify import MomentClassifier, MotclassifyError

from conftest import long_transcript

TRANSCRIPTS = ["Customer: my card was charged twice\nAgent: refunded, sorry!\nCustomer: wow that was fast, thanks",
               "my parcel never arrived and nobody answers", long_transcript(14, "still nothing, I'm done")]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTCLASSIFY_CACHE", str(tmp_path))
    return tmp_path / "onnx"


def test_onnx_backend_predicts_what_torch_predicts(small_model_dir, small_classifier, cache):
    onnx = MomentClassifier.load(small_model_dir, device="cpu", backend="onnx")
    torch_p, onnx_p = small_classifier.predict_proba(TRANSCRIPTS), onnx.predict_proba(TRANSCRIPTS)
    np.testing.assert_allclose(onnx_p.moment, torch_p.moment, atol=1e-4)
    np.testing.assert_allclose(onnx_p.sentiment, torch_p.sentiment, atol=1e-4)
    ours, theirs = onnx.predict(TRANSCRIPTS), small_classifier.predict(TRANSCRIPTS)
    assert [(p.moment, p.sentiment, len(p.segments)) for p in ours] == [(p.moment, p.sentiment, len(p.segments)) for p in theirs]
    assert [path.suffix for path in cache.iterdir()] == [".onnx"]


def test_the_export_is_cached_by_weights(small_model_dir, tiny_trained_dir, cache, monkeypatch):
    MomentClassifier.load(small_model_dir, device="cpu", backend="onnx")
    exported = list(cache.iterdir())
    monkeypatch.setattr("motclassify.onnxrt.export", lambda *a: pytest.fail("exported again"))
    MomentClassifier.load(small_model_dir, device="cpu", backend="onnx")
    assert list(cache.iterdir()) == exported
    monkeypatch.undo()
    monkeypatch.setenv("MOTCLASSIFY_CACHE", str(cache.parent))
    MomentClassifier.load(tiny_trained_dir, device="cpu", backend="onnx")  # other weights: a file of their own
    assert len(list(cache.iterdir())) == 2


def test_int8_on_onnx_runtime_is_made_beside_the_export_and_stays_close(small_model_dir, small_classifier, cache):
    int8 = MomentClassifier.load(small_model_dir, device="cpu", backend="onnx", quantize="int8")
    assert sorted(path.name.endswith("-int8.onnx") for path in cache.iterdir()) == [False, True]
    fp32_p, int8_p = small_classifier.predict_proba(TRANSCRIPTS), int8.predict_proba(TRANSCRIPTS)
    np.testing.assert_allclose(int8_p.moment.sum(axis=1), 1, atol=1e-5)
    assert 0 < np.abs(int8_p.moment - fp32_p.moment).max() < 0.05


@pytest.mark.parametrize("kwargs,message", [({"backend": "tensorrt"}, "'torch' or 'onnx'"),
                                            ({"backend": "onnx", "quantize": "int4"}, "None or 'int8'")])
def test_unsupported_backends_are_clear_errors(small_model_dir, kwargs, message):
    with pytest.raises(MotclassifyError, match=message):
        MomentClassifier.load(small_model_dir, device="cpu", **kwargs)
