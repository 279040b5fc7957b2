"""Serving many callers at once: single-transcript requests from many threads are scored together in one batch."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

from .classifier import MomentClassifier
from .errors import MotclassifyError
from .prediction import Prediction
from .transcript import Transcript, TranscriptLike


class BatchingPredictor:
    """A thread-safe ``predict_one`` for web services: concurrent requests wait in a queue, and one worker
    thread scores up to ``max_batch_size`` of them at a time in one engine call, waiting at most ``max_wait_ms``
    after the first request for others to join it. Alone, a request pays at most ``max_wait_ms`` extra; under load,
    the engine works on full batches instead of one transcript at a time.

    >>> with BatchingPredictor(MomentClassifier.load()) as predictor:   # shared by the service's threads
    ...     predictor.predict_one("Customer: charged twice\\nAgent: refunded").moment
    'billing'
    """

    def __init__(self, classifier: MomentClassifier, *, max_batch_size: int = 32, max_wait_ms: float = 5.0):
        if max_batch_size < 1 or max_wait_ms < 0:
            raise MotclassifyError("max_batch_size must be at least 1 and max_wait_ms at least 0")
        self.classifier = classifier
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self._requests: queue.Queue[tuple[Transcript, Future] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._serve, name="motclassify-batcher", daemon=True)
        self._closed = False
        self._lock = threading.Lock()  # no request may be queued behind the stop sentinel
        self._worker.start()

    def predict_one(self, transcript: TranscriptLike, timeout: float | None = None) -> Prediction:
        """The prediction for one transcript, scored in a batch with whatever other requests are waiting.
        A transcript that cannot be read raises here, in its caller, before it is queued."""
        request, future = Transcript.parse(transcript), Future()
        with self._lock:
            if self._closed:
                raise MotclassifyError("this BatchingPredictor is closed")
            self._requests.put((request, future))
        return future.result(timeout)

    def close(self) -> None:
        """Finish the queued requests, then stop the worker thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._requests.put(None)
        self._worker.join()

    def __enter__(self) -> "BatchingPredictor":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _serve(self) -> None:
        while True:
            first = self._requests.get()
            if first is None:
                return
            batch, deadline, stop = [first], time.monotonic() + self.max_wait_ms / 1000, False
            while len(batch) < self.max_batch_size:
                try:
                    item = self._requests.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                predictions = self.classifier.predict([transcript for transcript, _ in batch])
            except Exception as error:  # noqa: BLE001 - handed to every caller of the batch
                for _, future in batch:
                    future.set_exception(error)
            else:
                for (_, future), prediction in zip(batch, predictions):
                    future.set_result(prediction)
            if stop:
                return
