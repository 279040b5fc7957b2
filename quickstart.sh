#!/usr/bin/env bash
# Set up motclassify in ./.venv (idempotent), then run the main job (`demo`) or the test suite (`test`).
#   ./quickstart.sh demo   score examples/support_export.jsonl and write the moments-of-truth report
#   ./quickstart.sh test   run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
VENV="${MOTCLASSIFY_VENV:-.venv}"

if [ ! -f "$VENV/.motclassify-installed" ] || [ pyproject.toml -nt "$VENV/.motclassify-installed" ]; then
  python3 -m venv "$VENV"
  # The CPU build of torch first (it lies on this machine's disk); a plain `torch` would pull a multi-GB CUDA build.
  "$VENV/bin/pip" install --quiet torch==2.13.0
  "$VENV/bin/pip" install --quiet -e ".[test]"
  touch "$VENV/.motclassify-installed"
fi

case "${1:-demo}" in
  demo)
    "$VENV/bin/motclassify" score examples/support_export.jsonl -o out/scored.jsonl --keep-cols created_at,channel
    "$VENV/bin/motclassify" report out/scored.jsonl -o out/report --time-col created_at
    echo "outputs: out/scored.jsonl (one prediction per transcript), out/report/report.html"
    if [ -f out/scored.errors.jsonl ]; then echo "records that could not be scored, with the reason: out/scored.errors.jsonl"; fi
    echo "more: .venv/bin/motclassify --help (or 'source .venv/bin/activate' to put motclassify on PATH)"
    ;;
  test)
    "$VENV/bin/python" -m pytest -q "${@:2}"
    ;;
  *)
    echo "usage: ./quickstart.sh demo|test [pytest args]" >&2
    exit 2
    ;;
esac
