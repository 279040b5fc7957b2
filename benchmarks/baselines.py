"""Baselines against the default model, on the same fixed test split (CPU).

    python benchmarks/baselines.py      # writes benchmarks/results/baselines.json and prints a table

- TF-IDF + logistic regression: word 1-2-grams, one classifier per head, trained on the same training split.
- VADER (sentiment only): compound score of the customer's turns, mapped to 3 classes with thresholds
  chosen on the dev split (magical above the upper one, miserable below the lower one).
- Zero-shot MiniLM: cosine similarity between the base encoder's mean-pooled embedding of the transcript
  and of each label's description from the taxonomy; no training.
- motclassify default model: its calibrated probabilities' top label, in the same run.

For each head, a paired bootstrap over the test transcripts (2,000 resamples, seed 0) gives the 95% interval
of the model's macro-F1 minus the TF-IDF baseline's, and the share of resamples where the model is ahead.

A second table scores the model and the TF-IDF baseline on the same test split rewritten as phone-call ASR
text (lowercase, no punctuation, fillers, digits as words; `training/augment.py`'s `asr`, seed 5): the same
conversations with the surface cues a keyword model leans on taken away.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

ROOT = Path(__file__).parent.parent
SPLITS = ROOT / "training" / "data" / "splits"
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


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (SPLITS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def text_of(record: dict) -> str:
    return "\n".join(f"{t['speaker']}: {t['text']}" for t in record["turns"])


def macro_f1(gold, predicted, labels: list[str]) -> float:
    return float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0))


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


def model_predictions(classifier, records: list[dict]) -> dict[str, list[str]]:
    probabilities = classifier.predict_proba(records)
    return {"moment": [classifier.moments[i] for i in probabilities.moment.argmax(axis=1)],
            "sentiment": [classifier.sentiments[i] for i in probabilities.sentiment.argmax(axis=1)]}


def as_asr(records: list[dict], seed: int = 5) -> list[dict]:
    """The records rewritten as phone-call ASR text (labels unchanged)."""
    import random

    sys.path.insert(0, str(ROOT / "training"))
    from augment import asr

    rng = random.Random(seed)
    return [{**r, "turns": [{**t, "text": asr(t["text"], rng)} for t in r["turns"]]} for r in records]


def vader_baseline(dev: list[dict], test: list[dict], labels: list[str]) -> dict[str, float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()

    def compound(record: dict) -> float:
        customer = [t["text"] for t in record["turns"] if t["speaker"] == "customer"] or [t["text"] for t in record["turns"]]
        return analyzer.polarity_scores(" ".join(customer))["compound"]

    def classify(values: np.ndarray, low: float, high: float) -> list[str]:
        return ["magical" if v > high else "miserable" if v < low else "average" for v in values]

    dev_values, test_values = np.array([compound(r) for r in dev]), np.array([compound(r) for r in test])
    grid = np.linspace(-0.9, 0.9, 37)
    low, high = max(((lo, hi) for lo in grid for hi in grid if lo < hi),
                    key=lambda t: f1_score([r["sentiment"] for r in dev], classify(dev_values, *t), labels=labels,
                                           average="macro", zero_division=0))
    result = scores([r["sentiment"] for r in test], classify(test_values, low, high), labels)
    return {**result, "thresholds": [round(float(low), 2), round(float(high), 2)]}


def zero_shot_baseline(test: list[dict]) -> dict[str, dict[str, float]]:
    from sentence_transformers import SentenceTransformer

    from motclassify.model import packaged_base_path

    encoder = SentenceTransformer(str(packaged_base_path()), device="cpu")
    encoder.max_seq_length = 256
    texts = encoder.encode([text_of(r) for r in test], normalize_embeddings=True, batch_size=32)
    result = {}
    for head, descriptions in (("moment", MOMENT_DESCRIPTIONS), ("sentiment", SENTIMENT_DESCRIPTIONS)):
        labels = list(descriptions)
        label_vectors = encoder.encode([descriptions[label] for label in labels], normalize_embeddings=True)
        predicted = [labels[i] for i in (texts @ label_vectors.T).argmax(axis=1)]
        result[head] = scores([r[head] for r in test], predicted, labels)
    return result


def main() -> None:
    import motclassify

    train, dev, test = load("train"), load("dev"), load("test")
    test_asr = as_asr(test)
    labels = {"moment": list(MOMENT_DESCRIPTIONS), "sentiment": list(SENTIMENT_DESCRIPTIONS)}
    zero_shot = zero_shot_baseline(test)
    classifier = motclassify.MomentClassifier.load()
    ours, ours_asr = model_predictions(classifier, test), model_predictions(classifier, test_asr)
    results: dict = {"split": {"train": len(train), "dev": len(dev), "test": len(test)}, "test_as_asr_text": {},
                     "model_minus_tfidf": {}}
    for head in ("moment", "sentiment"):
        gold = [r[head] for r in test]
        tfidf, tfidf_asr = tfidf_predictions(train, [test, test_asr], head)
        majority = max(labels[head], key=[r[head] for r in train].count)
        results[head] = {"motclassify default": scores(gold, ours[head], labels[head]),
                         "tfidf + logistic regression": scores(gold, tfidf, labels[head])}
        if head == "sentiment":
            results[head]["VADER (thresholds tuned on dev)"] = vader_baseline(dev, test, labels[head])
        results[head]["zero-shot MiniLM similarity"] = zero_shot[head]
        results[head]["majority class"] = scores(gold, [majority] * len(test), labels[head])
        results["test_as_asr_text"][head] = {"motclassify default": scores(gold, ours_asr[head], labels[head]),
                                             "tfidf + logistic regression": scores(gold, tfidf_asr, labels[head])}
        results["model_minus_tfidf"][head] = paired_bootstrap(gold, ours[head], tfidf, labels[head])
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                          "device": "cpu"}
    results["command"] = "python benchmarks/baselines.py"
    out = Path(__file__).parent / "results" / "baselines.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    for title, table in (("test split", results), ("test split as ASR text", results["test_as_asr_text"])):
        for head in ("moment", "sentiment"):
            print(f"\n{head} ({title}, n={len(test)})")
            for name, values in table[head].items():
                print(f"  {name:<34} macro-F1 {values['macro_f1']:.3f}  accuracy {values['accuracy']:.3f}")
    for head, gap in results["model_minus_tfidf"].items():
        print(f"\n{head}: model - TF-IDF macro-F1 {gap['macro_f1_difference']:+.3f}, 95% CI {gap['ci95']}, "
              f"model ahead in {gap['share_of_resamples_model_ahead']:.0%} of bootstrap resamples")


if __name__ == "__main__":
    sys.exit(main())
