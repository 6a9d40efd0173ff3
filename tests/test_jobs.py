"""Many jobs through joblib: walk-forward folds on one process, on threads and on
processes give the same table, bit for bit; bad settings are refused before any fit."""

import numpy as np
import pandas as pd
import pytest
from _problems import dated_prices, run_python

from rnnkit import Forecaster, _jobs, core

FAST = {"hidden_size": 8, "epochs": 3, "lookback": 10, "verbose": 0, "batch_size": 32}


def price_series(n=500, seed=3):
    return dated_prices(n, seed)


def metrics(table):
    """The table without its one measured column: the seconds each fit took."""
    return table.drop(columns="train_seconds")


@pytest.fixture(scope="module")
def serial():
    return Forecaster(cell="lstm", **FAST).backtest(price_series(), folds=3)


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_folds_on_threads_or_processes_give_the_serial_table_bit_for_bit(serial, backend):
    pytest.importorskip("joblib")
    table = Forecaster(cell="lstm", **FAST).backtest(
        price_series(), folds=3, n_jobs=2, backend=backend
    )
    pd.testing.assert_frame_equal(metrics(table), metrics(serial), check_exact=True)


def test_fitted_folds_come_back_from_worker_processes(serial):
    pytest.importorskip("joblib")
    table, models = Forecaster(cell="lstm", **FAST).backtest(
        price_series(), folds=3, return_models=True, n_jobs=2, threads_per_job=1
    )
    pd.testing.assert_frame_equal(metrics(table), metrics(serial), check_exact=True)
    for k, model in enumerate(models):
        assert (
            model.evaluate().loc["LSTM", "rmse"]
            == serial.query(f"fold == {k}").set_index("model").loc["LSTM", "rmse"]
        )


def test_a_job_in_another_process_runs_on_threads_per_job_threads():
    pytest.importorskip("joblib")
    threads = _jobs.run(_kernel_threads, [()] * 2, n_jobs=2, backend="loky", threads_per_job=3)
    assert threads == [3, 3] if core.build_info()["openmp"] else [1, 1]


def _kernel_threads():
    return core.num_threads()


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"n_jobs": 0}, ValueError, "n_jobs must be an int >= 1, or -1 for all workers, got 0"),
        ({"n_jobs": 2.0}, TypeError, "n_jobs must be an int >= 1, got float 2.0"),
        ({"backend": "spark"}, ValueError, "backend must be None or one of loky, "),
        ({"threads_per_job": 0}, ValueError, "threads_per_job must be an int >= 1, got 0"),
    ],
)
def test_bad_job_settings_are_refused_before_any_fit(settings, error, message, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("a fold was fitted")

    monkeypatch.setattr(Forecaster, "fit", no_fit)
    with pytest.raises(error, match=message):
        Forecaster(**FAST).backtest(price_series(), folds=3, **settings)


def test_minus_one_job_means_every_worker_of_the_engine():
    pytest.importorskip("joblib")
    assert _jobs.check_n_jobs(-1) == -1
    assert _jobs.run(_kernel_threads, [()] * 3, n_jobs=-1) == [1, 1, 1]


def test_without_joblib_one_job_runs_and_more_say_what_to_install():
    script = (
        "import sys; sys.modules['joblib'] = None\n"
        "from rnnkit import _jobs\n"
        "print(_jobs.run(pow, [(2, 3), (3, 2)]))\n"
        "try:\n"
        "    _jobs.run(pow, [(2, 3)], n_jobs=2)\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    out = run_python(script).stdout.splitlines()
    assert out[0] == "[8, 9]"
    assert "pip install 'rnnkit[parallel]'" in out[1]


def test_jobs_keep_their_order():
    pytest.importorskip("joblib")
    squares = _jobs.run(pow, [(k, 2) for k in range(6)], n_jobs=2, backend="threading")
    assert squares == [k * k for k in range(6)]
    assert np.all(np.diff(squares) > 0)


def test_the_ray_backend_without_ray_says_what_to_install(monkeypatch):
    pytest.importorskip("joblib")
    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    with pytest.raises(ImportError, match=r"backend='ray' needs Ray: pip install 'ray\[default\]'"):
        _jobs.run(pow, [(2, 3)], n_jobs=2, backend="ray")
