"""Command-line start-up: wall time of ``motclassify --help`` and ``motclassify info`` in fresh processes (CPU).

    python benchmarks/startup.py                                  # -> benchmarks/results/startup.json
    python benchmarks/startup.py --repeats 1 --output /tmp/startup_smoke.json      # a smoke run

Each command runs ``--repeats`` times; the best and the median are reported (the best is the least disturbed
by other work on the machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from speed import cpu_name

COMMANDS = {"motclassify --help": ["--help"], "motclassify info": ["info"]}


def wall_seconds(arguments: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "motclassify.cli", *arguments], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "startup.json"))
    args = parser.parse_args()

    results: dict = {"date": date.today().isoformat(), "cpu": cpu_name(), "repeats": args.repeats, "runs": {}}
    for name, arguments in COMMANDS.items():
        seconds = [wall_seconds(arguments) for _ in range(args.repeats)]
        results["runs"][name] = {"best_s": round(min(seconds), 3), "median_s": round(statistics.median(seconds), 3)}
        print(f"{name}: best {min(seconds):.2f} s, median {statistics.median(seconds):.2f} s", flush=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
