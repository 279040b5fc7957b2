"""Batch scoring on the local engine vs on a local Ray cluster, side by side on one machine (CPU figures).

    python benchmarks/ray_scoring.py                  # -> benchmarks/results/ray_scoring.json
    python benchmarks/ray_scoring.py --limit 100 --output /tmp/ray_smoke.json      # a smoke run

The workload is the authored test split repeated ``--repeat`` times, as one JSONL export. Each configuration
scores it end to end, as `motclassify score` would: read, score, write the output (and errors). Measured:
- local: `score_file` in this process, torch on all cores;
- ray, N workers x T threads: `motclassify.distributed.score_path` on a Ray cluster started here with the
  machine's cores (`ray.init(num_cpus=cores)`), the cluster start-up timed apart from the scoring run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from speed import cpu_name

ROOT = Path(__file__).parent.parent
TEST = ROOT / "training" / "data" / "splits" / "test.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=4, help="copies of the authored test split to score")
    parser.add_argument("--limit", type=int, help="score only the first N transcripts (a smoke run)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "ray_scoring.json"))
    args = parser.parse_args()

    import ray

    from motclassify import MomentClassifier
    from motclassify.distributed import score_path
    from motclassify.scoring import score_file

    cores = os.cpu_count() or 1
    lines = [line for line in TEST.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [{**json.loads(line), "id": f"{copy}-{n}"} for copy in range(args.repeat) for n, line in enumerate(lines)]
    records = records[:args.limit]
    results: dict = {"transcripts": len(records), "runs": {}}
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "export.jsonl"
        export.write_text("".join(json.dumps(record) + "\n" for record in records))

        def record(name: str, seconds: float, scored: int, **extra) -> None:
            results["runs"][name] = {"seconds": round(seconds, 1), "transcripts_per_second": round(scored / seconds, 1),
                                     **extra}
            print(name, results["runs"][name], flush=True)

        started = time.perf_counter()
        summary = score_file(MomentClassifier(device="cpu", threads=cores), export, Path(folder) / "local.jsonl",
                             progress=False)
        record(f"local engine, {cores} threads (model load included)", time.perf_counter() - started, summary.scored)

        started = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        results["ray_cluster_start_seconds"] = round(time.perf_counter() - started, 1)
        for workers, threads in ((cores, 1), (1, cores)):
            started = time.perf_counter()
            summary = score_path(export, Path(folder) / f"ray-{workers}x{threads}.jsonl", concurrency=workers,
                                 threads_per_worker=threads)
            record(f"ray, {workers} worker(s) x {threads} thread(s) (worker start-up and model loads included)",
                   time.perf_counter() - started, summary.scored)
        ray.shutdown()

    results.update({
        "machine": {"cpu": cpu_name(), "cores": cores, "torch": torch.__version__, "ray": ray.__version__,
                    "device": "cpu (no GPU on this machine)"},
        "command": " ".join(["python", "benchmarks/ray_scoring.py", *sys.argv[1:]]),
    })
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
