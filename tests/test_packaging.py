"""The built wheel carries the default model and works from outside the repo, in a fresh virtualenv."""

import json
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)], check=True)
    return next(out.glob("motclassify-*.whl"))


def test_wheel_carries_the_default_model(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {"motclassify/models/default/motclassify.json", "motclassify/models/default/model.safetensors"} <= set(names)
    assert not any(name.startswith(("tests/", "training/", "benchmarks/")) for name in names)


def test_wheel_installs_into_a_fresh_virtualenv_and_scores(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)  # the CPU build first, as the README says
    subprocess.run([*pip, str(wheel)], check=True)
    script = ("import json, warnings; warnings.simplefilter('ignore'); from motclassify import MomentClassifier; "
              "p = MomentClassifier.load().predict_one('Customer: I was charged twice\\nAgent: refunded'); "
              "print(json.dumps(p.to_dict()))")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
    prediction = json.loads(result.stdout)
    assert prediction["moment"] and prediction["sentiment"] in {"magical", "average", "miserable"}
    info = subprocess.run([str(venv / "bin" / "motclassify"), "info"], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert str(tmp_path / "venv") in info.stdout and "OK" in info.stdout
