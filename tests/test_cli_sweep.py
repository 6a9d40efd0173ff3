"""rnnkit sweep: many configurations from the command line, ranked on validation, the
best tested apart, a report folder with a heatmap; one-line errors before any training."""

import subprocess
import sys
import time

import pandas as pd
import pytest
from _problems import dated_prices, error_line, interrupt_fit

from rnnkit import Forecaster
from rnnkit import __main__ as cli
from rnnkit.__main__ import main

FAST = ["--epochs", "2", "--folds", "2", "--quiet"]


@pytest.fixture
def csv(tmp_path):
    """Daily closes as an export writes them."""
    path = tmp_path / "prices.csv"
    dated_prices(400, seed=5).rename("Close").rename_axis("Date").to_csv(path)
    return path


def sweep(csv_path, out, *more):
    return main(["sweep", "--csv", str(csv_path), "--column", "Close", "--out", str(out),
                 *FAST, *more])  # fmt: skip


def test_a_sweep_prints_the_ranked_table_and_the_best_tested_apart(csv, tmp_path, capsys):
    out = tmp_path / "sweep"
    more = ["--lookback", "5,10", "--hidden-size", "4,6", "--cell", "rnn,lstm"]
    assert sweep(csv, out, *more) == 0
    printed = capsys.readouterr().out
    assert "8 configurations x 2 walk-forward validation folds" in printed
    assert "Ranked by mean validation rmse over 2 folds (fixed: epochs=2):" in printed
    ranked_lines = printed.split("Ranked by")[1].split("Best on validation")[0].splitlines()
    assert sum(line.split()[0] in map(str, range(1, 9)) for line in ranked_lines[2:] if line) == 8
    assert "refitted on everything before the held-out 20% and tested there" in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == [".rnnkit-report.json", "README.md", "heatmap.png", "ranked.csv", "sweep.csv"]
    assert (out / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 16
    assert table["error"].isna().all()  # an empty cell: no job failed
    ranked = pd.read_csv(out / "ranked.csv")
    assert ranked["rmse"].is_monotonic_increasing
    # the best printed is the first ranked
    first = ranked.iloc[0]
    best = printed.split("Best on validation: ")[1].splitlines()[0]
    assert f"cell={first['cell']}, hidden_size={first['hidden_size']}" in best


def test_the_same_command_resumes_from_its_results_file(csv, tmp_path, capsys, monkeypatch):
    results = tmp_path / "sweep.csv"
    more = ["--hidden-size", "4,6", "--results", str(results)]
    fit = interrupt_fit(monkeypatch, at=3)  # Ctrl-C in the third job
    assert sweep(csv, tmp_path / "a", *more) == 130
    err = capsys.readouterr().err
    assert f"the jobs finished so far are kept in {results}: the same command resumes" in err
    assert len(pd.read_csv(results)) == 2
    monkeypatch.setattr(Forecaster, "fit", fit)
    assert sweep(csv, tmp_path / "b", *more) == 0
    assert len(pd.read_csv(results)) == 4


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (
            ["--heatmap", "lookback,dropout"],
            "--heatmap takes one or two parameters of the sweep separated by a comma (of lookback, epochs), got 'lookback,dropout'",
        ),
        (["--jobs", "0"], "--jobs must be"),
        (["--scheduler", "tcp://127.0.0.1:9", "--backend", "threading"], "--backend threading"),
        (["--dropout", "0.1,1.5"], "dropout must be a probability"),
        (["--results", "sweep.txt"], "--results sweep.txt must end in .csv or .parquet"),
        (["--results", "nowhere/sweep.csv"], "--results: results='nowhere/sweep.csv': its folder"),
        (["--backend", "dask"], "--backend dask needs --scheduler ADDRESS"),
        (["--heatmap", "lookback,lookback"], "--heatmap takes one or two parameters"),
    ],
)
def test_bad_settings_get_one_line_before_any_training(
    csv, tmp_path, capsys, monkeypatch, more, message
):
    def no_fit(*args, **kwargs):
        raise AssertionError("a configuration was fitted")

    monkeypatch.setattr(Forecaster, "fit", no_fit)
    assert sweep(csv, tmp_path / "s", "--lookback", "5,10", *more) == 2
    assert message in error_line(capsys)


def test_a_value_the_parser_cannot_read_is_named(csv, tmp_path, capsys):
    with pytest.raises(SystemExit):
        sweep(csv, tmp_path / "s", "--hidden-size", "4,x")
    assert "--hidden-size" in capsys.readouterr().err


def test_a_scheduler_that_does_not_answer_is_an_error_within_the_timeout(
    csv, tmp_path, capsys, monkeypatch
):
    pytest.importorskip("distributed")
    monkeypatch.setattr(cli, "SCHEDULER_TIMEOUT", 2)
    start = time.perf_counter()
    # port 9 (discard) has no scheduler
    assert sweep(csv, tmp_path / "s", "--scheduler", "tcp://127.0.0.1:9") == 2
    assert time.perf_counter() - start < 30
    assert (
        "--scheduler tcp://127.0.0.1:9: could not reach a Dask scheduler there within 2 s"
        in error_line(capsys)
    )


def test_a_sweep_runs_on_a_dask_scheduler(csv, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        code = sweep(
            csv, tmp_path / "s", "--hidden-size", "4,6", "--scheduler", cluster.scheduler_address
        )
    assert code == 0
    assert "Ranked by" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "s" / "sweep.csv")) == 4


def test_results_kept_in_the_report_folder_under_a_report_name_are_refused(csv, tmp_path, capsys):
    out = tmp_path / "s"
    assert sweep(csv, out, "--lookback", "5,10", "--results", str(out / "sweep.csv")) == 2
    assert "is a file of the report in --out" in error_line(capsys)


def test_when_every_job_fails_the_report_is_written_and_the_command_fails(
    csv, tmp_path, capsys, monkeypatch
):
    def failing(self, past):
        raise RuntimeError("boom")

    monkeypatch.setattr(Forecaster, "fit", failing)
    out = tmp_path / "s"
    assert sweep(csv, out, "--lookback", "5,10") == 2
    captured = capsys.readouterr()
    assert "4 of 4 jobs failed" in captured.out
    assert "No best configuration: no configuration has a validation rmse" in captured.out
    assert "rnnkit: error: no best configuration to test" in captured.err
    assert (pd.read_csv(out / "sweep.csv")["error"] == "RuntimeError: boom").all()


def test_the_heatmap_takes_option_names_and_one_parameter(csv, tmp_path):
    assert sweep(csv, tmp_path / "a", "--hidden", "4,6", "--heatmap", "hidden") == 0
    assert (tmp_path / "a" / "heatmap.png").exists()


def test_multiprocessing_is_not_offered(csv, tmp_path, capsys):
    with pytest.raises(SystemExit):
        sweep(csv, tmp_path / "s", "--backend", "multiprocessing")
    assert "invalid choice: 'multiprocessing'" in capsys.readouterr().err


def test_a_port_that_listens_but_is_not_dask_is_an_error_within_the_timeout(tmp_path):
    # Dask's own timeout covers the connection, not the handshake: on a port that
    # accepts and never answers (a web server, Dask's dashboard) it would wait for ever.
    pytest.importorskip("distributed")
    path = tmp_path / "prices.csv"
    dated_prices(300, seed=5).rename("Close").rename_axis("Date").to_csv(path)
    script = f"""
import socket, sys
from rnnkit import __main__ as cli
silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen(5)
cli.SCHEDULER_TIMEOUT = 2
address = "tcp://127.0.0.1:%d" % silent.getsockname()[1]
sys.exit(cli.main(["sweep", "--csv", {str(path)!r}, "--out", {str(tmp_path / "s")!r},
                   "--scheduler", address, "--quiet"]))
"""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert time.perf_counter() - start < 30
    assert done.returncode == 2
    assert (
        "could not reach a Dask scheduler there within 2 s (something answered there, but "
        "not as a Dask scheduler)" in done.stderr
    )


def test_run_spellings_work_in_a_sweep_and_the_best_line_names_only_the_grid(csv, tmp_path, capsys):
    assert sweep(csv, tmp_path / "s", "--cells", "rnn", "--lookback", "5") == 0
    printed = capsys.readouterr().out
    assert "Best on validation: cell=rnn, epochs=2, lookback=5;" in printed
    rows = [line.split()[0] for line in printed.split("tested there:")[1].splitlines() if line]
    assert rows.index("RNN") == rows.index("LinearRegression") + 1  # last, as run prints it


def test_ctrl_c_before_any_job_ends_claims_no_kept_jobs(csv, tmp_path, capsys, monkeypatch):
    results = tmp_path / "sweep.csv"
    interrupt_fit(monkeypatch, at=1)
    assert sweep(csv, tmp_path / "a", "--hidden-size", "4,6", "--results", str(results)) == 130
    err = capsys.readouterr().err
    assert "kept in" not in err
    assert not results.exists()
