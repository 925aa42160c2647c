"""AppTest of the Compare page's robustness section, switched on from the start (one page
run; that it stays off until asked is what test_compare_page's chart count shows): one
chart per probe with a line per net that starts from the net's own top-1 probability."""

import json

import pytest
from test_compare_page import check, no_runs, open_compare  # noqa: F401  (no_runs: autouse fixture)

from classifier.compare.robustness import PROBES

pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations")
NETS = ("resnet20_cifar", "lenet5")


def test_robustness_section_draws_a_chart_per_probe():
    at = open_compare(*NETS, compare_method="gradcam", compare_robustness=True)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    top5, probes = charts[:2], charts[2:]
    assert [c["layout"]["title"]["text"] for c in probes] == [p.title for p in PROBES.values()]
    for chart, probe in zip(probes, PROBES.values()):
        assert [t["name"] for t in chart["data"]] == [f"{i}. {n} (Random)" for i, n in enumerate(NETS, start=1)]
        for trace, bars in zip(chart["data"], top5):
            # at the neutral strength the line starts at the net's top-1 probability (top-5 bar)
            at_neutral = trace["y"][list(probe.values).index(probe.neutral)]
            assert at_neutral == pytest.approx(bars["data"][0]["x"][-1], abs=1e-3)
    table = at.table[-1].value
    assert list(table["model"]) == [t["name"] for t in probes[0]["data"]]
    assert set(table.columns) == {"model", "top-1", *(p.title for p in PROBES.values())}
    assert "⬇ Robustness charts (PNG)" in [d.proto.label for d in at.get("download_button")]
