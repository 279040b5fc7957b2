"""The benchmark scripts run (reduced in size) and write their result files; their figures live in benchmarks/."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    """The ONNX Runtime backend's exports go to a temporary cache, not the user's."""
    monkeypatch.setenv("MOTCLASSIFY_CACHE", str(tmp_path / "cache"))


def run_benchmark(script: str, *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], check=True, capture_output=True,
                   cwd=ROOT / "benchmarks")


def test_ray_scoring_benchmark_writes_each_configuration(tmp_path):
    out = tmp_path / "ray.json"
    run_benchmark("ray_scoring.py", "--limit", "40", "--output", str(out))
    results = json.loads(out.read_text())
    assert results["transcripts"] == 40 and len(results["runs"]) == 3
    assert all(run["transcripts_per_second"] > 0 for run in results["runs"].values())


def test_speed_benchmark_compares_against_the_pipeline_baseline(tmp_path):
    out = tmp_path / "speed.json"
    run_benchmark("speed.py", "--transcripts", "24", "--test-records", "20", "--output", str(out))
    results = json.loads(out.read_text())
    assert results["transcripts"] == 24 and results["real_tokens"] > 0
    assert any(name.startswith("HF pipeline") for name in results["runs"])
    assert all(run["ratio_to_baseline"] > 0 for name, run in results["runs"].items() if name.startswith("motclassify"))
    assert 0 < results["fp32_fraction_of_matmul_peak"]
    assert all(results["predict_one_short_ms"][backend]["p99"] > 0 for backend in ("torch", "onnx"))
    assert results["onnx"]["label_agreement_with_torch"]["moment"] > 0.9
    assert all(set(run["label_agreement_with_fp32"]) == {"moment", "sentiment"} for run in results["int8"].values())
    assert set(results["int8"]) == {"torch", "onnx"}
    assert 0 < results["time_split_default_budget"]["tokenize_share"] < 1
    assert len(results["long_transcript_ms"]) == 5 and max(map(int, results["long_transcript_ms"])) >= 4000
    assert all(cost["per_token_ms"] > 0 for cost in results["encoder_pass_cost"].values())
    work = results["encoded_tokens"]  # motclassify reads more than the truncating pipeline: the ratio says how much
    assert work["motclassify_openings"] > 0 and work["work_ratio"] >= 1


def test_serving_benchmark_measures_batched_and_concurrent_callers(tmp_path):
    out = tmp_path / "serving.json"
    run_benchmark("serving.py", "--requests", "32", "--output", str(out))
    results = json.loads(out.read_text())
    runs = results["runs"]
    assert set(results["engine_call_ms_by_batch_size"]) == {"1", "2", "4", "8"}
    half_load = [run for name, run in runs.items() if name.startswith("half load")]
    assert len(runs) == 5 and len(half_load) == 2 and all(run["latency_ms_p99"] > 0 for run in half_load)
    (engine,) = [run["engine_calls"] for run in half_load if "engine_calls" in run]  # the batching run's engine calls
    assert engine["batches"] >= 1 and 1 <= engine["batch_size_mean"] <= 32 and 0 < engine["engine_busy_share"] <= 1


def test_startup_benchmark_times_each_command(tmp_path):
    out = tmp_path / "startup.json"
    run_benchmark("startup.py", "--repeats", "1", "--output", str(out))
    runs = json.loads(out.read_text())["runs"]
    assert set(runs) == {"motclassify --help", "motclassify info"}
    assert all(run["best_s"] > 0 for run in runs.values())


def test_fewshot_benchmark_compares_fine_tuning_with_both_linear_baselines(tmp_path):
    out = tmp_path / "fewshot.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fewshot.py"), "--companies", "software",
                             "--per-class", "4", "--seeds", "1", "--split", "dev", "--out", str(out)],
                            check=True, capture_output=True, text=True, cwd=ROOT / "benchmarks")
    results = json.loads(out.read_text())
    assert results["split"] == "dev"  # evaluated on the dev conversations; the test set stays unseen
    (row,) = results["summary"]
    assert (row["company"], row["per_class"], row["seeds"]) == ("software", 4, 1) and row["train_seconds_mean"] > 0
    systems = ("motclassify", "tfidf + logistic regression", "frozen MiniLM + logistic regression")
    assert all(0 <= row[system][head] <= 1 for system in systems for head in ("moment", "sentiment"))
    assert results["points"][0]["train_records"] == 20  # 4 of each of the software company's 5 moments
    assert "| software, 4 | 1 |" in result.stdout  # the learning-curve table, ready for the README
