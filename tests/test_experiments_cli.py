"""``rnnkit experiments``: the report's files, on quick settings, and one-line errors."""

import pytest

from rnnkit.__main__ import main
from rnnkit.experiments import runner


def test_list_names_every_experiment(capsys):
    assert main(["experiments", "--list"]) == 0
    assert capsys.readouterr().out.split() == runner.NAMES


def test_quick_run_writes_markdown_html_and_a_picture_per_experiment(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["experiments", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in runner.NAMES:
        assert (out / f"{name}.png").stat().st_size > 1000
        assert (out / f"{name}.csv").exists()
        assert f"{name}: " in printed
    markdown = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    for name in runner.NAMES:
        assert f"![{name}]({name}.png)" in markdown
        assert f'<img src="{name}.png"' in page
    assert page.startswith("<!doctype html>")


def test_only_runs_the_named_experiments(tmp_path):
    out = tmp_path / "report"
    assert main(["experiments", "--quick", "--only", "cost", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".rnnkit-report.json", "cost.csv", "cost.png", "report.html", "report.md",
    ]  # fmt: skip


def test_an_unknown_experiment_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["experiments", "--only", "cost,telepathy", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unknown experiments ['telepathy']" in err
    assert not any(tmp_path.iterdir())


def test_run_all_refuses_unknown_names():
    with pytest.raises(ValueError, match="unknown experiments"):
        runner.run_all(only=["nope"])
