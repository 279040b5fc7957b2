import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

from memory import measure  # noqa: E402

GROWTH_BOUND_MB = 50  # RSS growth from 2,000 to 20,000 transcripts at the default (fastest) token budget


def test_scoring_20000_transcripts_keeps_memory_flat(small_model_dir):
    result = measure(20000, str(small_model_dir), max_turns=3)
    assert result["scored"] == 20000
    assert result["rss_growth_mb"] < GROWTH_BOUND_MB, result
