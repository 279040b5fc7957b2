"""A web service under load: many threads each calling ``predict_one`` at once (CPU figures).

    python benchmarks/serving.py                                      # -> benchmarks/results/serving.json
    python benchmarks/serving.py --backend onnx --output benchmarks/results/serving_onnx.json   # ONNX Runtime
    python benchmarks/serving.py --requests 48 --output /tmp/serving_smoke.json        # a smoke run

Requests are short conversations (1 to 4 turns) from the speed benchmark's seeded workload. Measured in one run:
- the batched engine: ``predict`` over all requests at once (the ceiling);
- one engine call on 1, 2, 4 and 8 requests, alone (what a micro-batch costs: p50 / p99 ms);
- 8 concurrent callers of ``MomentClassifier.predict_one`` (each request scored alone);
- 8 concurrent callers of ``BatchingPredictor.predict_one`` (requests gathered into shared batches);
- half that load: requests arriving at random (Poisson) at half the rate the 8 callers of ``BatchingPredictor``
  reached, whatever the answers (an open loop, as a service's users send them), to ``BatchingPredictor`` and,
  apart, to plain ``predict_one``: per-request latency p50 / p99 from arrival to answer. (Closed-loop callers keep
  the engine always busy, so their latency is the queue's length over the rate, not the service's at half load.)
  The batching run also records its engine calls: how many, their mean size, p50 / p99 ms and the engine's busy share.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import torch
from speed import cpu_name, timed, workload


def run_callers(predict_one, requests: list, callers: int) -> tuple[float, list[float]]:
    """Seconds for ``callers`` threads to work through ``requests``, and each request's latency in ms."""
    latencies: list[float] = []

    def call(request):
        started = time.perf_counter()
        predict_one(request)
        latencies.append((time.perf_counter() - started) * 1000)

    with ThreadPoolExecutor(callers) as pool:
        seconds = timed(lambda: list(pool.map(call, requests)))
    return seconds, latencies


def run_open_loop(predict_one, requests: list, rate: float, seed: int = 0) -> list[float]:
    """Requests arriving at random at ``rate`` a second (Poisson), each answered on a thread of its own: each
    request's latency in ms, from its arrival to its answer."""
    arrivals = np.cumsum(np.random.default_rng(seed).exponential(1 / rate, len(requests)))
    latencies = [0.0] * len(requests)
    start = time.perf_counter()

    def call(index: int) -> None:
        predict_one(requests[index])
        latencies[index] = (time.perf_counter() - start - arrivals[index]) * 1000

    with ThreadPoolExecutor(64) as pool:
        for index, arrival in enumerate(arrivals):
            time.sleep(max(0.0, start + arrival - time.perf_counter()))
            pool.submit(call, index)
    return latencies


class TimedClassifier:
    """The classifier as ``BatchingPredictor`` sees it, recording each engine call's batch size and milliseconds:
    what a request waits for when it arrives during a batch, and how busy the engine is."""

    def __init__(self, classifier) -> None:
        self.classifier, self.calls = classifier, []

    def predict(self, transcripts: list) -> list:
        started = time.perf_counter()
        predictions = self.classifier.predict(transcripts)
        self.calls.append((len(transcripts), (time.perf_counter() - started) * 1000))
        return predictions

    def summary(self, seconds: float) -> dict:
        sizes, milliseconds = np.array([c[0] for c in self.calls]), np.array([c[1] for c in self.calls])
        return {"batches": len(self.calls), "batch_size_mean": round(float(sizes.mean()), 2),
                "batch_ms_p50": round(float(np.percentile(milliseconds, 50)), 1),
                "batch_ms_p99": round(float(np.percentile(milliseconds, 99)), 1),
                "engine_busy_share": round(float(milliseconds.sum() / 1000 / seconds), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the shipped model)")
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"], help="the encoder's runtime")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "serving.json"))
    args = parser.parse_args()

    from motclassify import BatchingPredictor, MomentClassifier, Transcript

    requests = [Transcript.parse(t) for t in workload(args.requests * 4, seed=1) if len(t) <= 4][:args.requests]
    classifier = MomentClassifier.load(args.model, device="cpu", backend=args.backend)
    classifier.predict(requests[:32])  # warm-up
    rate = lambda seconds: round(len(requests) / seconds, 1)  # noqa: E731
    results: dict = {"date": date.today().isoformat(), "requests": len(requests), "backend": args.backend, "runs": {}}

    batched = timed(lambda: classifier.predict(requests))
    results["engine_call_ms_by_batch_size"] = {}  # alone, no other load: what a micro-batch costs on this machine
    for size in (1, 2, 4, 8):
        milliseconds = [timed(lambda: classifier.predict(requests[i:i + size])) * 1000
                        for i in range(0, min(len(requests), 200), size)]
        results["engine_call_ms_by_batch_size"][size] = {"p50": round(float(np.percentile(milliseconds, 50)), 1),
                                                         "p99": round(float(np.percentile(milliseconds, 99)), 1)}
    results["runs"]["batched engine, predict(all requests)"] = {"requests_per_second": rate(batched)}
    seconds, _ = run_callers(classifier.predict_one, requests, 8)
    results["runs"]["8 callers, MomentClassifier.predict_one"] = {"requests_per_second": rate(seconds),
                                                                  "share_of_batched": round(batched / seconds, 2)}
    with BatchingPredictor(classifier) as predictor:
        seconds, _ = run_callers(predictor.predict_one, requests, 8)
        results["runs"]["8 callers, BatchingPredictor.predict_one"] = {"requests_per_second": rate(seconds),
                                                                       "share_of_batched": round(batched / seconds, 2)}
        half_load = len(requests) / seconds / 2
    timed_classifier = TimedClassifier(classifier)
    with BatchingPredictor(timed_classifier) as predictor:  # the same settings, its engine calls timed
        for name, predict_one in (("BatchingPredictor.predict_one", predictor.predict_one),
                                  ("MomentClassifier.predict_one", classifier.predict_one)):
            started = time.perf_counter()
            latencies = run_open_loop(predict_one, requests, half_load)
            run = {"latency_ms_p50": round(float(np.percentile(latencies, 50)), 1),
                   "latency_ms_p99": round(float(np.percentile(latencies, 99)), 1)}
            if predict_one == predictor.predict_one:
                run["engine_calls"] = timed_classifier.summary(time.perf_counter() - started)
            results["runs"][f"half load, {half_load:.1f} requests/s arriving at random, {name}"] = run
    for name, run in results["runs"].items():
        print(name, run, flush=True)
    results.update({
        "settings": {"max_batch_size": 32, "max_wait_ms": 5.0},
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "device": "cpu (no GPU on this machine)"},
        "command": " ".join(["python", "benchmarks/serving.py", *sys.argv[1:]]),
    })
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
