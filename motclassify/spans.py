"""Which turn spans of a transcript the heads score: the whole, its opening, and the segments along it.

Pure functions of transcripts and labels; a span is ``(transcript index, first turn, last turn)``, inclusive.
"""

from __future__ import annotations

from typing import Sequence

from .transcript import Transcript

Span = tuple[int, int, int]
SEGMENT_MIN_TURNS = 4  # transcripts shorter than this hold one segment


def whole_spans(transcripts: Sequence[Transcript]) -> list[Span]:
    """Each whole transcript."""
    return [(i, 0, len(t.turns) - 1) for i, t in enumerate(transcripts)]


def openings(transcripts: Sequence[Transcript]) -> list[Transcript]:
    """Each transcript cut after the customer's first message (after its first turn when the customer never
    speaks): how the customer came in. Encoded on their own, so the answer cannot colour them."""
    return [Transcript(t.turns[:next((k for k, turn in enumerate(t.turns) if turn.speaker == "customer"), 0) + 1], t.id)
            for t in transcripts]


def separate_openings(transcripts: Sequence[Transcript]) -> list[tuple[int, Transcript]]:
    """``(index, opening)`` of the transcripts whose opening is shorter than the whole: the openings that need an
    encoder pass of their own (a transcript that is all opening is its own)."""
    return [(i, start) for i, (start, whole) in enumerate(zip(openings(transcripts), transcripts))
            if len(start.turns) < len(whole.turns)]


def local_spans(transcripts: Sequence[Transcript]) -> list[Span]:
    """A three-turn span around every turn of the transcripts long enough to hold several segments."""
    return [(i, max(0, k - 1), min(n - 1, k + 1))
            for i, n in enumerate(len(t.turns) for t in transcripts) if n >= SEGMENT_MIN_TURNS for k in range(n)]


def segment_spans(transcripts: Sequence[Transcript], local_moments: Sequence[int]) -> list[list[Span]]:
    """Per transcript, its segments: runs of equal moment over the local spans (``local_moments`` in the order of
    :func:`local_spans`); a transcript too short for segments is one segment."""
    labels = iter(local_moments)
    result = []
    for i, transcript in enumerate(transcripts):
        n = len(transcript.turns)
        if n < SEGMENT_MIN_TURNS:
            result.append([(i, 0, n - 1)])
        else:
            result.append([(i, first, last) for first, last in runs([next(labels) for _ in range(n)])])
    return result


def span_texts(transcripts: Sequence[Transcript], spans: Sequence[Span]) -> list[str]:
    """The plain text of each span's turns (what a lexical model reads)."""
    return [Transcript(transcripts[i].turns[first:last + 1]).to_text() for i, first, last in spans]


def runs(labels: list[int], min_turns: int = 2) -> list[tuple[int, int]]:
    """Turn ranges of consecutive equal labels; runs shorter than ``min_turns`` join the run before (or after)."""
    found: list[list[int]] = []
    for index, label in enumerate(labels):
        if found and found[-1][2] == label:
            found[-1][1] = index
        else:
            found.append([index, index, label])
    merged: list[list[int]] = []
    for run in found:
        if merged and (run[1] - run[0] + 1 < min_turns or merged[-1][2] == run[2]):
            merged[-1][1] = run[1]
        elif merged and merged[-1][1] - merged[-1][0] + 1 < min_turns:
            merged[-1][1], merged[-1][2] = run[1], run[2]
        else:
            merged.append(run)
    return [(first, last) for first, last, _ in merged]
