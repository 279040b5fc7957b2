"""How much the lexical model weighs in a new head's blend: the choice made on the few-shot dev split (CPU).

    python benchmarks/lexical_weight.py            # -> benchmarks/results/lexical_weight.json

Per company and N per moment (seed 0, ``--split dev`` data of ``fewshot.py``: the test sets stay unseen), the
encoder is fine-tuned alone (``lexical_weight=0``, every other setting the default), the lexical model is fitted on
the same N records as training fits it, and the blend is scored on the dev set at each weight (macro-F1 over the
labels present). ``motclassify.arguments.LEXICAL_WEIGHT`` is the weight used when validation is too small to choose.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
from fewshot import HEADS, load_company, sample

HERE = Path(__file__).parent
WEIGHTS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def point(company: str, per_class: int, seed: int) -> dict:
    import motclassify
    from motclassify.data import load_examples
    from motclassify.lexical import blend
    from motclassify.metrics import macro_f1
    from motclassify.training import lexical_model

    pool, dev = load_company(company, "dev")
    train = sample(pool, per_class, seed)
    with tempfile.TemporaryDirectory() as folder:
        classifier = motclassify.train(train, output_dir=folder, seed=seed, progress=False, lexical_weight=0)
    examples = load_examples(dev)
    probabilities = classifier.predict_proba([e.transcript for e in examples])
    labels = {"moment": classifier.moments, "sentiment": classifier.sentiments}
    lexical = lexical_model(load_examples(train), labels).log_probabilities([e.transcript.to_text() for e in examples])
    result = {"company": company, "per_class": per_class, "seed": seed}
    for head, encoder in zip(HEADS, probabilities):
        gold = [getattr(e, head) for e in examples]
        scores = {head: np.log(np.clip(encoder, 1e-12, None))}
        result[head] = {str(w): round(macro_f1(gold, [labels[head][i] for i in blend(scores, lexical, {head: w})[head]
                                                       .argmax(1)], labels[head]), 4) for w in WEIGHTS}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", nargs="+", default=["airline", "bank", "software"])
    parser.add_argument("--per-class", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--out", default=str(HERE / "results" / "lexical_weight.json"))
    args = parser.parse_args()
    points = []
    for per_class in args.per_class:
        for company in args.companies:
            points.append(point(company, per_class, 0))
            print(json.dumps(points[-1]), flush=True)
            mean = {head: {str(w): round(float(np.mean([p[head][str(w)] for p in points])), 4) for w in WEIGHTS}
                    for head in HEADS}
            Path(args.out).write_text(json.dumps({"command": "python " + " ".join(sys.argv), "split": "dev",
                                                  "device": "cpu", "machine": {"cpu": platform.processor() or platform.machine(),
                                                                              "python": platform.python_version()},
                                                  "mean": mean, "points": points}, indent=2) + "\n")
    print(json.dumps(mean, indent=2))


if __name__ == "__main__":
    main()
