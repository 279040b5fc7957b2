"""Concurrent single-transcript requests are batched together and each caller gets its own answer."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from motclassify import BatchingPredictor, InputError, MotclassifyError

from conftest import long_transcript

REQUESTS = [f"Customer: order {i} has not arrived\nAgent: sorry, checking" if i % 3 else long_transcript(i % 7 + 2, "thanks")
            for i in range(48)]


class CountingClassifier:
    """The real classifier, recording the size of every engine call."""

    def __init__(self, classifier):
        self.classifier, self.calls, self.lock = classifier, [], threading.Lock()

    def predict(self, transcripts):
        with self.lock:
            self.calls.append(len(transcripts))
        return self.classifier.predict(transcripts)


def test_concurrent_callers_get_their_own_predictions_from_shared_batches(small_classifier):
    counting = CountingClassifier(small_classifier)
    expected = [p.to_dict() for p in small_classifier.predict(REQUESTS)]
    with BatchingPredictor(counting, max_batch_size=16, max_wait_ms=50) as predictor:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(predictor.predict_one, REQUESTS))
    for answer, want in zip(answers, expected):
        assert answer.moment == want["moment"] and answer.sentiment == want["sentiment"]
        assert answer.moment_scores == pytest.approx(want["moment_scores"], abs=1e-5)
    assert sum(counting.calls) == len(REQUESTS) and max(counting.calls) > 1 and max(counting.calls) <= 16


def test_a_bad_request_fails_in_its_caller_only(small_classifier):
    with BatchingPredictor(small_classifier) as predictor:
        with pytest.raises(InputError):
            predictor.predict_one("")
        assert predictor.predict_one("Customer: can't log in").moment in small_classifier.moments
    with pytest.raises(MotclassifyError, match="closed"):
        predictor.predict_one("Customer: hello")


def test_an_engine_failure_reaches_every_caller_of_the_batch(small_classifier):
    class Broken:
        def predict(self, transcripts):
            raise RuntimeError("out of memory")

    with BatchingPredictor(Broken(), max_wait_ms=50) as predictor, ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(predictor.predict_one, "Customer: hi") for _ in range(4)]
        for future in futures:
            with pytest.raises(RuntimeError, match="out of memory"):
                future.result()
