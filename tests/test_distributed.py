"""Scoring on a real local Ray cluster gives the local engine's results, record for record, and loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from motclassify.files import read_table

from conftest import CLI

pytestmark = pytest.mark.slow
PROBLEMS = {"broken": "{not json", "empty": json.dumps({"id": "empty", "text": ""})}


def export_lines(count: int) -> list[str]:
    """``count`` transcripts of mixed shapes and lengths, then a broken line and an empty transcript."""
    lines = []
    for i in range(count):
        turns = [{"speaker": "customer", "text": f"Order {i} still has not arrived and nobody answers my emails. " * (1 + i % 7)},
                 {"speaker": "agent", "text": "Sorry about that, I have sent a replacement."}]
        record = {"id": f"t{i}", "team": f"team-{i % 3}"}
        record.update({"turns": turns} if i % 2 else {"text": "\n".join(f"{t['speaker']}: {t['text']}" for t in turns)})
        lines.append(json.dumps(record))
    return lines + list(PROBLEMS.values())


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def by_id(rows):
    return {row["id"]: row for row in rows}


@pytest.mark.parametrize("output", ["out.jsonl", "out.parquet"])
def test_ray_engine_matches_the_local_engine_record_for_record(tiny_trained_dir, tmp_path, ray_cluster, output):
    source = tmp_path / "export.jsonl"
    source.write_text("\n".join(export_lines(300)) + "\n")
    common = ["--model", str(tiny_trained_dir), "--keep-cols", "team", "--quiet"]
    subprocess.run(CLI + ["score", str(source), "-o", str(tmp_path / "local" / output)] + common, check=True)
    from motclassify.cli import main

    assert main(["score", str(source), "-o", str(tmp_path / "ray" / output), "--engine", "ray", "--workers", "2"] + common) == 0

    local = by_id(read_table(tmp_path / "local" / output))
    fmt = "jsonl" if output.endswith("jsonl") else "parquet"
    remote = by_id(row for path in sorted((tmp_path / "ray" / output).iterdir()) for row in read_table(path, fmt))
    assert remote.keys() == local.keys() and len(local) == 300
    for key, row in local.items():
        assert set(remote[key]) == set(row)
        assert (remote[key]["moment"], remote[key]["sentiment"], remote[key]["team"]) == (row["moment"], row["sentiment"], row["team"])
        assert remote[key]["moment_score"] == pytest.approx(row["moment_score"], abs=1e-4)
        assert remote[key]["sentiment_score"] == pytest.approx(row["sentiment_score"], abs=1e-4)

    local_errors = read_table(tmp_path / "local" / "out.errors.jsonl")
    ray_errors = [e for path in (tmp_path / "ray" / "out.errors").iterdir() for e in read_table(path, "jsonl")]
    assert sorted(e["reason"] for e in ray_errors) == sorted(e["reason"] for e in local_errors) and len(ray_errors) == 2
    assert "empty" in {e["id"] for e in ray_errors}
    assert all(e["where"].endswith("export.jsonl") for e in ray_errors)


def test_a_folder_of_parquet_files_in_a_flat_table_out(tiny_trained_dir, tmp_path, ray_cluster):
    from motclassify.distributed import score_dataset, split_errors

    folder = tmp_path / "export"
    folder.mkdir()
    rows = [{"id": f"p{i}", "text": f"customer: I was charged twice for invoice {i}, please refund one"} for i in range(40)]
    rows.append({"id": "blank", "text": "   "})
    for part in range(2):
        pq.write_table(pa.Table.from_pylist(rows[part::2]), folder / f"part-{part}.parquet")
    predictions, errors = split_errors(score_dataset(ray.data.read_parquet(str(folder)), tiny_trained_dir,
                                                     output_format="csv", concurrency=2))
    scored = predictions.take_all()
    assert sorted(r["id"] for r in scored) == sorted(r["id"] for r in rows[:40])
    assert errors.take_all() == [{"id": "blank", "where": "", "reason": "missing text (no turns and an empty text field)"}]
    assert isinstance(scored[0]["segments"], str) and any(k.startswith("p_moment_") for k in scored[0])


def test_csv_in_csv_out_keeps_text_ids_as_text(tiny_trained_dir, tmp_path, ray_cluster):
    import csv

    from motclassify.cli import main

    source = tmp_path / "tickets.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ticket", "body", "created_at"])
        writer.writerows([[f"00{i}", f"Customer: my invoice {i} is wrong\nAgent: fixed", f"2026-0{1 + i % 9}-01"]
                          for i in range(30)] + [["0099", "", "2026-01-01"]])
    args = ["score", str(source), "-o", str(tmp_path / "scored.csv"), "--id-col", "ticket", "--text-col", "body",
            "--keep-cols", "created_at", "--model", str(tiny_trained_dir), "--engine", "ray"]
    assert main(args) == 0
    rows = [row for path in (tmp_path / "scored.csv").iterdir() for row in read_table(path, "csv")]
    assert sorted(r["id"] for r in rows) == sorted(f"00{i}" for i in range(30))  # "001" stays "001"
    assert {r["created_at"] for r in rows} >= {"2026-01-01"}
    errors = [e for path in (tmp_path / "scored.errors").iterdir() for e in read_table(path, "jsonl")]
    assert [(e["id"], e["reason"]) for e in errors] == [("0099", "missing text (no turns and an empty text field)")]
    assert main(args) == 2  # the output folder is there now: refused, not overwritten


def test_message_rows_are_refused_with_the_way_out(tiny_trained_dir, ray_cluster):
    from motclassify.distributed import score_dataset
    from motclassify.errors import InputError
    from motclassify.files import Layout

    with pytest.raises(InputError, match="one transcript a row"):
        score_dataset(ray.data.from_items([{"id": "a", "text": "hi"}]), tiny_trained_dir,
                      layout=Layout(conversation_col="conversation_id"))


def test_without_ray_the_engine_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    from motclassify.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "text": "hi"}) + "\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as when the extra is not installed
    assert main(["score", str(source), "-o", str(tmp_path / "out.jsonl"), "--engine", "ray"]) == 2
    assert 'pip install "motclassify[ray]"' in capsys.readouterr().err

