"""The fast paths of the explorer give the same answers as the slow ones: ``list`` from
the card index equals the registry and imports no torch; a stale index is never used;
the analysis warm-up runs off the caller's thread, once per process. (How fast they are
is measured by bench/explorer.py, never asserted here.)"""

import json
import subprocess
import sys
import threading

from classifier import card_index
from tests_paths import ROOT


def test_committed_card_index_is_current():
    index = json.loads(card_index.INDEX.read_text(encoding="utf-8"))
    hint = "the card index is stale: run `python -m classifier.card_index` and commit classifier/card_index.json"
    assert index["fingerprint"] == card_index.fingerprint(), hint
    assert index["cards"] == card_index.registry_cards(), hint


def test_a_stale_index_falls_back_to_the_registry(tmp_path, monkeypatch):
    stale = tmp_path / "card_index.json"
    stale.write_text(json.dumps({"fingerprint": "old", "cards": [{"name": "gone"}]}))
    monkeypatch.setattr(card_index, "INDEX", stale)
    assert card_index.cards() == card_index.registry_cards()
    monkeypatch.setattr(card_index, "INDEX", tmp_path / "missing.json")
    assert card_index.cards() == card_index.registry_cards()


def test_list_answers_from_the_index_without_torch():
    # One fresh interpreter runs both list commands and reports what they imported.
    script = (
        "import io, json, sys, contextlib\n"
        "from classifier.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    main(['list', '--json'])\n"
        "    main(['list'])\n"
        "print(json.dumps({'out': out.getvalue(), 'torch': 'torch' in sys.modules,\n"
        "                  'families': sorted(m for m in sys.modules if m.startswith('classifier.models'))}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert not report["torch"] and report["families"] == []
    decoder = json.JSONDecoder()
    listed, end = decoder.raw_decode(report["out"])
    cards = card_index.registry_cards()
    assert listed == cards
    lines = report["out"][end:].strip().splitlines()
    assert [line.split()[0] for line in lines] == [c["name"] for c in cards]


def test_warm_up_runs_once_in_a_background_thread():
    from classifier.warmup import start_warm_up

    first = start_warm_up()
    assert first is not threading.current_thread() and first.daemon
    assert start_warm_up() is first  # a second page load starts nothing new
    first.join(timeout=120)
    assert not first.is_alive() and "torch._dynamo" in sys.modules
