"""Check the hand-written corpus and cut the fixed train/dev/test split.

    python training/prepare.py            # writes training/data/splits/{train,dev,test}.jsonl and stats.json

Every record of training/data/raw/*.jsonl is validated against the taxonomy (labels, turns, segments).
The split is fixed per record: sha256 of "2026:<id>" puts each transcript in train (70%), dev (15%) or
test (15%), so a record never changes split when the corpus grows. Dev is for early stopping and
calibration; test is only ever used for the final figures.
"""

from __future__ import annotations

import collections
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).parent
RAW, SPLITS = ROOT / "data" / "raw", ROOT / "data" / "splits"
MOMENTS = ("discovery", "purchase", "onboarding", "access", "delivery", "product_issue", "billing", "cancellation", "feedback")
SENTIMENTS = ("magical", "average", "miserable")
CHANNELS = ("chat", "email", "phone", "social", "bot_handoff", "sms")
SEED = 2026


def split_of(record_id: str) -> str:
    """The fixed split of a record, from a seeded hash of its id."""
    bucket = int(hashlib.sha256(f"{SEED}:{record_id}".encode()).hexdigest(), 16) % 100
    return "train" if bucket < 70 else "dev" if bucket < 85 else "test"


def problems(record: dict) -> list[str]:
    found = []
    if record.get("moment") not in MOMENTS:
        found.append(f"moment {record.get('moment')!r}")
    if record.get("sentiment") not in SENTIMENTS:
        found.append(f"sentiment {record.get('sentiment')!r}")
    turns = record.get("turns")
    if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) and str(t.get("text", "")).strip() for t in turns):
        found.append("turns")
        return found
    for segment in record.get("segments") or []:
        first, last = segment.get("turns", [None, None])
        if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last < len(turns)):
            found.append(f"segment {segment.get('turns')}")
        if segment.get("moment") not in MOMENTS or segment.get("sentiment") not in SENTIMENTS:
            found.append(f"segment labels {segment.get('moment')}/{segment.get('sentiment')}")
    return found


def load_raw() -> list[dict]:
    records, seen = [], set()
    for path in sorted(RAW.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                print(f"skip {path.name}:{number}: not JSON", file=sys.stderr)
                continue
            issues = problems(record)
            if issues or record.get("id") in seen:
                print(f"skip {path.name}:{number} ({record.get('id')}): {', '.join(issues) or 'duplicate id'}", file=sys.stderr)
                continue
            seen.add(record["id"])
            records.append(record)
    return records


SECTORS = [  # coarse sector of a free-text industry, first keyword match wins
    ("pets", ("pet",)), ("charities", ("charit",)), ("insurance", ("insurance",)),
    ("utilities & energy", ("utilit", "energy")),
    ("telecom & internet", ("telecom", "broadband", "mobile/", "network")),
    ("banking & finance", ("bank", "fintech", "credit card", "crypto", "payout")),
    ("software & SaaS", ("saas", "software", "payroll", "productivity", "cloud storage")),
    ("healthcare", ("health", "hospital", "pharmacy", "patient")),
    ("travel & hospitality", ("airline", "hotel", "travel", "car rental", "ride-hailing", "public transport", "parking")),
    ("media, gaming & entertainment", ("stream", "game", "gaming", "social media", "lottery", "ticket", "newspaper", "dating")),
    ("retail & e-commerce", ("e-commerce", "retail", "fashion", "furniture", "grocery", "marketplace", "electronics", "meal kit", "food delivery")),
    ("logistics", ("parcel", "logistics", "courier", "gig-economy")),
    ("home & automotive", ("smart", "appliance", "automotive", "cars", "car servicing", "cleaning", "real estate", "property")),
    ("education & public sector", ("education", "universit", "course", "government")),
    ("fitness & sport", ("gym", "fitness", "sport")),
]


def sector(industry: str) -> str:
    lowered = industry.lower()
    return next((name for name, keys in SECTORS if any(k in lowered for k in keys)), "other")


def length_bucket(record: dict) -> str:
    n = len(record["turns"])
    return "1" if n == 1 else "2-5" if n <= 5 else "6-14" if n <= 14 else "15-29" if n <= 29 else "30+"


def stats(records: list[dict]) -> dict:
    count = collections.Counter
    return {
        "records": len(records),
        "cells": {f"{m}|{s}": n for (m, s), n in sorted(count((r["moment"], r["sentiment"]) for r in records).items())},
        "moments": dict(count(r["moment"] for r in records).most_common()),
        "sentiments": dict(count(r["sentiment"] for r in records).most_common()),
        "channels": dict(count(r.get("channel", "?") for r in records).most_common()),
        "sectors": dict(count(sector(r.get("industry", "")) for r in records).most_common()),
        "industries": dict(count(r.get("industry", "?") for r in records).most_common()),
        "lengths_in_turns": dict(count(length_bucket(r) for r in records).most_common()),
        "with_segments": sum(bool(r.get("segments")) for r in records),
    }


def datasheet_tables(summary: dict) -> str:
    """Markdown tables of the corpus counts, for training/README.md."""
    stats = summary["all"]
    lines = ["| moment | magical | average | miserable | total |", "|---|---|---|---|---|"]
    for moment in MOMENTS:
        cells = [stats["cells"].get(f"{moment}|{s}", 0) for s in SENTIMENTS]
        lines.append(f"| {moment} | " + " | ".join(map(str, cells)) + f" | {sum(cells)} |")
    totals = [stats["sentiments"].get(s, 0) for s in SENTIMENTS]
    lines += ["| **all** | " + " | ".join(map(str, totals)) + f" | {stats['records']} |", ""]
    for title, key in (("channel", "channels"), ("sector", "sectors"), ("length in turns", "lengths_in_turns")):
        lines += [f"| {title} | transcripts |", "|---|---|"]
        lines += [f"| {name} | {n} |" for name, n in stats[key].items()] + [""]
    lines.append(f"Transcripts with a secondary moment (segment labels): {stats['with_segments']} "
                 f"({stats['with_segments'] / stats['records']:.1%}); {len(stats['industries'])} distinct industries. "
                 f"Split (seed {summary['seed']}): " + ", ".join(f"{k} {v}" for k, v in summary["split_sizes"].items()) + ".")
    return "\n".join(lines)


def write_datasheet(summary: dict) -> None:
    readme = ROOT / "README.md"
    if not readme.exists():
        return
    text = readme.read_text(encoding="utf-8")
    start, end = "<!-- datasheet -->", "<!-- /datasheet -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        readme.write_text(head + start + "\n" + datasheet_tables(summary) + "\n" + end + rest.split(end, 1)[1], encoding="utf-8")


def main() -> None:
    records = load_raw()
    parts: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    for record in records:
        parts[split_of(record["id"])].append(record)
    train, dev, test = parts["train"], parts["dev"], parts["test"]
    SPLITS.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", train), ("dev", dev), ("test", test)):
        with open(SPLITS / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in sorted(part, key=lambda r: r["id"]))
    summary = {"all": stats(records), "split_sizes": {"train": len(train), "dev": len(dev), "test": len(test)}, "seed": SEED}
    (ROOT / "data" / "stats.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_datasheet(summary)
    print(json.dumps(summary["split_sizes"]), f"{len(records)} records")


if __name__ == "__main__":
    main()
