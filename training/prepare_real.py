"""Merge the two independent labellings of the real threads, apply the adjudication, split by company.

    python training/prepare_real.py    # writes training/data/real/real.jsonl and training/data/real/agreement.json

A thread's final labels are the labellers' where they agree and the adjudicator's where they do not.
The split is by company, so the real dev and test splits hold companies that training never saw.
Real-style threads (``training/data/real_style/threads_*.jsonl``) open with training companies' real messages:
they are checked against the taxonomy and must name a training company (any that does not stops the run).
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score

sys.path.insert(0, str(Path(__file__).parent))
from corpus import DATA, read_jsonl, real_style, write_jsonl  # noqa: E402
from prepare import MOMENTS, SENTIMENTS, problems  # noqa: E402

REAL = DATA / "real"
LABELLING = REAL / "labelling"
HEADS = ("moment", "sentiment")
COMPANY_SPLIT = {
    **dict.fromkeys(["MojangSupport", "Google", "TeamYouTube", "AppleSupport", "Ask_WellsFargo", "MicrosoftHelps",
                     "XboxSupport", "Uber_Support", "Ask_Spectrum"], "train"),
    **dict.fromkeys(["zoom_us", "GoDaddyHelp", "SouthwestAir", "YahooCare"], "dev"),
    **dict.fromkeys(["HPSupport", "DropboxSupport", "ChaseSupport"], "test"),
}


def by_id(pattern: str) -> dict[str, dict]:
    return {r["id"]: r for path in sorted(LABELLING.glob(pattern)) for r in read_jsonl(path)}


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    from motclassify.metrics import macro_f1 as score

    return round(score(gold, predicted, sorted(set(gold))), 4)


def merge() -> tuple[list[dict], dict]:
    threads, first, second = by_id("chunk*.jsonl"), by_id("labels_A_*.jsonl"), by_id("labels_B_*.jsonl")
    adjudicated = by_id("adjudicated.jsonl")
    if not set(threads) == set(first) == set(second):
        raise SystemExit("every thread needs both labellers' labels")
    records = []
    for thread_id in sorted(threads):
        a, b = first[thread_id], second[thread_id]
        agreed = all(a[h] == b[h] for h in HEADS)
        if not agreed and thread_id not in adjudicated:
            raise SystemExit(f"{thread_id}: labellers disagree and there is no adjudicated label")
        final = a if agreed else adjudicated[thread_id]
        thread = threads[thread_id]
        records.append({"id": thread_id, "company": thread["company"], "split": COMPANY_SPLIT[thread["company"]],
                        "channel": "social", "moment": final["moment"], "sentiment": final["sentiment"],
                        "turns": thread["turns"]})
    agreement = {"threads": len(records), "disagreements_adjudicated": sum(r["id"] in adjudicated for r in records)}
    final = {r["id"]: r for r in records}
    for head in HEADS:
        ids = sorted(final)
        a, b, gold = ([first[i][head] for i in ids], [second[i][head] for i in ids], [final[i][head] for i in ids])
        agreement[head] = {"raw_agreement": round(float(np.mean(np.array(a) == np.array(b))), 4),
                           "cohen_kappa": round(float(cohen_kappa_score(a, b)), 4),
                           "labeller_A_macro_f1_vs_adjudicated": macro_f1(gold, a),
                           "labeller_B_macro_f1_vs_adjudicated": macro_f1(gold, b)}
    return records, agreement


def checked_real_style() -> list[dict]:
    """The authored real-style threads, checked against the taxonomy: continuations of real openings must name a
    training company, and invented-brand tweets must not use any real company's handle."""
    records = []
    for record in real_style():
        found = problems(record)
        split = COMPANY_SPLIT.get(record.get("company"))
        if record["id"].startswith("rs") and split != "train":
            found.append(f"company {record.get('company')!r} is not a training company")
        if not record["id"].startswith("rs") and split is not None:
            found.append(f"an invented brand may not use the real handle {record.get('company')!r}")
        if found:
            raise SystemExit(f"real-style thread {record.get('id')}: {', '.join(found)}")
        records.append(record)
    return records


def datasheet_tables(agreement: dict) -> str:
    """Markdown tables of the labellers' agreement and the split, for training/README.md."""
    lines = ["| head | raw agreement | Cohen's kappa | labeller A macro-F1 vs adjudicated | labeller B macro-F1 vs adjudicated |",
             "|---|---|---|---|---|"]
    lines += [f"| {head} | {a['raw_agreement']:.3f} | {a['cohen_kappa']:.3f} | {a['labeller_A_macro_f1_vs_adjudicated']:.3f} | "
              f"{a['labeller_B_macro_f1_vs_adjudicated']:.3f} |" for head in HEADS for a in [agreement[head]]]
    lines += ["", f"{agreement['disagreements_adjudicated']} of {agreement['threads']} threads adjudicated.", "",
              "| split | threads | " + " | ".join(MOMENTS) + " | " + " | ".join(SENTIMENTS) + " |",
              "|---|---|" + "---|" * (len(MOMENTS) + len(SENTIMENTS))]
    for split, part in agreement["splits"].items():
        lines.append(f"| {split} | {part['threads']} | " + " | ".join(str(part["moments"].get(m, 0)) for m in MOMENTS)
                     + " | " + " | ".join(str(part["sentiments"].get(s, 0)) for s in SENTIMENTS) + " |")
    for key, title in (("real_style_threads", "Real-style threads"), ("care_tweets", "Invented-brand care tweets")):
        part = agreement[key]
        lines += ["", f"{title}: {part['threads']} (" + ", ".join(f"{k} {v}" for k, v in part["channels"].items()) + "; "
                  + ", ".join(f"{k} {v}" for k, v in part["sentiments"].items()) + "; "
                  + ", ".join(f"{k} {v}" for k, v in part["moments"].items()) + ")."]
    return "\n".join(lines)


def main() -> None:
    records, agreement = merge()
    write_jsonl(records, REAL / "real.jsonl")
    count = collections.Counter
    agreement["splits"] = {
        split: {"threads": len(part), "companies": sorted({r["company"] for r in part}),
                "moments": {m: n for m in MOMENTS if (n := count(r["moment"] for r in part)[m])},
                "sentiments": {s: n for s in SENTIMENTS if (n := count(r["sentiment"] for r in part)[s])}}
        for split in ("train", "dev", "test") for part in [[r for r in records if r["split"] == split]]}
    style = checked_real_style()
    for key, part in (("real_style_threads", [r for r in style if r["id"].startswith("rs")]),
                      ("care_tweets", [r for r in style if not r["id"].startswith("rs")])):
        agreement[key] = {"threads": len(part), "channels": dict(count(r["channel"] for r in part)),
                          "sentiments": dict(count(r["sentiment"] for r in part)),
                          "moments": dict(count(r["moment"] for r in part))}
    (REAL / "agreement.json").write_text(json.dumps(agreement, indent=2) + "\n")
    readme = DATA.parent / "README.md"
    start, end = "<!-- real-datasheet -->", "<!-- /real-datasheet -->"
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.split(start)[0] + start + "\n" + datasheet_tables(agreement) + "\n" + end
                      + text.split(end)[1], encoding="utf-8")
    print(json.dumps({k: v for k, v in agreement.items() if k != "splits"}, indent=1))
    for split, part in agreement["splits"].items():
        print(split, part["threads"], part["sentiments"], part["moments"])


if __name__ == "__main__":
    main()
