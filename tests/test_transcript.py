import pytest

from motclassify import Transcript, Turn


def test_plain_text_with_prefixes_and_aliases():
    t = Transcript.parse("CUSTOMER: my card was charged twice\nrep:  refunded,   sorry!\n  more from the rep\nUser: thanks\nBot: survey?")
    assert [turn.speaker for turn in t.turns] == ["customer", "agent", "customer", "bot"]
    assert t.turns[1].text == "refunded, sorry!\nmore from the rep"


@pytest.mark.parametrize("alias,role", [("Caller", "customer"), ("Support", "agent"), ("Chatbot", "bot"),
                                         ("System", "system"), ("client", "customer"), ("Advisor", "agent")])
def test_role_aliases(alias, role):
    assert Transcript.parse(f"{alias}: hello there").turns[0].speaker == role


def test_text_without_prefixes_is_one_customer_message():
    t = Transcript.parse("Hi team,\n\nI was double charged.\nThanks, Ana")
    assert t.turns == (Turn("customer", "Hi team,\nI was double charged.\nThanks, Ana"),)


def test_turn_dicts_accept_common_keys_and_keep_unknown_roles_as_other():
    t = Transcript.parse([{"role": "user", "content": "can't log in"}, {"author": "Wizard", "message": "try this"},
                          {"speaker": "agent", "text": "   "}])
    assert [(x.speaker, x.text) for x in t.turns] == [("customer", "can't log in"), ("other", "try this")]


def test_record_with_id_and_turns_or_text():
    assert Transcript.parse({"id": 7, "text": "Agent: hi"}).id == "7"
    assert Transcript.parse({"id": "a", "turns": [{"speaker": "customer", "text": "x"}]}).turns[0].text == "x"


@pytest.mark.parametrize("value,message", [
    ("", "empty transcript"),
    ("   \n  ", "empty transcript"),
    ([], "empty transcript"),
    ([{"speaker": "customer"}], "turn 0 has no text"),
    ([{"speaker": "customer", "text": 5}], "text must be a string"),
    (["just a string"], "turn 0 must be a mapping"),
    ({"id": "r9", "body": "x"}, "transcript 'r9': record has neither 'turns' nor 'text'"),
    (42, "cannot read a transcript from int"),
    ({"id": "r1", "turns": "nope"}, "'turns' must be a list"),
])
def test_bad_input_gets_a_clear_error(value, message):
    with pytest.raises(ValueError, match=message):
        Transcript.parse(value)


def test_error_names_the_transcript():
    with pytest.raises(ValueError, match="transcript 'abc'"):
        Transcript.parse("", id="abc")


def test_render_marks_roles():
    t = Transcript.parse("Customer: a\nAgent: b")
    assert t.render() == [("customer:", "a"), ("agent:", "b")]
    assert Transcript.parse(t.to_text()) == t
