"""Programmatic augmentation of the training split: surface changes that keep both labels true.

    python training/augment.py     # training/data/splits/train.jsonl -> training/work/train_augmented.jsonl

Each training record gets one variant, chosen by a seeded RNG among the transforms that suit it:
- asr: lowercase, no punctuation, fillers and repeated words, digits spelled out (phone-call ASR text);
- social: @handles, hashtags and emoji on the customer's first message;
- email: greeting, signature, "Sent from my phone", quoted history and a disclaimer around customer turns;
- typos: dropped, doubled and swapped letters, lowercase starts (hurried chat);
- plain: the speaker prefixes removed and the turns run together (an export without roles).
Dev and test are never augmented. Augmented files are rebuilt, not committed.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).parent
SEED = 7
FILLERS = ["um", "uh", "like", "you know", "so", "i mean", "yeah"]
DIGITS = "zero one two three four five six seven eight nine".split()
HANDLES = ["@jess_k", "@mark0ff", "@thebluefox", "@priya.s", "@dan_runs", "@ohmygrace", "@k_tanaka"]
TAGS = ["#customerservice", "#help", "#fail", "#thanks", "#support", "#annoyed", "#weekend"]
EMOJI = ["🙃", "😤", "🙏", "😊", "🤷", "👀", "😩", "👍"]
SIGNATURES = ["\n\nBest,\nSam", "\n\nThanks,\nA. Okafor\nSent from my iPhone", "\n\nRegards,\nLinh Tran\nOps Manager",
              "\n\n--\nSent from my Galaxy", "\n\nCheers, Rob"]
DISCLAIMER = ("\n\nThis email and any attachments are confidential and intended solely for the addressee. "
              "If you have received it in error, please delete it.")


def asr(text: str, rng: random.Random) -> str:
    text = re.sub(r"\d", lambda m: f" {DIGITS[int(m.group())]} ", text.lower())
    words = re.sub(r"[^\w\s']", " ", text).split()
    out = []
    for word in words:
        if rng.random() < 0.08:
            out.append(rng.choice(FILLERS))
        out.append(word)
        if rng.random() < 0.04:
            out.append(word)
    return " ".join(out) or text  # a turn of only emoji or punctuation stays as it was


def typos(text: str, rng: random.Random) -> str:
    if len(text) < 12:  # short turns ("ok", an emoji) would lose their meaning, or vanish
        return text
    chars = list(text)
    for _ in range(max(1, len(chars) // 40)):
        i = rng.randrange(len(chars))
        kind = rng.random()
        if kind < 0.33:
            chars[i] = ""
        elif kind < 0.66:
            chars[i] = chars[i] * 2
        elif i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
    result = "".join(chars)
    return result[:1].lower() + result[1:]


def variant(record: dict, rng: random.Random) -> dict:
    turns = [dict(t) for t in record["turns"]]
    channel = record.get("channel")
    choices = ["typos", "plain"] if len(turns) > 1 else ["typos"]
    choices += {"phone": [], "social": ["email"], "email": ["social"]}.get(channel, ["asr", "social", "email"])
    kind = rng.choice(choices)
    customer = [i for i, t in enumerate(turns) if t["speaker"] == "customer"]
    if kind == "asr":
        turns = [{**t, "text": asr(t["text"], rng)} for t in turns]
    elif kind == "typos":
        turns = [{**t, "text": typos(t["text"], rng)} if t["speaker"] == "customer" else t for t in turns]
    elif kind == "social" and customer:
        first = turns[customer[0]]
        first["text"] = f"{rng.choice(HANDLES)} {first['text']} {rng.choice(TAGS)} {rng.choice(EMOJI)}"
    elif kind == "email" and customer:
        for i in customer:
            quoted = "\n\n> On Mon, 3 Nov, Support <help@brand.example> wrote:\n> Thanks for contacting us." if i > 0 else ""
            turns[i]["text"] = f"Hi,\n\n{turns[i]['text']}{rng.choice(SIGNATURES)}{quoted}" + (DISCLAIMER if rng.random() < 0.3 else "")
    elif kind == "plain":
        turns = [{"speaker": "customer", "text": "\n".join(t["text"] for t in turns)}]
    result = {**record, "id": f"{record['id']}-aug-{kind}", "turns": turns, "augmentation": kind}
    if kind == "plain":
        result.pop("segments", None)
    return result


def main() -> None:
    rng = random.Random(SEED)
    records = [json.loads(line) for line in (ROOT / "data" / "splits" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    out = ROOT / "work" / "train_augmented.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.write(json.dumps(variant(record, rng), ensure_ascii=False) + "\n")
    print(f"{len(records)} records + {len(records)} variants -> {out}")


if __name__ == "__main__":
    main()
