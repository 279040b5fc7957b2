"""The default model against its baselines, side by side on the real dev and test splits and the authored test split.

    python benchmarks/baselines.py      # writes benchmarks/results/baselines.json and prints the tables

Evaluation sets: real dev and real test (labelled real Twitter care threads of companies that the training data
of the model scored on them never saw; `training/data/real/`), the authored test split, and the authored test
split rewritten as phone-call ASR text (lowercase, no punctuation, fillers, digits as words; `training/augment.py`'s
`asr`, seed 5). Systems:
- motclassify default model: its calibrated probabilities' top label. The shipped model was retrained with the
  real dev threads once the recipe was chosen, so on real dev the soup that chose it (`training/selection_model/`,
  same recipe without them) stands in for it.
- TF-IDF + logistic regression: word 1-2-grams, one classifier per head, trained on the same data as the model
  it is compared with (`training/corpus.py`'s `training_records`: real train + dev threads, or train only for
  real dev).
- VADER (sentiment only): compound score of the customer's turns, mapped to 3 classes with thresholds chosen on
  a dev split (real dev for the real sets, so its real-dev figure is tuned on itself; authored dev otherwise).
- Zero-shot MiniLM: cosine similarity between the base encoder's mean-pooled embedding of the transcript and of
  each label's description from the taxonomy; no training.
- Majority class of the training data.

Macro-F1 is averaged over the labels present in each set's gold labels. For each set and head, a paired
bootstrap over its transcripts (2,000 resamples, seed 0) gives the 95% interval of the model's macro-F1 minus
the TF-IDF baseline's. Also written: the predicted against the labelled share of each sentiment, and the twenty
most confident errors of the model on real dev.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from motclassify.metrics import macro_f1

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "training"))
from corpus import authored, real, training_records  # noqa: E402

# The shipped model's training data holds the real dev threads (its stage-2 runs were retrained with them after the
# recipe was chosen), so real dev is scored with the soup that chose the recipe, trained without them.
SELECTION_MODEL = ROOT / "training" / "selection_model"

MOMENT_DESCRIPTIONS = {
    "discovery": "deciding whether to buy: questions about products, plans, prices, availability, compatibility before buying",
    "purchase": "buying or booking: checkout, placing or changing an order or booking, payment failing at checkout, promo code",
    "onboarding": "getting started: opening an account, sign-up, activation, installation, setup, first use",
    "access": "proving who they are: login, password reset, two-factor codes, locked, hacked or suspended account",
    "delivery": "getting what was promised when promised: shipping, tracking, late, lost, wrong or damaged item, appointment, flight disruption",
    "product_issue": "the product or service failing in use: defect, bug, crash, error, outage, slowness, lost progress, how-to help",
    "billing": "money after the sale: charges, double charge, invoice, fees, refunds, renewals, payment methods, disputes",
    "cancellation": "leaving: cancelling an order, subscription or account, switching provider, retention offers, downgrades",
    "feedback": "telling the company what they think: compliments, praise, venting, reviews, suggestions, survey replies",
}
SENTIMENT_DESCRIPTIONS = {
    "magical": "the customer is delighted: expectations exceeded, a surprisingly fast or generous fix, warm praise",
    "average": "handled as expected: a routine answer or next step, neutral, polite thanks, nothing memorable",
    "miserable": "the customer is let down: frustrated or angry, unresolved, bounced around, threatening to leave",
}


def text_of(record: dict) -> str:
    return "\n".join(f"{t['speaker']}: {t['text']}" for t in record["turns"])


def scores(gold: list[str], predicted: list[str], labels: list[str]) -> dict[str, float]:
    return {"macro_f1": round(macro_f1(gold, predicted, labels), 4), "accuracy": round(float(accuracy_score(gold, predicted)), 4)}


def paired_bootstrap(gold: list[str], ours: list[str], theirs: list[str], labels: list[str],
                     resamples: int = 2000, seed: int = 0) -> dict[str, float | list[float]]:
    """95% interval of macro-F1(ours) - macro-F1(theirs) over resampled test sets, and how often ours is ahead."""
    gold_array, ours_array, theirs_array = np.array(gold), np.array(ours), np.array(theirs)
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(resamples):
        rows = rng.integers(0, len(gold), len(gold))
        differences.append(macro_f1(gold_array[rows], ours_array[rows], labels)
                           - macro_f1(gold_array[rows], theirs_array[rows], labels))
    differences = np.array(differences)
    return {"macro_f1_difference": round(macro_f1(gold, ours, labels) - macro_f1(gold, theirs, labels), 4),
            "ci95": [round(float(q), 4) for q in np.percentile(differences, [2.5, 97.5])],
            "share_of_resamples_model_ahead": round(float((differences > 0).mean()), 4)}


def tfidf_predictions(train: list[dict], tests: list[list[dict]], head: str) -> list[list[str]]:
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform([text_of(r) for r in train])
    model = LogisticRegression(max_iter=2000, C=10.0, class_weight="balanced").fit(features, [r[head] for r in train])
    return [list(model.predict(vectorizer.transform([text_of(r) for r in test]))) for test in tests]


def model_predictions(classifier, records: list[dict]) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    """Top labels per head, and their probabilities."""
    probabilities = classifier.predict_proba(records)
    return ({"moment": [classifier.moments[i] for i in probabilities.moment.argmax(axis=1)],
             "sentiment": [classifier.sentiments[i] for i in probabilities.sentiment.argmax(axis=1)]},
            {"moment": probabilities.moment.max(axis=1), "sentiment": probabilities.sentiment.max(axis=1)})


def as_asr(records: list[dict], seed: int = 5) -> list[dict]:
    """The records rewritten as phone-call ASR text (labels unchanged)."""
    import random

    from augment import asr

    rng = random.Random(seed)
    return [{**r, "turns": [{**t, "text": asr(t["text"], rng)} for t in r["turns"]]} for r in records]


def vader_predictions(dev: list[dict], tests: list[list[dict]], labels: list[str]) -> tuple[list[list[str]], list[float]]:
    """VADER's labels for each test set, with (low, high) compound thresholds chosen on ``dev``."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()

    def compound(record: dict) -> float:
        customer = [t["text"] for t in record["turns"] if t["speaker"] == "customer"] or [t["text"] for t in record["turns"]]
        return analyzer.polarity_scores(" ".join(customer))["compound"]

    def classify(values: np.ndarray, low: float, high: float) -> list[str]:
        return ["magical" if v > high else "miserable" if v < low else "average" for v in values]

    dev_values = np.array([compound(r) for r in dev])
    grid = np.linspace(-0.9, 0.9, 37)
    low, high = max(((lo, hi) for lo in grid for hi in grid if lo < hi),
                    key=lambda t: macro_f1([r["sentiment"] for r in dev], classify(dev_values, *t), labels))
    return ([classify(np.array([compound(r) for r in test]), low, high) for test in tests],
            [round(float(low), 2), round(float(high), 2)])


def zero_shot_predictions(tests: list[list[dict]]) -> list[dict[str, list[str]]]:
    from sentence_transformers import SentenceTransformer

    from motclassify.folder import packaged_base_path

    encoder = SentenceTransformer(str(packaged_base_path()), device="cpu")
    encoder.max_seq_length = 256
    label_vectors = {head: encoder.encode(list(descriptions.values()), normalize_embeddings=True)
                     for head, descriptions in (("moment", MOMENT_DESCRIPTIONS), ("sentiment", SENTIMENT_DESCRIPTIONS))}
    result = []
    for test in tests:
        texts = encoder.encode([text_of(r) for r in test], normalize_embeddings=True, batch_size=32)
        result.append({head: [list(labels)[i] for i in (texts @ label_vectors[head].T).argmax(axis=1)]
                       for head, labels in (("moment", MOMENT_DESCRIPTIONS), ("sentiment", SENTIMENT_DESCRIPTIONS))})
    return result


def shares(labels: list[str], values: list[str]) -> dict[str, float]:
    return {label: round(values.count(label) / len(values), 4) for label in labels}


def confident_errors(records: list[dict], predicted: dict[str, list[str]], confidence: dict[str, np.ndarray],
                     count: int = 20) -> list[dict]:
    """The model's ``count`` most confident wrong labels (either head), with the thread's opening and ending."""
    errors = [(float(confidence[head][i]), i, head) for head in ("moment", "sentiment")
              for i, r in enumerate(records) if predicted[head][i] != r[head]]
    rows = []
    for score, i, head in sorted(errors, reverse=True)[:count]:
        turns = records[i]["turns"]
        rows.append({"id": records[i]["id"], "company": records[i].get("company"), "head": head,
                     "labelled": records[i][head], "predicted": predicted[head][i], "confidence": round(score, 3),
                     "first_turn": turns[0]["text"][:200], "last_turn": turns[-1]["text"][:200]})
    return rows


def main() -> None:
    import motclassify

    train = training_records(real_splits=("train", "dev"))
    selection_train = training_records()
    sets = {"real dev": real("dev"), "real test": real("test"), "authored test": authored("test")}
    sets["authored test as ASR text"] = as_asr(sets["authored test"])
    names = list(sets)
    labels = {"moment": list(MOMENT_DESCRIPTIONS), "sentiment": list(SENTIMENT_DESCRIPTIONS)}
    classifier = motclassify.MomentClassifier.load()
    ours = {name: model_predictions(classifier, records) for name, records in sets.items() if name != "real dev"}
    ours["real dev"] = model_predictions(motclassify.MomentClassifier.load(SELECTION_MODEL), sets["real dev"])
    zero_shot = dict(zip(names, zero_shot_predictions(list(sets.values()))))
    vader_real, real_thresholds = vader_predictions(real("dev"), [sets["real dev"], sets["real test"]], labels["sentiment"])
    vader_authored, authored_thresholds = vader_predictions(authored("dev"), [sets["authored test"], sets["authored test as ASR text"]],
                                                            labels["sentiment"])
    vader = dict(zip(names, vader_real + vader_authored))
    held_out = [name for name in names if name != "real dev"]  # sets the shipped model never trained on
    tfidf = {head: dict(zip(held_out, tfidf_predictions(train, [sets[name] for name in held_out], head)))
             for head in labels}
    for head in labels:
        tfidf[head]["real dev"] = tfidf_predictions(selection_train, [sets["real dev"]], head)[0]
    results: dict = {"training_records": len(train), "selection_training_records": len(selection_train), "sets": {},
                     "vader_thresholds": {"real": real_thresholds, "authored": authored_thresholds}}
    for name, records in sets.items():
        entry: dict = {"records": len(records)}
        for head in labels:
            gold = [r[head] for r in records]
            majority = max(labels[head], key=[r[head] for r in train].count)
            systems = {"motclassify default": ours[name][0][head], "tfidf + logistic regression": tfidf[head][name]}
            if head == "sentiment":
                systems["VADER (thresholds tuned on dev)"] = vader[name]
            systems["zero-shot MiniLM similarity"] = zero_shot[name][head]
            systems["majority class"] = [majority] * len(records)
            entry[head] = {system: scores(gold, predicted, labels[head]) for system, predicted in systems.items()}
            entry[f"{head}_model_minus_tfidf"] = paired_bootstrap(gold, ours[name][0][head], tfidf[head][name], labels[head])
        entry["sentiment_shares"] = {"labelled": shares(labels["sentiment"], [r["sentiment"] for r in records]),
                                     "motclassify default": shares(labels["sentiment"], ours[name][0]["sentiment"]),
                                     "tfidf + logistic regression": shares(labels["sentiment"], tfidf["sentiment"][name])}
        results["sets"][name] = entry
    results["most_confident_errors_real_dev"] = confident_errors(sets["real dev"], *ours["real dev"])
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                          "device": "cpu"}
    results["command"] = "python benchmarks/baselines.py"
    out = Path(__file__).parent / "results" / "baselines.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    for head in labels:
        print(f"\n{head} macro-F1" + "".join(f" | {name} (n={len(sets[name])})" for name in names))
        for system in results["sets"]["real dev"][head]:
            print(f"  {system:<34}" + "".join(f" | {results['sets'][name][head][system]['macro_f1']:.3f}"
                                               if system in results["sets"][name][head] else " | -" for name in names))
        for name in names:
            gap = results["sets"][name][f"{head}_model_minus_tfidf"]
            print(f"  model - TF-IDF on {name}: {gap['macro_f1_difference']:+.3f}, 95% CI {gap['ci95']}")
    for name in names:
        print(f"\nsentiment shares on {name}: " + "; ".join(
            f"{who} " + ", ".join(f"{label} {share:.0%}" for label, share in values.items())
            for who, values in results["sets"][name]["sentiment_shares"].items()))


if __name__ == "__main__":
    sys.exit(main())
