"""Promises about the repository itself: the README's commands, CI, and layering."""

import re

from tests_paths import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    sections = re.split(r"^## ", text, flags=re.M)
    blocks = {s.splitlines()[0]: re.findall(r"```bash\n(.*?)\n```", s, flags=re.S) for s in sections[1:]}
    return blocks["Run the app"] + blocks["Run the tests"]


def test_readme_has_one_app_and_one_test_command():
    app, tests = readme_commands()
    assert "\n" not in app and app.endswith("streamlit run app.py")
    assert "\n" not in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = readme_commands()
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


def test_library_never_imports_streamlit():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "classifier").rglob("*.py")
        if re.search(r"^\s*(import|from)\s+streamlit", p.read_text(), flags=re.M)
    ]
    assert not offenders


def test_readme_screenshot_exists():
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (ROOT / "README.md").read_text()):
        assert (ROOT / image).is_file(), image


def test_readme_weights_table_is_the_registry():
    """The README's table is `python -m classifier weights --markdown`, kept current."""
    from classifier.weights import all_entries
    from classifier.weights.cli import markdown_table

    text = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- weights-table -->\n(.*?)\n<!-- /weights-table -->", text, re.S)
    assert table, "the README has no weights table between its markers"
    assert table.group(1) == markdown_table(all_entries()), "regenerate it with `python -m classifier weights --markdown`"


def test_time_left_is_quoted_only_once_the_pace_is_known():
    from classifier.explorer_format import time_left

    assert time_left(1.0, 0.01) is None and time_left(10.0, 1.0) is None
    assert time_left(10.0, 0.25) == "about 30 s left"
    assert time_left(60.0, 0.25) == "about 3 min left"
