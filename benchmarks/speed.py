"""Inference speed of the engine, measured side by side in one process on this machine (CPU figures).

    python benchmarks/speed.py              # default model; writes benchmarks/results/speed.json

Compared on the same transcripts (the test split, repeated), same model, same threads:
- one by one: `predict_one` per transcript (batch of 1, no padding waste, no batching gain);
- batched, unsorted: the token-budget batches in input order (dynamic padding, no length sorting);
- batched (the engine): length-sorted batches under the token budget, dynamic padding, at the default
  budget and at 1,024 / 2,048 / 4,096 / 16,384 padded tokens a batch;
- batched int8: the same with dynamic int8 linear layers, plus its label agreement with fp32 and its
  macro-F1 on the test split, which decide whether int8 keeps the labels.
Also the latency of one short transcript (p50/p95 of 50 calls), the use case of a service.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).parent.parent
TEST = ROOT / "training" / "data" / "splits" / "test.jsonl"
SHORT = "Customer: my card was charged twice\nAgent: refunded, sorry!\nCustomer: wow that was fast, thanks"


def cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def unsorted_batches(engine):
    """The engine's token-budget batching without the length sort (for comparison only)."""
    def batches(windows):
        result, current, longest = [], [], 0
        for index, window in enumerate(windows):
            longest_if_added = max(longest, len(window.input_ids))
            if current and (len(current) + 1) * longest_if_added > engine.batch_tokens:
                result.append(current)
                current, longest_if_added = [], len(window.input_ids)
            current.append(index)
            longest = longest_if_added
        return result + ([current] if current else [])
    return batches


def padding_efficiency(engine, transcripts, batcher) -> float:
    windows = [w for ws in engine.windower.windows(transcripts) for w in ws]
    batches = batcher(windows)
    real = sum(len(w.input_ids) for w in windows)
    padded = sum(len(b) * max(len(windows[i].input_ids) for i in b) for b in batches)
    return round(real / padded, 3)


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--repeat", type=int, default=4, help="copies of the test split to score")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "speed.json"))
    args = parser.parse_args()

    from motclassify import MomentClassifier, Transcript
    from motclassify.evaluation import evaluate

    records = [json.loads(line) for line in TEST.read_text(encoding="utf-8").splitlines()]
    transcripts = [Transcript.parse(r) for r in records] * args.repeat
    classifier = MomentClassifier.load(args.model, device="cpu")
    engine = classifier.engine
    classifier.predict(transcripts[:32])  # warm-up

    results: dict = {"transcripts": len(transcripts), "tokens_per_batch_budget": engine.batch_tokens,
                     "max_length": classifier.config.max_length}
    rate = lambda seconds: round(len(transcripts) / seconds, 1)  # noqa: E731
    one_by_one = timed(lambda: [classifier.predict_one(t) for t in transcripts])
    sorted_time = timed(lambda: classifier.predict(transcripts))
    original = engine.batches
    engine.batches = unsorted_batches(engine)
    unsorted_time = timed(lambda: classifier.predict(transcripts))
    unsorted_efficiency = padding_efficiency(engine, transcripts, engine.batches)
    engine.batches = original
    sorted_efficiency = padding_efficiency(engine, transcripts, engine.batches)
    default_budget, by_budget = engine.batch_tokens, {}
    for budget in (1024, 2048, 4096, 16384):
        engine.batch_tokens = budget
        by_budget[str(budget)] = rate(sorted_time if budget == default_budget else timed(lambda: classifier.predict(transcripts)))
    engine.batch_tokens = default_budget
    fp32 = classifier.predict_proba([Transcript.parse(r) for r in records])

    quantized = MomentClassifier.load(args.model, device="cpu", quantize="int8")
    quantized.predict(transcripts[:32])
    int8_time = timed(lambda: quantized.predict(transcripts))
    int8 = quantized.predict_proba([Transcript.parse(r) for r in records])
    fp32_report, int8_report = evaluate(classifier, TEST), evaluate(quantized, TEST)

    latencies = []
    for _ in range(50):
        started = time.perf_counter()
        classifier.predict_one(SHORT)
        latencies.append((time.perf_counter() - started) * 1000)

    results.update({
        "transcripts_per_second": {"one_by_one": rate(one_by_one), "batched_unsorted": rate(unsorted_time),
                                   "batched_sorted (engine)": rate(sorted_time), "batched_sorted_int8": rate(int8_time)},
        "speedup_vs_one_by_one": {"batched_unsorted": round(one_by_one / unsorted_time, 2),
                                  "batched_sorted (engine)": round(one_by_one / sorted_time, 2),
                                  "batched_sorted_int8": round(one_by_one / int8_time, 2)},
        "batched_sorted_transcripts_per_second_by_token_budget": by_budget,
        "padding_efficiency (real/padded tokens)": {"unsorted": unsorted_efficiency, "sorted": sorted_efficiency},
        "int8": {
            "moment_label_agreement_with_fp32": round(float((fp32.moment.argmax(1) == int8.moment.argmax(1)).mean()), 4),
            "sentiment_label_agreement_with_fp32": round(float((fp32.sentiment.argmax(1) == int8.sentiment.argmax(1)).mean()), 4),
            "test_macro_f1": {"moment": {"fp32": round(fp32_report["moment"]["macro_f1"], 4), "int8": round(int8_report["moment"]["macro_f1"], 4)},
                              "sentiment": {"fp32": round(fp32_report["sentiment"]["macro_f1"], 4), "int8": round(int8_report["sentiment"]["macro_f1"], 4)}},
        },
        "single_short_transcript_ms": {"p50": round(statistics.median(latencies), 1),
                                       "p95": round(sorted(latencies)[int(0.95 * len(latencies)) - 1], 1)},
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "device": "cpu (no GPU on this machine)"},
        "command": " ".join(["python", "benchmarks/speed.py", *sys.argv[1:]]),
    })
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
