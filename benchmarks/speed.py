"""Inference speed, measured side by side in one process on this machine (CPU figures unless a GPU is present).

    python benchmarks/speed.py                                   # -> benchmarks/results/speed.json
    python benchmarks/speed.py --transcripts 40 --test-records 20 --output /tmp/speed_smoke.json   # a smoke run

One seeded workload of mixed-length transcripts (single messages to conversations of 500+ tokens), made by
this script from the turns of the authored test split. On it, in one run:
1. the baseline a user would write: Hugging Face ``pipeline("text-classification")`` over the same base encoder
   with a 9-label head, batch size 16, truncation at 512 tokens; it gives one head, motclassify gives both heads,
   segments and the trajectory;
2. motclassify fp32 (``predict``) at the default token budget and at 2,048 / 4,096 padded tokens a batch, with
   the torch backend and, when onnxruntime is installed, the ONNX Runtime backend (with its label agreement);
3. motclassify int8 (dynamic, CPU) on each backend (torch: one scale a tensor; ONNX Runtime: one scale an output
   channel), with its label agreement with fp32 on the workload and macro-F1 on the authored test split;
4. on CUDA, fp16/bf16 autocast at the default budget and at 65,536 (a line says it is skipped without a GPU).
Each as transcripts/s, real (non-pad) tokens/s and the ratio to the baseline; the fraction of this machine's
measured fp32 matmul peak that fp32 reaches; `predict_one` latency p50 / p99 on a short transcript (each backend);
what one more encoder pass costs in tokens (the engine's batching weighs passes against padding with it); and the
tokens each system encodes, so the transcripts/s ratio can be read per token of work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).parent.parent
TEST = ROOT / "training" / "data" / "splits" / "test.jsonl"
SHORT = "Customer: my card was charged twice\nAgent: refunded, sorry!\nCustomer: wow that was fast, thanks"
TURNS_PER_TRANSCRIPT = (1, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32)  # single messages to 500+ token conversations


def cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def long_transcript_curve(classifier, lengths=(250, 500, 1000, 2000, 4000)) -> dict[str, dict[str, float]]:
    """``predict_one`` time (median of 5) of one conversation of about each length in tokens, and per token."""
    from motclassify import Transcript

    turns = [turn for record in workload(60, seed=2) for turn in record]
    curve = {}
    for length in lengths:
        transcript, tokens = [], 0
        for turn in turns:
            if tokens >= length:
                break
            transcript.append(turn)
            tokens += len(classifier.engine.windower.tokenizer.encode(turn["text"], add_special_tokens=False).ids) + 1
        parsed = Transcript.parse(transcript)
        milliseconds = statistics.median(timed(lambda: classifier.predict_one(parsed)) * 1000 for _ in range(5))
        curve[str(tokens)] = {"ms": round(milliseconds, 1), "ms_per_1000_tokens": round(milliseconds / tokens * 1000, 1)}
    return curve


def workload(count: int, seed: int = 0) -> list[list[dict]]:
    """``count`` transcripts of mixed lengths, built from the turns of the authored test split (seeded)."""
    records = [json.loads(line) for line in TEST.read_text(encoding="utf-8").splitlines() if line.strip()]
    turns = [turn for record in records for turn in record["turns"]]
    rng = random.Random(seed)
    result = []
    for _ in range(count):
        length = rng.choice(TURNS_PER_TRANSCRIPT)
        start = rng.randrange(len(turns) - length)
        result.append([{"speaker": "customer" if i % 2 == 0 else "agent", "text": turns[start + i]["text"]}
                       for i in range(length)])
    return result


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """This machine's fp32 matrix-product rate at the engine's threads (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def encoder_flops_per_token(config, mean_length: float) -> float:
    """Forward FLOPs a token: 2 per weight of the linear layers, plus attention over a window of ``mean_length``."""
    hidden, layers, inner = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    return layers * (2 * (4 * hidden * hidden + 2 * hidden * inner) + 4 * hidden * mean_length)


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def agreement(reference, other) -> dict[str, float]:
    """Share of transcripts whose top label is the same in two ``Probabilities``, per head."""
    return {head: round(float((getattr(reference, head).argmax(1) == getattr(other, head).argmax(1)).mean()), 4)
            for head in ("moment", "sentiment")}


def pass_cost(engine) -> dict:
    """What one more encoder pass costs, in tokens: encoder time (median of 5) for batches of 1 to 8 rows of 32 to
    256 tokens, fitted as ``seconds = per_pass + per_token x rows x width`` (the engine's PASS_COST_TOKENS)."""
    shapes = [(rows, width) for rows in (1, 2, 4, 8) for width in (32, 64, 128, 256)]
    seconds = []
    with torch.inference_mode():
        for rows, width in shapes:
            ids = torch.randint(1000, 2000, (rows, width))
            turns, first = torch.zeros_like(ids), torch.zeros(rows, dtype=torch.long)
            run = lambda: engine.model.turn_sums(ids, torch.ones_like(ids), turns, first, 1)  # noqa: E731
            run()
            seconds.append(statistics.median(timed(run) for _ in range(5)))
    per_token, per_pass = (float(v) for v in np.polyfit([rows * width for rows, width in shapes], seconds, 1))
    return {"per_pass_ms": round(per_pass * 1000, 2), "per_token_ms": round(per_token * 1000, 4),
            "pass_cost_in_tokens": round(per_pass / per_token, 1)}


def encoded_tokens(engine, transcripts, texts: list[str]) -> dict[str, int]:
    """Tokens the two systems feed their encoders beyond motclassify's windows (padding aside): the customers'
    openings motclassify reads on their own (the trajectory), and the pipeline's plain text up to 512 tokens."""
    from transformers import AutoTokenizer

    from motclassify.folder import packaged_base_path
    from motclassify.spans import separate_openings

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_base_path()))
    lengths = [len(ids) for ids in tokenizer(texts, truncation=False, verbose=False)["input_ids"]]
    opening_windows = engine.windower.windows([start for _, start in separate_openings(transcripts)])
    return {"motclassify_openings": sum(len(w.input_ids) for ws in opening_windows for w in ws),
            "pipeline_truncated_at_512": sum(min(512, n) for n in lengths),
            "pipeline_transcripts_truncated": sum(n > 512 for n in lengths)}


def pipeline_baseline(transcripts: list[str], device: str) -> float:
    """Seconds for the Hugging Face text-classification pipeline over the base encoder (9-label head)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
    from transformers.utils import logging

    from motclassify.folder import packaged_base_path

    logging.set_verbosity_error()
    base = str(packaged_base_path())
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=9)
    classify = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(base),
                        device=device)
    classify(transcripts[:16], batch_size=16, truncation=True, max_length=512)  # warm-up
    return timed(lambda: classify(transcripts, batch_size=16, truncation=True, max_length=512))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the shipped model)")
    parser.add_argument("--transcripts", type=int, default=400, help="size of the workload")
    parser.add_argument("--test-records", type=int, help="score only the first N records of the test split for int8's F1")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "speed.json"))
    args = parser.parse_args()

    from motclassify import MomentClassifier, MotclassifyError, Transcript
    from motclassify.evaluation import evaluate

    cuda = torch.cuda.is_available()
    transcripts = [Transcript.parse(turns) for turns in workload(args.transcripts)]
    classifier = MomentClassifier.load(args.model, device="cpu")
    engine = classifier.engine
    windows = [w for ws in engine.windower.windows(transcripts) for w in ws]
    real_tokens = sum(len(w.input_ids) for w in windows)
    results: dict = {"date": date.today().isoformat(), "transcripts": len(transcripts), "real_tokens": real_tokens,
                     "windows": len(windows), "max_length": classifier.config.max_length, "runs": {}}

    def record(name: str, seconds: float, **extra) -> None:
        results["runs"][name] = {"transcripts_per_second": round(len(transcripts) / seconds, 1),
                                 "real_tokens_per_second": round(real_tokens / seconds), **extra}
        print(name, results["runs"][name], flush=True)

    texts = [t.to_text() for t in transcripts]
    baseline = pipeline_baseline(texts, "cpu")
    record("HF pipeline, batch 16, truncation 512 (one head)", baseline)
    classifier.predict(transcripts[:32])  # warm-up
    default_budget = engine.batch_tokens
    for budget in sorted({default_budget, 2048, 4096}):
        engine.batch_tokens = budget
        seconds = timed(lambda: classifier.predict(transcripts))
        record(f"motclassify fp32, budget {budget}", seconds, ratio_to_baseline=round(baseline / seconds, 2))
        if budget == default_budget:
            default_seconds = seconds
    engine.batch_tokens = default_budget
    backends = {"torch": classifier}
    try:
        backends["onnx"] = MomentClassifier.load(args.model, device="cpu", backend="onnx")
    except MotclassifyError as error:  # onnxruntime not installed
        results["onnx"] = f"skipped: {error}"
    if "onnx" in backends:
        backends["onnx"].predict(transcripts[:32])
        seconds = timed(lambda: backends["onnx"].predict(transcripts))
        record(f"motclassify fp32, ONNX Runtime, budget {default_budget}", seconds,
               ratio_to_baseline=round(baseline / seconds, 2))
        results["onnx"] = {"label_agreement_with_torch": agreement(classifier.predict_proba(transcripts),
                                                                   backends["onnx"].predict_proba(transcripts))}
    work = {"motclassify_windows": real_tokens, **encoded_tokens(engine, transcripts, texts)}
    work["work_ratio"] = round((real_tokens + work["motclassify_openings"]) / work["pipeline_truncated_at_512"], 3)
    work["fp32_ratio_per_encoded_token"] = round(baseline / default_seconds * work["work_ratio"], 2)
    results["encoded_tokens"] = work
    tokenize = timed(lambda: engine.windower.windows(transcripts))
    results["time_split_default_budget"] = {"tokenize_and_cut_windows_s": round(tokenize, 3),
                                            "whole_predict_s": round(default_seconds, 3),
                                            "tokenize_share": round(tokenize / default_seconds, 4)}
    results["long_transcript_ms"] = long_transcript_curve(classifier)
    results["encoder_pass_cost"] = {name: pass_cost(backend.engine) for name, backend in backends.items()}
    peak = matmul_peak_gflops()
    mean_length = real_tokens / len(windows)
    flops = encoder_flops_per_token(engine.model.encoder.config, mean_length)
    fastest = max(r["real_tokens_per_second"] for n, r in results["runs"].items() if "fp32" in n)
    results["fp32_matmul_peak_gflops"] = round(peak, 1)
    results["fp32_fraction_of_matmul_peak"] = round(flops * fastest / 1e9 / peak, 3)

    test = [json.loads(line) for line in TEST.read_text(encoding="utf-8").splitlines() if line.strip()][:args.test_records]
    fp32_p, fp32_test = classifier.predict_proba(transcripts), evaluate(classifier, test)
    results["int8"] = {}
    for name in backends:
        quantized = MomentClassifier.load(args.model, device="cpu", quantize="int8", backend=name)
        quantized.predict(transcripts[:32])
        seconds = timed(lambda: quantized.predict(transcripts))
        record(f"motclassify int8 ({name} backend, CPU)", seconds, ratio_to_baseline=round(baseline / seconds, 2))
        int8_test = evaluate(quantized, test)
        results["int8"][name] = {
            "label_agreement_with_fp32": agreement(fp32_p, quantized.predict_proba(transcripts)),
            "authored_test_macro_f1": {head: {"fp32": round(fp32_test[head]["macro_f1"], 4),
                                              "int8": round(int8_test[head]["macro_f1"], 4)} for head in ("moment", "sentiment")}}
    if cuda:
        gpu = MomentClassifier.load(args.model, device="cuda")
        gpu.predict(transcripts[:32])
        for budget in (default_budget, 65536):
            gpu.engine.batch_tokens = budget
            record(f"motclassify CUDA autocast, budget {budget}", timed(lambda: gpu.predict(transcripts)))
    else:
        results["cuda"] = "skipped: no CUDA GPU on this machine"

    results["predict_one_short_ms"] = {}
    for name, backend in backends.items():
        latencies = [timed(lambda: backend.predict_one(SHORT)) * 1000 for _ in range(200)]
        results["predict_one_short_ms"][name] = {"p50": round(statistics.median(latencies), 1),
                                                 "p99": round(float(np.percentile(latencies, 99)), 1)}
    results.update({
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "device": "cuda" if cuda else "cpu (no GPU on this machine)"},
        "command": " ".join(["python", "benchmarks/speed.py", *sys.argv[1:]]),
    })
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
