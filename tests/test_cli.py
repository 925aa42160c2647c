"""``python -m classifier list/summary``: output, JSON shape and one-line errors."""

import json
import subprocess
import sys

from classifier.cli import main
from tests_paths import ROOT


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "classifier", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_list_json_has_every_card(capsys):
    from classifier import list_models

    assert main(["list", "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in cards] == list_models()
    assert all({"family", "year", "paper", "input_size"} <= c.keys() for c in cards)


def test_list_text(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and "vgg16" in out


def test_summary_json_totals_match_rows(capsys):
    assert main(["summary", "vgg16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # torchvision's VGG-16 has 138,357,544 parameters (torchvision.models.VGG16_Weights meta).
    assert data["totals"]["params"] == 138_357_544
    assert sum(r["params"] for r in data["rows"]) == data["totals"]["params"]
    assert {"name", "type", "output_shape", "params", "macs", "rf", "stride"} <= data["rows"][0].keys()


def test_summary_input_size_changes_macs(capsys):
    main(["summary", "resnet18", "--json", "--input-size", "3,448,448"])
    big = json.loads(capsys.readouterr().out)["totals"]["macs"]
    main(["summary", "resnet18", "--json", "--input-size", "3,224,224"])
    small = json.loads(capsys.readouterr().out)["totals"]["macs"]
    # Every stride divides both sizes, so convolutions cost exactly 4× (only the fc does not grow).
    assert abs(big / small - 4) < 0.01


def test_bad_name_is_one_line_exit_2():
    proc = run_cli("summary", "resnet5")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "unknown model" in proc.stderr


def test_bad_size_is_one_line_exit_2():
    for size in ("3,224", "a,b,c", "3,0,224"):
        proc = run_cli("summary", "resnet18", "--input-size", size)
        assert proc.returncode == 2, size
        assert proc.stderr.startswith("error:") and proc.stderr.count("\n") == 1


def test_too_small_input_is_one_line_exit_2():
    proc = run_cli("summary", "vgg16", "--input-size", "3,8,8")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "does not run on a 3×8×8 input" in proc.stderr


def test_list_and_summary_leave_the_heavy_command_modules_unloaded():
    """`list` and `summary` skip the parsers of train/export/predict/explain, which import
    torchvision, captum and the training engine; --help still names every command."""
    probe = (
        "import sys; from classifier.cli import main; main(['list']); "
        "print(sorted(m for m in ('torchvision', 'captum', 'classifier.train.engine') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    usage = run_cli("--help").stdout
    assert all(command in usage for command in ("train", "export", "predict", "explain"))
    assert run_cli("list", "-h").stdout.startswith("usage: python -m classifier list [-h]")
