from motclassify.metrics import head_report, macro_f1

LABELS = ["discovery", "purchase", "onboarding", "access", "delivery", "product_issue", "billing", "cancellation", "feedback"]


def test_macro_f1_averages_over_the_labels_present_in_the_gold_data():
    gold = ["billing"] * 4 + ["access"] * 4
    predicted = ["billing"] * 4 + ["access"] * 3 + ["billing"]  # 7 of 8 right
    assert macro_f1(gold, predicted, LABELS) == (8 / 9 + 6 / 7) / 2
    report = head_report(gold, predicted, LABELS)
    assert report["macro_f1_labels"] == ["access", "billing"] and report["macro_f1"] > 0.85


def test_predicting_an_absent_label_still_costs_precision():
    gold = ["billing", "billing", "access", "access"]
    assert macro_f1(gold, ["billing", "feedback", "access", "access"], LABELS) < macro_f1(gold, gold, LABELS) == 1.0
