"""bench/recipes.py itself, on LeNet-5 (a second of training): the step budget becomes
whole epochs, each row keeps its budget and says what ended it and whether the net
learned, and ``--redo`` replaces a row instead of adding a second one."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests_paths import ROOT


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_recipes", ROOT / "bench" / "recipes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(out) -> list[dict]:
    return [json.loads(line) for line in (out / "recipes.jsonl").read_text().splitlines()]


def test_a_step_budget_trains_whole_epochs_and_the_row_says_what_ended_it(bench, tmp_path):
    # LeNet-5's recipe steps 32 images at a time: 1,347 // 32 = 42 steps an epoch, so a
    # budget of 50 steps is two whole epochs
    assert bench.main(["--models", "lenet5", "--steps", "50", "--out", str(tmp_path)]) == 0
    (row,) = rows(tmp_path)
    assert (row["budget"], row["steps"], row["epochs"], row["ended"]) == (50, 84, 2.0, "2 epochs")
    assert row["learns"] == (row["best_top1"] >= 0.3) and row["last_loss"] < row["first_loss"]
    table = (tmp_path / "recipes.md").read_text()
    assert "| lenet5 | 60,850 | 50 | 84 | 2 | 2 epochs |" in table
    assert "Step budgets: 50 steps (1 variants)." in table
    assert f"{int(row['learns'])} of the 1 variants trained so far learn" in table
    assert (tmp_path / "recipes.csv").read_text().splitlines()[0] == ",".join(bench.COLUMNS)


def test_redo_replaces_the_named_rows_and_needs_names(bench, tmp_path):
    argv = ["--models", "lenet5", "--steps", "1", "--out", str(tmp_path)]
    bench.main(argv)
    bench.main(argv)  # continues: the net has its row
    assert len(rows(tmp_path)) == 1
    (tmp_path / "recipes.jsonl").write_text(json.dumps({**rows(tmp_path)[0], "best_top1": -1.0}) + "\n")
    bench.main([*argv, "--redo"])
    (row,) = rows(tmp_path)
    assert row["best_top1"] >= 0 and row["ended"] == "1 epoch"
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--redo", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
