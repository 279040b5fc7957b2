"""Convert hand-written transcripts in the compact authoring format to corpus JSONL.

Format: a header line `## moment|sentiment|channel|industry[|segments]` followed by turns `C:`/`A:`/`B:`/`S:`
(customer, agent, bot, system); lines without a prefix continue the previous turn. `segments` is
`first-last:moment:sentiment;...`. Usage: python training/tools/dsl_to_jsonl.py IN.txt OUT.jsonl PREFIX
"""

import json
import sys

ROLES = {"C": "customer", "A": "agent", "B": "bot", "S": "system"}


def parse(text: str, prefix: str):
    records, current = [], None
    for line in text.splitlines():
        if line.startswith("## "):
            fields = line[3:].strip().split("|")
            moment, sentiment, channel, industry = fields[:4]
            current = {"id": f"{prefix}-{len(records) + 1:04d}", "industry": industry, "channel": channel,
                       "moment": moment, "sentiment": sentiment, "turns": []}
            if len(fields) > 4 and fields[4]:
                current["segments"] = [{"turns": [int(a), int(b)], "moment": m, "sentiment": s}
                                       for span, m, s in (x.split(":") for x in fields[4].split(";"))
                                       for a, b in [span.split("-")]]
            records.append(current)
        elif current is not None and len(line) > 2 and line[1] == ":" and line[0] in ROLES:
            current["turns"].append({"speaker": ROLES[line[0]], "text": line[2:].strip()})
        elif current is not None and current["turns"] and line.strip():
            current["turns"][-1]["text"] += "\n" + line.rstrip()
    return records


if __name__ == "__main__":
    source, target, prefix = sys.argv[1:4]
    rows = parse(open(source, encoding="utf-8").read(), prefix)
    with open(target, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print(f"{len(rows)} records -> {target}")
