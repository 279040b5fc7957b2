import csv
import json
import random
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import motclassify
from motclassify.cli import build_parser
from motclassify.files import read_table

from conftest import CLI, DATA, ROOT

CONVERSATIONS = {
    "c1": [("customer", "I was charged twice for my March invoice"), ("agent", "Refunded both, sorry"), ("customer", "thanks!")],
    "c2": [("customer", "my parcel is lost"), ("agent", "we'll look into it"), ("customer", "it's been 3 weeks"),
           ("agent", "please wait more")],
    "c3": [("customer", "can't log in to the app"), ("agent", "reset link sent")],
    "c4": [("customer", "how do I cancel my plan?")],
    "c5": [("customer", "     ")],
}


def run(*args, check=True):
    result = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


def message_rows():
    rows = [{"conversation_id": cid, "author": speaker, "message": text, "seq": position, "created_at": f"2026-11-0{position + 1}"}
            for cid, turns in CONVERSATIONS.items() for position, (speaker, text) in enumerate(turns)]
    random.Random(3).shuffle(rows)
    return rows


def transcript_rows():
    return [{"ticket": cid, "body": "\n".join(f"{s}: {t}" for s, t in turns), "created_at": f"2026-11-{i + 1:02d}"}
            for i, (cid, turns) in enumerate(CONVERSATIONS.items())]


def write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("output", ["out.jsonl", "out.csv", "out.parquet"])
def test_score_jsonl_into_each_output_format(tiny_trained_dir, tmp_path, output):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": cid, "turns": [{"speaker": s, "text": t} for s, t in turns], "team": "x"}) + "\n"
                              for cid, turns in CONVERSATIONS.items()))
    result = run("score", source, "-o", tmp_path / output, "--model", tiny_trained_dir, "--keep-cols", "team", "--quiet")
    rows = read_table(tmp_path / output)
    assert [r["id"] for r in rows] == ["c1", "c2", "c3", "c4"]
    assert all(r["moment"] in {"money", "parcel", "signin"} and r["team"] == "x" and r["model_version"] == "1" for r in rows)
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert errors == [{"id": "c5", "where": "line 5", "reason": "empty transcript (no turn with text)"}]
    assert "scored 4 transcripts" in result.stdout and "1 errors" in result.stdout


def test_score_csv_one_row_per_transcript(tiny_trained_dir, tmp_path):
    source = write_csv(tmp_path / "tickets.csv", transcript_rows())
    run("score", source, "-o", tmp_path / "s.csv", "--model", tiny_trained_dir, "--text-col", "body", "--id-col", "ticket")
    rows = read_table(tmp_path / "s.csv")
    assert [r["id"] for r in rows] == ["c1", "c2", "c3", "c4"]
    assert {f"p_moment_{m}" for m in ("money", "parcel", "signin")} <= set(rows[0])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_score_message_per_row_with_shuffled_rows(tiny_trained_dir, tmp_path, fmt):
    rows = message_rows()
    source = tmp_path / f"messages.{fmt}"
    write_csv(source, rows) if fmt == "csv" else pq.write_table(pa.Table.from_pylist(rows), source)
    run("score", source, "-o", tmp_path / "s.jsonl", "--model", tiny_trained_dir, "--conversation-col", "conversation_id",
        "--speaker-col", "author", "--text-col", "message", "--order-col", "seq")
    scored = {r["id"]: r for r in read_table(tmp_path / "s.jsonl")}
    assert set(scored) == {"c1", "c2", "c3", "c4"}
    assert scored["c2"]["segments"][-1]["turns"][1] == 3  # all four messages, in order, in one conversation
    errors = (tmp_path / "s.errors.jsonl").read_text()
    assert "c5" in errors and "empty conversation" in errors


def test_grouped_turns_follow_the_order_column(tmp_path):
    from motclassify.files import Layout, read_transcripts

    source = write_csv(tmp_path / "messages.csv", message_rows())
    records = {r.id: r for r in read_transcripts(source, layout=Layout(text_col="message", conversation_col="conversation_id",
                                                                          speaker_col="author", order_col="seq"))}
    assert [t["text"] for t in records["c2"].record["turns"]] == [t for _, t in CONVERSATIONS["c2"]]


def test_malformed_lines_lose_nothing(tiny_trained_dir, tmp_path):
    source = tmp_path / "messy.jsonl"
    source.write_bytes(b'{"id": "a", "text": "Customer: refund please"}\n'
                       b'{"id": "b", "text": \n'
                       b'[1, 2]\n'
                       b'{"id": "d", "text": "caf\xe9 bad bytes"}\n'
                       b'\n'
                       b'{"id": "e"}\n'
                       b'{"text": "Customer: no id here"}\n'
                       b'{"id": "g", "turns": [{"speaker": "customer"}]}\n')
    result = run("score", source, "-o", tmp_path / "out.jsonl", "--model", tiny_trained_dir)
    scored = [r["id"] for r in read_table(tmp_path / "out.jsonl")]
    errors = {e["id"]: e for e in map(json.loads, (tmp_path / "out.errors.jsonl").read_text().splitlines())}
    assert scored == ["a", "line-7"]
    assert set(errors) == {"line-2", "line-3", "line-4", "e", "g"}
    assert "not valid JSON" in errors["line-2"]["reason"] and "not UTF-8" in errors["line-4"]["reason"]
    assert "turn 0 has no text" in errors["g"]["reason"]
    assert "scored 2 transcripts" in result.stdout and "5 errors" in result.stdout


def test_nothing_scorable_exits_non_zero(tiny_trained_dir, tmp_path):
    source = tmp_path / "bad.jsonl"
    source.write_text("nope\n")
    assert run("score", source, "-o", tmp_path / "o.jsonl", "--model", tiny_trained_dir, check=False).returncode == 1


@pytest.mark.parametrize("output", ["out.jsonl", "out.parquet"])
def test_resumed_run_equals_an_uninterrupted_one(tiny_trained_dir, tmp_path, output):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"t{i}", "text": f"Customer: question {i} about my parcel\nAgent: answer {i}"}) + "\n"
                              for i in range(40)) + "broken line\n")
    full, partial = tmp_path / "full" / output, tmp_path / "partial" / output
    run("score", source, "-o", full, "--model", tiny_trained_dir, "--chunk-size", "8")
    run("score", source, "-o", partial, "--model", tiny_trained_dir, "--chunk-size", "8")
    if output.endswith(".jsonl"):  # an interrupted run: 2 whole chunks and half a line written, no errors yet
        lines = partial.read_text().splitlines(keepends=True)
        partial.write_text("".join(lines[:16]) + lines[16][:30])
    else:  # an interrupted Parquet run: two atomically written parts, never joined

        parts = partial.with_name(partial.name + ".parts")
        parts.mkdir()
        table = pq.read_table(partial)
        pq.write_table(table.slice(0, 8), parts / "part-000000.parquet")
        pq.write_table(table.slice(8, 8), parts / "part-000001.parquet")
        partial.unlink()
    (tmp_path / "partial" / "out.errors.jsonl").unlink()
    result = run("score", source, "-o", partial, "--model", tiny_trained_dir, "--chunk-size", "8", "--resume")
    assert "16 already done" in result.stdout
    a, b = read_table(full), read_table(partial)
    assert [r["id"] for r in a] == [r["id"] for r in b] and len(b) == 40
    for x, y in zip(a, b):
        assert (x["moment"], x["sentiment"]) == (y["moment"], y["sentiment"])
        assert x["moment_score"] == pytest.approx(y["moment_score"], abs=1e-4)
    assert len((tmp_path / "partial" / "out.errors.jsonl").read_text().splitlines()) == 1


def test_report_numbers_match_a_hand_count(tmp_path):
    rows = ([{"id": f"b{i}", "moment": "billing", "stage": "second", "sentiment": s, "sentiment_score": 0.9,
              "created_at": f"2026-11-{2 + i % 14:02d}"} for i, s in enumerate(["miserable"] * 6 + ["average"] * 3 + ["magical"])]
            + [{"id": f"d{i}", "moment": "discovery", "stage": "zero", "sentiment": s, "sentiment_score": 0.5 + i / 100,
                "created_at": "2026-11-20T10:00:00Z"} for i, s in enumerate(["miserable"] + ["average"] * 4)])
    scored = tmp_path / "scored.jsonl"
    scored.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run("report", scored, "-o", tmp_path / "report", "--time-col", "created_at")
    for name in ("report.html", "moments.csv", "summary.json", "heatmap.png", "miserable_share.png", "miserable_over_time.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    table = list(csv.DictReader(open(tmp_path / "report" / "moments.csv")))
    assert [t["moment"] for t in table] == ["billing", "discovery"]  # weakest first
    billing = table[0]
    assert int(billing["count"]) == 10 and float(billing["share"]) == pytest.approx(10 / 15, abs=1e-4)
    assert float(billing["miserable_share"]) == 0.6 and float(billing["magical_share"]) == 0.1
    assert float(billing["miserable_ci_low"]) < 0.6 < float(billing["miserable_ci_high"])
    assert billing["stage"] == "second"
    html = (tmp_path / "report" / "report.html").read_text()
    assert "data:image/png;base64," in html and "b0" in html and "http" not in html.replace("http-equiv", "")


def test_evaluate_prints_scores_and_json(tiny_trained_dir):
    text = run("evaluate", "tests/data/tiny_custom.jsonl", "--model", tiny_trained_dir).stdout
    assert "macro-F1" in text and "labels present in the data" in text and "| signin |" in text
    report = json.loads(run("evaluate", "tests/data/tiny_custom.jsonl", "--model", tiny_trained_dir, "--json").stdout)
    assert report["moment"]["support"] == 23 and 0 <= report["sentiment"]["macro_f1"] <= 1


def test_train_prints_the_blend_beside_the_encoder_alone_and_the_tfidf_baseline(tmp_path):
    result = run("train", DATA / "tiny_custom.jsonl", "--output", tmp_path / "m", "--epochs", "1", "--max-length", "64",
                 "--batch-size", "8", "--quiet")
    assert f"model written to {tmp_path / 'm'} (" in result.stdout and "training records, validated on" in result.stdout
    for head in ("moment", "sentiment"):
        line = next(line for line in result.stdout.splitlines() if line.startswith(f"  {head}: validation macro-F1"))
        assert "(encoder alone" in line and "blended with a TF-IDF model at weight 0.7" in line
        assert "TF-IDF + logistic regression on the same records" in line
    assert (tmp_path / "m" / "lexical.safetensors").is_file()


def test_info_reports_versions_labels_and_the_hash_check(tiny_trained_dir):
    text = run("info", "--model", tiny_trained_dir).stdout
    for expected in (f"motclassify {motclassify.__version__}", "torch", "threads", "money, parcel, signin", "happy, unhappy", "OK",
                     "lexical model blended: moment weight 0.7, sentiment weight 0.7"):
        assert expected in text


def test_help_and_info_do_not_load_torch_without_a_gpu(tiny_trained_dir):
    from motclassify.cli import cuda_available

    if cuda_available():
        pytest.skip("an NVIDIA driver is present: info asks torch about the GPU")
    probe = ("import sys\nfrom motclassify.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded')")
    for args in (["info", "--model", str(tiny_trained_dir)], ["--help"], ["score", "--help"]):
        result = subprocess.run([CLI[0], "-c", probe, *args], capture_output=True, text=True, cwd=ROOT)
        assert result.stdout.strip().endswith("torch not loaded"), (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args,message", [
    (["score", "tests/data/tiny_custom.jsonl", "-o", "/tmp/x.jsonl", "--model", "/nonexistent"], "no motclassify model folder"),
    (["score", "{csv}", "-o", "/tmp/x.jsonl", "--model", "{model}"], "has no column 'text'"),
    (["score", "{csv}", "-o", "/tmp/x.jsonl", "--model", "{model}", "--device", "cuda"], "no CUDA GPU"),
    (["score", "/nonexistent.jsonl", "-o", "/tmp/x.jsonl", "--model", "{model}"], "no such file"),
    (["info", "--model", "{newer}"], "upgrade motclassify"),
    (["score", "{empty_jsonl}", "-o", "{tmp}/x.jsonl", "--model", "{model}"], "empty.jsonl holds no records"),
    (["score", "{empty_csv}", "-o", "{tmp}/x.jsonl", "--model", "{model}"], "empty.csv holds no records"),
    (["score", "tests/data/tiny_custom.jsonl", "-o", "{tmp}/x.out", "--model", "{model}"], "pass --output-format"),
    (["score", "tests/data/tiny_custom.jsonl", "-o", "{tmp}", "--model", "{model}"], "is a folder: give the output a file name"),
])
def test_newcomer_errors_are_one_clear_line(tiny_trained_dir, tmp_path, args, message):
    import torch

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    bad_csv = write_csv(tmp_path / "wrong.csv", [{"ticket": "1", "body": "hello"}])
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "motclassify.json").write_text(json.dumps({**json.loads((tiny_trained_dir / "motclassify.json").read_text()), "format_version": 99}))
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "empty.csv").write_text("")
    args = [a.format(csv=bad_csv, model=tiny_trained_dir, newer=newer, tmp=tmp_path, empty_jsonl=tmp_path / "empty.jsonl",
                     empty_csv=tmp_path / "empty.csv") for a in args]
    result = run(*args, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
    debug = run("--debug", *args, check=False)
    assert "Traceback" in debug.stderr and debug.returncode == 2
    assert not (tmp_path / "x.jsonl").exists()


def test_help_is_complete_with_examples():
    parser = build_parser()
    assert "examples:" in parser.format_help()
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        text = sub.format_help()
        assert "example" in text and f"motclassify {name}" in text


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(tiny_trained_dir, tmp_path, fmt):
    source = tmp_path / f"in.{fmt}"
    if fmt == "jsonl":
        source.write_text("".join(json.dumps({"id": f"t{i}", "text": f"Customer: my parcel {i} is late"}) + "\n" for i in range(5)))
    else:
        source.write_text("id,text\n" + "".join(f"t{i},my parcel {i} is late\n" for i in range(5)))
    link = tmp_path / f"link.{fmt}"
    link.symlink_to(source)
    before = source.read_bytes()
    for extra in (["-o", source], ["-o", link], ["-o", tmp_path / "out.jsonl", "--errors", source]):
        result = run("score", source, *extra, "--model", tiny_trained_dir, check=False)
        assert result.returncode == 2 and "is the input file" in result.stderr, result.stderr
        assert source.read_bytes() == before
    assert not (tmp_path / "out.jsonl").exists()


def test_a_report_never_writes_over_the_scored_file(tmp_path):
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    scored = report_dir / "moments.csv"
    scored.write_text("id,moment,sentiment\na,billing,miserable\nb,access,average\n")
    before = scored.read_bytes()
    for output in (report_dir, scored):
        result = run("report", scored, "-o", output, check=False)
        assert result.returncode == 2 and "is the input file" in result.stderr, result.stderr
        assert scored.read_bytes() == before


def test_repeated_ids_are_counted_and_resume_exactly(tiny_trained_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    ids = [f"t{i % 7}" for i in range(24)]  # every id repeats, in and across chunks
    source.write_text("".join(json.dumps({"id": rid, "text": f"Customer: question {n} about my invoice"}) + "\n"
                              for n, rid in enumerate(ids)))
    full, partial = tmp_path / "full.jsonl", tmp_path / "partial.jsonl"
    result = run("score", source, "-o", full, "--model", tiny_trained_dir, "--chunk-size", "5")
    assert "17 records repeat an earlier record's id" in result.stdout
    run("score", source, "-o", partial, "--model", tiny_trained_dir, "--chunk-size", "5")
    partial.write_text("".join(partial.read_text().splitlines(keepends=True)[:10]))  # interrupted after 2 chunks
    result = run("score", source, "-o", partial, "--model", tiny_trained_dir, "--chunk-size", "5", "--resume")
    assert "10 already done" in result.stdout
    a, b = read_table(full), read_table(partial)
    assert len(b) == 24 and [r["id"] for r in a] == [r["id"] for r in b]
    assert [r["moment_score"] for r in a] == pytest.approx([r["moment_score"] for r in b], abs=1e-4)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_table_with_a_turns_column_is_scored_like_training_reads_it(tiny_trained_dir, tmp_path, fmt):
    records = [{"id": cid, "turns": [{"speaker": s, "text": t} for s, t in turns]}
               for cid, turns in CONVERSATIONS.items() if cid != "c5"]
    source = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        write_csv(source, [{"id": r["id"], "turns": json.dumps(r["turns"])} for r in records])
    else:
        pq.write_table(pa.Table.from_pylist(records), source)
    run("score", source, "-o", tmp_path / "out.jsonl", "--model", tiny_trained_dir)
    (tmp_path / "ref.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    run("score", tmp_path / "ref.jsonl", "-o", tmp_path / "ref_out.jsonl", "--model", tiny_trained_dir)
    scored, reference = read_table(tmp_path / "out.jsonl"), read_table(tmp_path / "ref_out.jsonl")
    assert [r["id"] for r in scored] == ["c1", "c2", "c3", "c4"]
    assert [r["moment_scores"] for r in scored] == [r["moment_scores"] for r in reference]
    labelled = [{**r, "moment": "money", "sentiment": "happy"} for r in records]
    if fmt == "parquet":  # training and evaluation read the same file shapes
        pq.write_table(pa.Table.from_pylist(labelled), tmp_path / "labelled.parquet")
        report = json.loads(run("evaluate", tmp_path / "labelled.parquet", "--model", tiny_trained_dir, "--json").stdout)
        assert report["records"] == 4


def test_message_rows_scored_as_transcripts_get_a_hint_to_group_them(tiny_trained_dir, tmp_path):
    source = write_csv(tmp_path / "messages.csv", message_rows())
    result = run("score", source, "-o", tmp_path / "out.jsonl", "--text-col", "message", "--model", tiny_trained_dir)
    assert "--conversation-col conversation_id" in result.stderr
    grouped = run("score", source, "-o", tmp_path / "grouped.jsonl", "--text-col", "message", "--conversation-col",
                  "conversation_id", "--speaker-col", "author", "--model", tiny_trained_dir)
    assert "warning" not in grouped.stderr


def test_heatmap_colour_reads_as_good_or_bad():
    from motclassify.report import MomentRow, heatmap_colours

    sentiments = ["magical", "average", "miserable"]
    rows = [MomentRow("billing", None, 10, 0.5, {"magical": 0.0, "average": 1.0, "miserable": 0.0}, {}),
            MomentRow("access", None, 10, 0.5, {"magical": 0.5, "average": 0.0, "miserable": 0.5}, {})]
    all_average, mixed = heatmap_colours(rows, sentiments)
    assert all_average == [0.5, 0.5, 0.5]  # 100% average and 0% magical are neutral, not alarming
    assert mixed[0] > 0.5 > mixed[2]  # magical towards green, miserable towards red


def test_the_time_chart_uses_months_when_weeks_are_thin_and_hides_thin_points():
    from motclassify.report import choose_period

    rows = [{"id": f"r{i}", "moment": "billing", "sentiment": "miserable" if i % 3 == 0 else "average",
             "created_at": f"2026-{1 + i % 6:02d}-{1 + i % 27:02d}"} for i in range(120)]
    period, shares = choose_period(rows, "created_at", "miserable")
    assert period == "month" and len(shares["billing"]) == 6 and all(n == 20 for _, n in shares["billing"].values())
    busy = [{**row, "created_at": f"2026-03-{2 + i % 7:02d}"} for i, row in enumerate(rows)]
    assert choose_period(busy, "created_at", "miserable")[0] == "week"
