"""The Train page: AppTest through app.py's navigation (a finished run's table, curves,
confusion matrix, export and Inspect hand-off; starting and stopping a real run from
the form), and a real browser that starts a one-epoch run and watches its chart grow."""

from __future__ import annotations

import json
import time

import pytest
import torch
from streamlit.testing.v1 import AppTest

from classifier import get_card, list_models
from classifier.train import ACTIVE, RunDir, TrainConfig, list_runs, train
from tests_paths import ROOT


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    """A runs folder holding one finished LeNet-5 run on the digits."""
    root = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig(model="lenet5", epochs=1, batch_size=64, optimizer="adamw", lr=5e-3, augment="none")
    assert train(cfg, RunDir(root, "lenet-finished")) == "finished"
    return root


def open_page(runs_root, monkeypatch) -> AppTest:
    monkeypatch.setenv("CLASSIFIER_RUNS_DIR", str(runs_root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    return at


def figures(at: AppTest) -> dict[str, dict]:
    """The page's plotly figures by widget key (their JSON spec)."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[spec["layout"]["title"]["text"]] = spec
    return out


def wait_for(predicate, timeout=180.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_form_offers_every_small_input_model_and_dataset(finished_runs, monkeypatch):
    at = open_page(finished_runs, monkeypatch)
    names = list_models(small_input=True)
    options = at.selectbox(key="train_model").options
    assert options[: len(names)] == [f"{n} — {get_card(n).variant}" for n in names]
    assert "resnet50 — " + get_card("resnet50").variant in options[len(names):], "nets with weights, to fine-tune"
    assert "lenet5" in names and "resnet20_cifar" in names
    datasets = at.selectbox(key="train_dataset").options
    assert datasets[0].startswith("Digits") and any("CIFAR-10" == d for d in datasets)


def test_finished_run_shows_table_curves_confusion_and_exports(finished_runs, monkeypatch):
    at = open_page(finished_runs, monkeypatch)
    run = RunDir(finished_runs, "lenet-finished")
    best = run.read_status()["best_top1"]
    table = at.dataframe[0].value
    row = table[table["run"] == "lenet-finished"].iloc[0]
    assert row["state"] == "finished" and row["best top-1 (%)"] == f"{100 * best:.2f}"
    figs = figures(at)
    assert {"Loss", "Top-1 accuracy", "Learning rate", "Images per second"} <= figs.keys()
    steps = [r for r in run.read_metrics() if r["kind"] == "train"]
    loss = figs["Loss"]["data"]
    assert len(loss[0]["x"]) == len(steps) and loss[1]["name"].endswith("test")
    confusion = figs["Confusion matrix (rows: true class)"]["data"][0]["z"]
    assert sum(map(sum, confusion)) == 450  # every digit of the test split, once
    assert len(figs["Per-class accuracy"]["data"][0]["y"]) == 10
    assert not at.get("download_button"), "nothing is exported before the user asks"
    at.button(key="train_prepare_torchscript").click().run()
    at.run()  # as the runs view does every second
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download TorchScript"] and [b.label for b in at.button if "Prepare" in b.label] == ["Prepare ONNX"]


def test_inspect_hands_over_the_best_checkpoint(finished_runs, monkeypatch):
    at = open_page(finished_runs, monkeypatch)
    at.button(key="train_inspect").click().run()
    assert not at.exception, at.exception
    assert at.session_state["inspect_checkpoint"] == str(RunDir(finished_runs, "lenet-finished").best_checkpoint)
    if (ROOT / "app_pages" / "inspect.py").is_file():
        assert at.title[0].value == "Inspect"
    else:
        assert "not there yet" in at.info[0].value


def test_folder_dataset_without_a_path_is_a_message(finished_runs, monkeypatch):
    at = open_page(finished_runs, monkeypatch)
    at.selectbox(key="train_dataset").set_value("folder")
    at.button(key="FormSubmitter:train_form-Start").click().run()
    assert "needs a path" in at.error[0].value
    assert [r.run_id for r in list_runs(finished_runs)] == ["lenet-finished"]


def test_a_public_set_offline_is_one_sentence_and_no_bar(finished_runs, monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setenv("CLASSIFIER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("urllib.request.urlopen", offline)
    at = open_page(finished_runs, monkeypatch)
    at.selectbox(key="train_dataset").set_value("mnist")
    at.button(key="FormSubmitter:train_form-Start").click().run()
    assert not at.exception and len(at.error) == 1
    text = at.error[0].value
    assert "train-images-idx3-ubyte.gz could not be downloaded" in text and str(tmp_path / "data") in text
    assert "choose Digits, which is bundled" in text and "Traceback" not in text
    texts = [p.proto.text for p in at.get("progress")]
    assert texts and not [t for t in texts if "Downloading" in t], "the download bar is removed when it fails"
    assert [r.run_id for r in list_runs(finished_runs)] == ["lenet-finished"]


def test_start_from_offers_the_models_weights_and_runs(finished_runs, monkeypatch):
    at = open_page(finished_runs, monkeypatch)
    start = at.selectbox(key="train_init_lenet5")
    assert start.options[0] == "Random initialisation" and any("Training run lenet-finished" in o for o in start.options)
    at.selectbox(key="train_model").set_value("resnet50").run()
    options = at.selectbox(key="train_init_resnet50").options
    assert any(o.startswith("ImageNet-1k · torchvision resnet50.IMAGENET1K_V2") for o in options)


def test_start_then_stop_from_the_page(tmp_path, monkeypatch):
    at = open_page(tmp_path, monkeypatch)
    at.selectbox(key="train_model").set_value("lenet5")
    at.number_input(key="train_epochs").set_value(30)
    at.number_input(key="train_batch").set_value(16)
    at.button(key="FormSubmitter:train_form-Start").click().run()
    assert not at.exception, at.exception
    (run,) = list_runs(tmp_path)
    try:
        wait_for(lambda: run.read_status().get("state") == "running" and run.read_metrics(), what="the run to start")
        at.run()
        assert at.selectbox(key="train_watch").value == run.run_id
        assert "running" in at.subheader[0].value
        at.button(key="train_stop").click().run()
        wait_for(lambda: run.read_status().get("state") == "stopped", what="the run to stop")
    finally:
        if run.read_status().get("state") in ACTIVE:  # never leave a process behind
            run.request_stop()
    at.run()
    assert "stopped" in at.subheader[0].value
    assert not run.stop_requested()  # the engine consumed the request
    stopped = run.read_status()
    assert run.last_checkpoint.is_file() and stopped["epoch"] < 30 and (run.path / "log.txt").is_file()

    at.button(key="train_resume").click().run()  # a new process continues the same run
    try:
        wait_for(lambda: run.read_status().get("pid") not in (None, stopped["pid"])
                 and run.read_status().get("step", 0) > stopped["step"], what="the resumed run to progress")
    finally:
        run.request_stop()
    wait_for(lambda: run.read_status().get("state") == "stopped", what="the resumed run to stop")


@pytest.mark.browser
def test_browser_starts_a_run_and_sees_the_chart_grow(tmp_path):
    from app_server import browser_page, running_app

    count_points = "() => { const p = document.querySelector('.js-plotly-plot'); " \
                   "return p && p.data && p.data.length ? p.data[0].x.length : 0; }"
    with running_app(env={"CLASSIFIER_RUNS_DIR": str(tmp_path)}) as url, browser_page(url + "/train") as page:
        page.get_by_role("heading", name="Train").wait_for(timeout=60_000)
        page.get_by_text("No runs yet").wait_for(timeout=30_000)
        page.get_by_role("combobox", name="Model").click()
        page.get_by_role("option", name="lenet5", exact=False).first.click()
        page.get_by_label("Epochs", exact=True).fill("1")
        page.get_by_label("Batch size", exact=True).fill("64")  # 21 steps, one metrics line each: the chart grows, the run ends soon
        page.get_by_role("combobox", name="Augmentation").click()
        page.get_by_role("option", name="strong").click()
        page.get_by_role("button", name="Start", exact=True).click()

        seen = []
        deadline = time.monotonic() + 180
        while not (len(seen) >= 2 and seen[-1] > seen[0]) and time.monotonic() < deadline:
            n = page.evaluate(count_points)
            if n and (not seen or n != seen[-1]):
                seen.append(n)
            time.sleep(0.2)
        assert len(seen) >= 2 and seen[-1] > seen[0], f"chart point counts seen: {seen}"
        page.get_by_text("lenet5 on Digits (bundled, 8×8 → 32×32) — finished").wait_for(timeout=300_000)
        page.get_by_role("button", name="Prepare TorchScript").click()
        button = page.get_by_role("button", name="Download TorchScript")
        button.wait_for(timeout=120_000)
        time.sleep(2.5)  # the runs view reruns every second: the download must survive that
        with page.expect_download(timeout=60_000) as download:
            button.click()
        saved = tmp_path / "model.pt"
        download.value.save_as(saved)
        page.screenshot(path=str(tmp_path / "train.png"), full_page=True)
    scripted = torch.jit.load(str(saved))
    assert scripted(torch.zeros(1, 1, 32, 32)).shape == (1, 10)
    (run,) = list_runs(tmp_path)
    assert run.read_status()["state"] == "finished"
