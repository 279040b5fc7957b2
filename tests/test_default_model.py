"""The shipped default model on conversations whose ending decides how the moment turned out (taxonomy §2)."""

import pytest

from motclassify import MomentClassifier

VENT_THEN_FIXED = [
    {"speaker": "customer", "text": "@AcmeHelp your app logged me out AGAIN and now it won't accept my password. third time this week. "
                                    "I pay for premium and I can't even get in. this is ridiculous"},
    {"speaker": "customer", "text": "seriously I have a presentation in an hour and all my files are in there. "
                                    "reset link never arrives, checked spam, nothing. worst service ever"},
    {"speaker": "customer", "text": "hello?? anyone?? still locked out, still no email"},
    {"speaker": "agent", "text": "@dana_k So sorry about this! I can see the reset emails bounced because of a typo in the address "
                                 "on file. I've corrected it and sent a fresh link just now, can you check?"},
    {"speaker": "customer", "text": "got it, I'm in!! it works now, you saved my day! thank you so much 🙏"},
]
FRIENDLY_THEN_ANGRY = [
    {"speaker": "customer", "text": "Hi there! Quick one: I was charged for my plan twice this month, could you refund one of them? Thanks :)"},
    {"speaker": "agent", "text": "Hi! Charges are final once processed. Please see our billing policy: acme.co/billing"},
    {"speaker": "customer", "text": "It's literally the same charge twice, your policy can't mean you keep both?"},
    {"speaker": "agent", "text": "As stated, we are unable to issue refunds. Is there anything else I can help with?"},
    {"speaker": "customer", "text": "Unbelievable. You just took my money twice and shrugged. Cancelling and reporting this to my bank!!"},
]
DISAPPOINTED_THEN_ROUTINE = [
    {"speaker": "customer", "text": "@PlayCraftHelp really disappointed, online mode keeps failing every evening and I can't play with my friends"},
    {"speaker": "agent", "text": "@tomasz_r Sorry to hear that! Which platform are you playing on? These steps fix most "
                                 "connection issues: link"},
]


@pytest.fixture(scope="module")
def default_model():
    return MomentClassifier.load(device="cpu")


def test_a_long_complaint_that_ends_fixed_and_thanked_is_not_miserable(default_model):
    prediction = default_model.predict_one(VENT_THEN_FIXED)
    assert prediction.sentiment == "magical", prediction.sentiment_scores
    assert prediction.moment == "access"


def test_a_friendly_start_that_ends_in_anger_is_miserable(default_model):
    prediction = default_model.predict_one(FRIENDLY_THEN_ANGRY)
    assert prediction.sentiment == "miserable", prediction.sentiment_scores
    assert prediction.moment == "billing"


def test_disappointment_met_with_a_routine_next_step_is_average(default_model):
    prediction = default_model.predict_one(DISAPPOINTED_THEN_ROUTINE)
    assert prediction.sentiment == "average", prediction.sentiment_scores
    assert prediction.moment == "product_issue"


def test_the_ending_moves_the_sentiment_the_opening_does_not_fix_it(default_model):
    fixed, refused = default_model.predict([VENT_THEN_FIXED, VENT_THEN_FIXED[:3]])
    assert fixed.sentiment_scores["miserable"] < 0.2 < refused.sentiment_scores["miserable"]


def test_the_trajectory_starts_from_the_customers_opening(default_model):
    prediction = default_model.predict_one(VENT_THEN_FIXED[:1] + VENT_THEN_FIXED[3:])
    assert prediction.trajectory.start != "magical" and prediction.trajectory.end != "miserable"
    assert prediction.trajectory.start_scores["miserable"] > prediction.trajectory.end_scores["miserable"]
