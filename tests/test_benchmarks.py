"""The benchmark scripts run (reduced in size) and write their result files; their figures live in benchmarks/."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def run_benchmark(script: str, *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], check=True, capture_output=True,
                   cwd=ROOT / "benchmarks")


def test_ray_scoring_benchmark_writes_each_configuration(tmp_path):
    out = tmp_path / "ray.json"
    run_benchmark("ray_scoring.py", "--limit", "40", "--output", str(out))
    results = json.loads(out.read_text())
    assert results["transcripts"] == 40 and len(results["runs"]) == 3
    assert all(run["transcripts_per_second"] > 0 for run in results["runs"].values())
