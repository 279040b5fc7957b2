from motclassify import Transcript
from motclassify.spans import local_spans, openings, runs, segment_spans, whole_spans


def transcripts():
    return [Transcript.parse("Agent: hi, how can I help?\nCustomer: my card was charged twice\nAgent: refunded\nCustomer: thanks!"),
            Transcript.parse("Customer: parcel late\nAgent: sorry"),
            Transcript.parse([{"speaker": "agent", "text": "Your survey link"}])]


def test_whole_and_opening_spans():
    assert whole_spans(transcripts()) == [(0, 0, 3), (1, 0, 1), (2, 0, 0)]
    # the opening runs to the customer's first message, or is the first turn when the customer never speaks
    assert [len(t.turns) for t in openings(transcripts())] == [2, 1, 1]
    assert openings(transcripts())[0].turns[-1].text == "my card was charged twice"


def test_local_spans_only_for_transcripts_long_enough_for_segments():
    assert local_spans(transcripts()) == [(0, 0, 1), (0, 0, 2), (0, 1, 3), (0, 2, 3)]


def test_segment_spans_follow_runs_of_local_moments():
    assert segment_spans(transcripts(), [4, 4, 6, 6]) == [[(0, 0, 1), (0, 2, 3)], [(1, 0, 1)], [(2, 0, 0)]]
    assert segment_spans(transcripts(), [4, 4, 4, 4])[0] == [(0, 0, 3)]


def test_runs_merge_short_stretches():
    assert runs([0, 0, 0, 1, 1, 1]) == [(0, 2), (3, 5)]
    assert runs([0, 0, 2, 0, 0]) == [(0, 4)]
    assert runs([1, 0, 0, 0]) == [(0, 3)]
