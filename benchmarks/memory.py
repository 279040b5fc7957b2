"""Peak-memory benchmark of `motclassify score`: RSS growth from a 2,000-transcript file to a 20,000-transcript file.

    python benchmarks/memory.py                      # default model, writes benchmarks/results/memory.json
    python benchmarks/memory.py --model DIR --count 20000 --max-turns 30

Both runs use the same model and options in fresh processes; the growth is the difference of their peak RSS
(``ru_maxrss`` of each child), so imports, the model and the working set of full batches cancel out and what
is left is what grows with the input. A 20-transcript run is reported too: its gap to the 2,000 run is that
working set (activations of a full ``--batch-tokens`` batch, allocator caches).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPENERS = ["hi, my order {n} has not arrived", "I was charged twice on invoice {n}", "can't log in since update {n}",
           "how do I cancel plan {n}?", "does model {n} work with my router", "the app crashes on screen {n}"]
REPLIES = ["Thanks for reaching out, let me check that for you.", "I've fixed it on our side, please try again.",
           "Sorry, we can't help with that.", "Refund issued, it shows in 3-5 days."]


def write_transcripts(path: Path, count: int, max_turns: int = 30, seed: int = 0) -> Path:
    """A JSONL export of ``count`` varied transcripts of 1 to ``max_turns`` turns."""
    rng = random.Random(seed)
    lengths = [n for n in (0, 1, 2, 3, 5, 9, 29) if n < max_turns]
    with open(path, "w") as handle:
        for n in range(count):
            turns = [{"speaker": "customer", "text": rng.choice(OPENERS).format(n=n)}]
            for k in range(rng.choice(lengths)):
                turns.append({"speaker": "agent" if k % 2 == 0 else "customer", "text": rng.choice(REPLIES)})
            handle.write(json.dumps({"id": f"m{n}", "turns": turns}) + "\n")
    return path


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """Run a command; return its peak RSS in MB and its wall time in seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def measure(count: int, model: str | None, max_turns: int = 30, baseline: int = 2000, batch_tokens: int | None = None) -> dict:
    """Peak RSS of scoring 20, ``baseline`` and ``count`` transcripts, each in a fresh process."""
    result: dict = {"transcripts": count, "max_turns": max_turns, "batch_tokens": batch_tokens or "default"}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        command = [sys.executable, "-m", "motclassify.cli", "score", "--quiet", *(["--model", model] if model else []),
                   *(["--batch-tokens", str(batch_tokens)] if batch_tokens else [])]
        for size in (20, baseline, count):
            source = write_transcripts(folder / f"in{size}.jsonl", size, max_turns)
            rss, seconds = peak_rss_mb([*command, str(source), "-o", str(folder / f"out{size}.jsonl")])
            result[f"peak_rss_mb_{size}"] = round(rss, 1)
        result["scored"] = sum(1 for _ in open(folder / f"out{count}.jsonl"))
    result["rss_growth_mb"] = round(result[f"peak_rss_mb_{count}"] - result[f"peak_rss_mb_{baseline}"], 1)
    result.update(seconds=round(seconds, 1), transcripts_per_second=round(count / seconds, 1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--max-turns", type=int, default=30)
    parser.add_argument("--batch-tokens", type=int, help="the engine's token budget (default: the CLI's)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "memory.json"))
    args = parser.parse_args()
    result = measure(args.count, args.model, args.max_turns, batch_tokens=args.batch_tokens)
    result["command"] = " ".join(["python", "benchmarks/memory.py", *sys.argv[1:]])
    result["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                         "python": platform.python_version(), "device": "cpu"}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
