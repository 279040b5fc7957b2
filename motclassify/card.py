"""Markdown for people: per-class tables and the card of a trained model folder."""

from __future__ import annotations

from typing import Any

from .config import HEADS


def per_class_table(report: dict[str, Any]) -> list[str]:
    """A :func:`~motclassify.metrics.head_report` as a markdown table, one row per label."""
    lines = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1-score']:.3f} | {int(s['support'])} |"
              for label, s in report["per_class"].items()]
    return lines


def _provenance(metrics: dict[str, Any]) -> str:
    if "ingredients" in metrics:
        return (f"- the average of {len(metrics['ingredients'])} fine-tuned models (a model soup: "
                f"{', '.join(metrics['ingredients'])}), calibrated on {metrics['validation_examples']} records"
                + ("; the ingredients were then retrained with those records added and averaged again, keeping that "
                   "calibration" if metrics.get("refit") else ""))
    return (f"- trained on {metrics['train_examples']} transcripts, validated on {metrics['validation_examples']}"
            + (f"; the saved model was then refit on all {metrics['train_examples'] + metrics['validation_examples']}"
               if metrics.get("refit") else ""))


def model_folder_card(config, metrics: dict[str, Any]) -> str:
    """The ``README.md`` of a trained model folder: labels, data sizes, validation scores beside the baseline."""
    lines = [f"# {config.name} (version {config.version})", "",
             "A motclassify moment-of-truth classifier: all-MiniLM-L6-v2 with LoRA adapters and two heads.", "",
             f"- moments: {', '.join(config.labels.moments)}", f"- sentiments: {', '.join(config.labels.sentiments)}",
             _provenance(metrics),
             f"- max length {config.max_length} tokens a window; longer transcripts are read in overlapping windows", "",
             "## Validation scores", ""]
    baseline = metrics.get("baseline", {})
    for head in HEADS:
        report = metrics[head]
        lines += [f"### {head}: macro-F1 {report['macro_f1']:.3f}, accuracy {report['accuracy']:.3f}, "
                  f"ECE {report['ece_before_calibration']:.3f} before / {report['ece']:.3f} after calibration "
                  f"(temperature {report['temperature']})", ""]
        if "encoder_alone" in report:
            lines += [f"Blended with a TF-IDF + logistic regression model of the training records at weight "
                      f"{report['lexical_weight']} (`lexical.safetensors`); the encoder alone: macro-F1 "
                      f"{report['encoder_alone']['macro_f1']:.3f}, accuracy {report['encoder_alone']['accuracy']:.3f}.", ""]
        if head in baseline:
            lines += [f"TF-IDF + logistic regression fitted on the same training records: macro-F1 "
                      f"{baseline[head]['macro_f1']:.3f}, accuracy {baseline[head]['accuracy']:.3f}.", ""]
        lines += per_class_table(report) + ["", f"![confusion matrix](confusion_{head}.png)", ""]
    lines += ["Load it with `MomentClassifier.load(\"<this folder>\")`."]
    return "\n".join(lines) + "\n"
