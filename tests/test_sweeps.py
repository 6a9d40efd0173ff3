"""rnnkit.sweep: every configuration on walk-forward validation folds, chosen without the
held-out test share, the same table however the jobs run."""

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from _problems import dated_prices, interrupt_fit

import rnnkit
from rnnkit import Forecaster, sweeps
from rnnkit.datasets import garch_series

TINY = {"epochs": [2], "verbose": [0], "batch_size": [32]}
GRID = {"hidden_size": [4, 6], "lookback": [10, 15], **TINY}


def price_series(n=500, seed=4):
    return dated_prices(n, seed)


@pytest.fixture(scope="module")
def swept():
    series = price_series()
    return series, rnnkit.sweep(series, GRID, folds=2)


def test_a_row_per_configuration_and_fold_with_the_network_and_the_naive_scores(swept):
    _, table = swept
    assert len(table) == 4 * 2
    assert sorted(table.groupby(["hidden_size", "lookback"]).size()) == [2, 2, 2, 2]
    for column in ("rmse", "skill", "naive_rmse", "train_seconds", "epochs_run", "val_end"):
        assert np.isfinite(table[column].astype(float)).all() if column != "val_end" else True
    assert (table["epochs_run"] == 2).all()


def test_validation_blocks_end_before_the_held_out_test_share(swept):
    series, table = swept
    held_out = series.index[len(sweeps.development(series, 0.2))]
    assert (table["val_end"] < held_out).all()
    # the folds tile the end of the development part: the last fold ends with it
    assert table["val_end"].max() == sweeps.development(series, 0.2).index[-1]


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_the_table_is_the_same_on_threads_and_processes(swept, backend):
    pytest.importorskip("joblib")
    series, serial = swept
    table = rnnkit.sweep(series, GRID, folds=2, n_jobs=2, backend=backend)
    drop = ["train_seconds"]
    pd.testing.assert_frame_equal(table.drop(columns=drop), serial.drop(columns=drop))


def test_rank_orders_by_mean_validation_score(swept):
    _, table = swept
    ranked = rnnkit.rank(table)
    means = table.groupby(["hidden_size", "lookback"])["rmse"].mean()
    assert ranked["rmse"].is_monotonic_increasing
    assert ranked["rmse"].iloc[0] == means.min()
    assert (ranked["folds"] == 2).all()
    assert rnnkit.rank(table, "skill")["skill"].is_monotonic_decreasing
    with pytest.raises(ValueError, match="metric must be one of rmse, mae"):
        rnnkit.rank(table, "train_seconds")


def test_the_best_configuration_is_scored_on_the_held_out_share_apart(swept):
    series, table = swept
    config, scores = sweeps.score_best(series, table)
    first = rnnkit.rank(table).iloc[0]
    assert config["hidden_size"] == first["hidden_size"]
    assert isinstance(config["lookback"], int)
    assert {"LSTM", "Naive"} <= set(scores.index)


def test_grids_as_scikit_learn_writes_them():
    assert sweeps.configurations({"cell": ["rnn", "lstm"], "hidden_size": [8]}) == [
        {"cell": "rnn", "hidden_size": 8},
        {"cell": "lstm", "hidden_size": 8},
    ]
    union = sweeps.configurations([{"cell": ["rnn"]}, {"cell": ["lstm"], "lookback": [5, 9]}])
    assert union == [
        {"cell": "rnn"},
        {"cell": "lstm", "lookback": 5},
        {"cell": "lstm", "lookback": 9},
    ]


@pytest.mark.parametrize(
    ("grid", "error", "message"),
    [
        ({}, ValueError, "grid is empty"),
        ([], ValueError, "grid is empty"),
        ({"hiden_size": [8]}, ValueError, "Forecaster has no parameter 'hiden_size'; its "),
        ({"hidden_size": 8}, TypeError, r"grid\['hidden_size'\] must be a non-empty list"),
        ({"hidden_size": []}, TypeError, r"grid\['hidden_size'\] must be a non-empty list"),
        ({"test": [0.1]}, ValueError, "'test' is the held-out share"),
        ("hidden_size", TypeError, "grid must be a dict of lists or a list of dicts"),
    ],
)
def test_bad_grids_are_refused_before_any_fit(grid, error, message, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("a configuration was fitted")

    monkeypatch.setattr(Forecaster, "fit", no_fit)
    with pytest.raises(error, match=message):
        rnnkit.sweep(price_series(), grid)


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"n_jobs": 0}, "n_jobs must be"), ({"backend": "spark"}, "backend must be"),
     ({"folds": 0}, "folds must be")],
)  # fmt: skip
def test_bad_job_settings_are_refused_before_any_fit(settings, message, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("a configuration was fitted")

    monkeypatch.setattr(Forecaster, "fit", no_fit)
    with pytest.raises(ValueError, match=message):
        rnnkit.sweep(price_series(), GRID, **settings)


# ---------------------------------------------------------------------------- results file


def fits_counted(monkeypatch):
    """A list that grows by one per Forecaster.fit from here on."""
    calls, fit = [], Forecaster.fit

    def counting(self, *args, **kwargs):
        calls.append(1)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Forecaster, "fit", counting)
    return calls


def test_a_rerun_reads_every_finished_job_back_and_fits_nothing(swept, tmp_path, monkeypatch):
    series, serial = swept
    path = tmp_path / "sweep.csv"
    first = rnnkit.sweep(series, GRID, folds=2, results=path)
    assert len(path.read_text().splitlines()) == 1 + 8
    calls = fits_counted(monkeypatch)
    again = rnnkit.sweep(series, GRID, folds=2, results=path)
    assert calls == []
    pd.testing.assert_frame_equal(again, first)  # every float back bit for bit
    pd.testing.assert_frame_equal(
        first.drop(columns="train_seconds"), serial.drop(columns="train_seconds")
    )


def test_an_interrupted_sweep_resumes_where_it_stopped(swept, tmp_path, monkeypatch):
    series, serial = swept
    path = tmp_path / "sweep.csv"
    rnnkit.sweep(series, GRID, folds=2, results=path)
    lines = path.read_text().splitlines(keepends=True)
    # three jobs finished, and the fourth was cut off while its line was written
    path.write_text("".join(lines[:4]) + lines[4][:25])
    calls = fits_counted(monkeypatch)
    table = rnnkit.sweep(series, GRID, folds=2, results=path)
    assert len(calls) == 8 - 3
    drop = ["train_seconds"]
    pd.testing.assert_frame_equal(table.drop(columns=drop), serial.drop(columns=drop))
    rows = pd.read_csv(path)
    assert len(rows) == 8
    assert rows["job"].is_unique


def test_a_results_file_of_another_sweep_or_of_someone_else_is_refused(swept, tmp_path):
    series, _ = swept
    path = tmp_path / "sweep.csv"
    rnnkit.sweep(series, {"hidden_size": [4], **TINY}, folds=2, results=path)
    with pytest.raises(ValueError, match="holds another sweep"):
        rnnkit.sweep(series, {"hidden_size": [4], **TINY}, folds=3, results=path)
    theirs = tmp_path / "prices.csv"
    theirs.write_text("date,price\n2020-01-01,1.0\n")
    with pytest.raises(ValueError, match="is not a sweep's results file"):
        rnnkit.sweep(series, GRID, folds=2, results=theirs)
    assert theirs.read_text() == "date,price\n2020-01-01,1.0\n"


def test_a_failing_job_is_a_row_with_its_error_and_the_others_go_on(tmp_path, monkeypatch):
    series = price_series()
    grid = {"lookback": [10, 12], "hidden_size": [4], **TINY}
    fit = Forecaster.fit

    def failing(self, past):  # what fails only once training runs, as a full disk might
        if self.lookback == 12:
            raise OSError("No space left on device")
        return fit(self, past)

    monkeypatch.setattr(Forecaster, "fit", failing)
    path = tmp_path / "sweep.csv"
    table = rnnkit.sweep(series, grid, folds=2, results=path)
    failed = table[table["error"] != ""]
    assert set(failed["lookback"]) == {12}
    assert failed["rmse"].isna().all()
    assert (failed["error"] == "OSError: No space left on device").all()
    assert (table.loc[table["lookback"] == 10, "error"] == "").all()
    ranked = rnnkit.rank(table)
    assert ranked.iloc[0]["lookback"] == 10
    assert ranked.set_index("lookback").loc[12, "failed"] == 2
    # the failures are kept too: a rerun does not retry them
    again = rnnkit.sweep(series, grid, folds=2, results=path)
    assert list(again["error"]) == list(table["error"])


@pytest.mark.parametrize(
    ("grid", "error", "message"),
    [
        ({"hidden_size": ["fifty"]}, TypeError, "hidden_size must be an int >= 1, got str"),
        (
            {"lookback": [10, 400]},
            ValueError,
            r"'lookback': 400, .*\} cannot be fitted on the first fold \(360 rows\): the series is",
        ),
        ({"dropout": [0.1, 1.5]}, ValueError, "dropout must be a probability"),
        ({"lr": [-1.0]}, ValueError, "lr must be a positive"),
        ({"cell": ["lstm", "cnn"]}, ValueError, "cell must be 'lstm', 'gru' or 'rnn', got 'cnn'"),
    ],
)
def test_values_that_cannot_be_right_are_refused_before_any_fit(grid, error, message, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("a configuration was fitted")

    monkeypatch.setattr(Forecaster, "fit", no_fit)
    with pytest.raises(error, match=message):
        rnnkit.sweep(price_series(), {**grid, **TINY}, folds=2)


def test_jobs_in_other_processes_warn_here_as_jobs_here_do():
    pytest.importorskip("joblib")
    series = price_series()
    grid = {"hidden_size": [40], **TINY}  # more parameters than windows: thin data
    for n_jobs in (1, 2):
        with pytest.warns(rnnkit.ThinDataWarning, match="fewer than the network's"):
            rnnkit.sweep(series, grid, folds=2, n_jobs=n_jobs)


def test_the_costliest_jobs_start_first_and_come_back_in_order():
    from rnnkit import _jobs

    started = []
    results = _jobs.run(started.append, [(1,), (3,), (2,)], costs=[1.0, 3.0, 2.0])
    assert started == [3, 2, 1]
    assert results == [None, None, None]  # in the order of the jobs
    assert _jobs.run(abs, [(-1,), (-3,), (-2,)], costs=[1, 3, 2]) == [1, 3, 2]
    series = price_series()
    costs = [sweeps._cost(c, series) for c in sweeps.configurations(
        {"cell": ["rnn", "lstm"], "hidden_size": [4, 16]})]  # fmt: skip
    rnn_4, rnn_16, lstm_4, lstm_16 = costs  # an LSTM's step costs four RNN steps
    assert rnn_4 < lstm_4 < rnn_16 < lstm_16


def test_threads_per_job_share_the_cores_among_the_jobs_that_run_at_once():
    from rnnkit import _jobs

    cores = _jobs._cores()
    assert _jobs.check_engine(2, None, None)[2] == max(1, cores // 2)
    assert _jobs.check_engine(2, None, None, jobs=1)[2] == cores  # one job: every core
    assert _jobs.check_engine(-1, None, None, jobs=5)[2] == 1
    assert _jobs.check_engine(2, None, 3, jobs=1)[2] == 3


def test_a_progress_bar_or_a_line_per_job(capsys, monkeypatch):
    from rnnkit import _jobs, _progress

    _jobs.run(abs, [(-1,), (-2,)], progress="sweep")
    assert "2/2" in capsys.readouterr().err
    monkeypatch.setattr(_progress, "bar", lambda *args: None)  # as without tqdm
    _jobs.run(abs, [(-1,), (-2,)], progress="sweep")
    assert capsys.readouterr().err.splitlines() == ["sweep: 1/2 jobs done", "sweep: 2/2 jobs done"]


# ---------------------------------------------------------------------------- Dask


def local_cluster(trim):
    """A LocalCluster of 2 worker processes of one thread (no service outside the test),
    its workers started with Dask's MALLOC_TRIM_THRESHOLD_ (trim) or without."""
    import dask

    distributed = pytest.importorskip("distributed")
    environ = {} if trim else {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    with dask.config.set(environ):
        return distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )


@pytest.fixture
def dask_client():
    """A Client of a local_cluster as rnnkit asks Dask's workers to be started."""
    distributed = pytest.importorskip("distributed")
    cluster = local_cluster(trim=False)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def trim_restored():
    """MALLOC_TRIM_THRESHOLD_ in this process as it was before the test, whatever a
    nanny set meanwhile (it sets it in the process that starts it, for later children)."""
    had = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    yield
    if had is None:
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    else:
        os.environ["MALLOC_TRIM_THRESHOLD_"] = had


def test_dask_workers_that_trim_memory_get_a_warning_with_the_fix(swept, trim_restored):
    distributed = pytest.importorskip("distributed")
    series, _ = swept
    grid = {"hidden_size": [4], **TINY}
    with local_cluster(trim=True) as cluster, distributed.Client(cluster) as client:
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)  # the workers' must be read, not ours
        with pytest.warns(RuntimeWarning, match=r"2 of 2 Dask worker\(s\) run with MALLOC_TRIM"):
            rnnkit.sweep(series, grid, folds=2, n_jobs=2, backend="dask")
        # the README's other fix, a fixed mmap threshold beside it, is enough
        client.run(_set_mmap_threshold)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            rnnkit.sweep(series, grid, folds=2, n_jobs=2, backend="dask")


def _set_mmap_threshold():
    os.environ["MALLOC_MMAP_THRESHOLD_"] = "33554432"


def test_workers_without_trim_get_no_warning_whatever_this_process_has(swept, trim_restored):
    distributed = pytest.importorskip("distributed")
    series, _ = swept
    with local_cluster(trim=False) as cluster, distributed.Client(cluster):
        os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"  # here, not on the workers
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            rnnkit.sweep(series, {"hidden_size": [4], **TINY}, folds=2, n_jobs=2, backend="dask")


def test_the_table_is_the_same_on_a_dask_cluster(swept, dask_client):
    series, serial = swept
    table = rnnkit.sweep(series, GRID, folds=2, n_jobs=2, backend="dask")
    drop = ["train_seconds"]
    pd.testing.assert_frame_equal(table.drop(columns=drop), serial.drop(columns=drop))


def test_a_killed_dask_worker_loses_no_row_and_a_rerun_completes(dask_client, tmp_path):
    import os
    import signal
    import threading
    import time

    series = price_series()
    grid = {"hidden_size": [4, 5, 6, 7], "lookback": [10, 12], "epochs": [6], "verbose": [0]}
    path = tmp_path / "sweep.csv"
    worker = next(iter(dask_client.run(os.getpid).values()))
    killed = []

    def kill_a_worker_after_the_first_row():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if path.exists() and len(path.read_text().splitlines()) >= 2:
                os.kill(worker, signal.SIGKILL)
                killed.append(worker)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_a_worker_after_the_first_row)
    killer.start()
    try:
        rnnkit.sweep(series, grid, folds=2, n_jobs=2, backend="dask", results=path)
        outcome = "finished"  # Dask ran the lost job again on a worker that lives
    except Exception as err:  # noqa: BLE001 - or it gave up, saying why
        outcome = f"{type(err).__name__}: {err}"
    killer.join()
    assert killed  # the worker died in the middle of the sweep
    assert outcome == "finished" or "worker" in outcome.lower(), outcome
    table = rnnkit.sweep(series, grid, folds=2, results=path)  # the rerun, here
    kept = pd.read_csv(path)
    assert len(kept) == len(table) == 8 * 2
    assert kept["job"].is_unique
    assert (table["error"] == "").all()


# ---------------------------------------------------------------------------- many series


def assets(n=3):
    index = pd.date_range("2020-01-01", periods=500, freq="B")
    return pd.DataFrame({f"asset{k}": garch_series(500, seed=10 + k) for k in range(n)}, index)


FIT = {"hidden_size": 4, "epochs": 2, "verbose": 0, "lookback": 10}


def test_fit_many_fits_one_forecaster_per_column_the_same_on_processes():
    frame = assets()
    models, table = rnnkit.fit_many(frame, **FIT)
    assert sorted(models) == list(frame.columns)
    for name, model in models.items():
        mine = Forecaster(**FIT).fit(frame[name]).evaluate()
        assert model.evaluate().loc["LSTM", "rmse"] == mine.loc["LSTM", "rmse"]
    assert set(table["series"]) == set(frame.columns)
    pytest.importorskip("joblib")
    _, on_processes = rnnkit.fit_many(frame, n_jobs=2, **FIT)
    drop = ["train_seconds"]
    pd.testing.assert_frame_equal(on_processes.drop(columns=drop), table.drop(columns=drop))


def test_fit_many_takes_a_dict_and_keeps_going_past_a_series_it_cannot_fit():
    frame = assets(2)
    data = {"long": frame["asset0"], "short": frame["asset1"].iloc[:12]}
    models, table = rnnkit.fit_many(data, **FIT)
    assert list(models) == ["long"]
    failed = table[table["error"] != ""]
    assert list(failed["series"]) == ["short"]
    assert failed["error"].iloc[0]


@pytest.mark.parametrize(
    ("data", "params", "error", "message"),
    [
        ({}, {}, TypeError, "data must be a non-empty DataFrame or dict"),
        ([1.0, 2.0], {}, TypeError, "data must be a non-empty DataFrame or dict"),
        (None, {"hiden_size": 4}, TypeError, "hiden_size"),
    ],
)
def test_fit_many_refuses_bad_input_before_any_fit(data, params, error, message, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("a series was fitted")

    monkeypatch.setattr(Forecaster, "fit", no_fit)
    with pytest.raises(error, match=message):
        rnnkit.fit_many(assets() if data is None else data, **params)


# ---------------------------------------------------------------------------- review cases


def test_with_missing_dropped_no_validation_block_reaches_the_held_out_share():
    series = price_series()
    series.iloc[380:420] = np.nan  # a gap in the development part
    grid = {"missing": ["drop"], "hidden_size": [4], **TINY}
    table = rnnkit.sweep(series, grid, folds=2)
    dev = sweeps.development(series, 0.2, "drop")
    assert table["val_end"].max() == dev.index[-1]
    _, scores = sweeps.score_best(series, table)
    assert {"LSTM", "Naive"} <= set(scores.index)


def test_score_best_needs_the_table_of_a_sweep(swept):
    series, table = swept
    with pytest.raises(ValueError, match="table must be a DataFrame returned by sweep"):
        sweeps.score_best(series, pd.DataFrame(table.to_dict("records")))


def test_grids_of_numpy_values_and_overlapping_grids():
    assert sweeps.configurations({"hidden_size": np.arange(4, 6)}) == [
        {"hidden_size": 4},
        {"hidden_size": 5},
    ]
    assert type(sweeps.configurations({"hidden_size": np.arange(4, 5)})[0]["hidden_size"]) is int
    overlapping = [{"hidden_size": [8, 16]}, {"hidden_size": [8]}]
    assert sweeps.configurations(overlapping) == [{"hidden_size": 8}, {"hidden_size": 16}]


def test_an_error_with_line_breaks_and_commas_comes_back_on_one_line(tmp_path):
    store = sweeps.ResultsFile(tmp_path / "r.csv", "abc", ["hidden_size"])
    key = sweeps.job_key({"hidden_size": 4}, 0)
    store.append({"hidden_size": 4, "fold": 0, "job": key, "error": 'E: a, "b"\nc\u2028d'})
    (row,) = store.rows().values()
    assert row["error"] == 'E: a, "b" c d'


def test_another_sweeps_file_with_a_cut_line_is_refused_untouched(swept, tmp_path):
    series, _ = swept
    path = tmp_path / "sweep.csv"
    rnnkit.sweep(series, {"hidden_size": [4], **TINY}, folds=2, results=path)
    with path.open("ab") as f:
        f.write("half a line, é".encode()[:-1])  # cut inside a character
    before = path.read_bytes()
    with pytest.raises(ValueError, match="holds another sweep"):
        rnnkit.sweep(series, {"hidden_size": [4], **TINY}, folds=3, results=path)
    assert path.read_bytes() == before
    # its own sweep drops the cut line and goes on
    rnnkit.sweep(series, {"hidden_size": [4, 5], **TINY}, folds=2, results=path)
    assert len(pd.read_csv(path)) == 4


# ---------------------------------------------------------------------------- results files


@pytest.mark.parametrize(
    "index",
    [
        pd.date_range("2020-01-01", periods=500, freq="h", tz="Europe/Berlin"),
        pd.RangeIndex(1000, 1500),
        pd.Index(np.arange(500) * 0.5),
        None,  # a NumPy array: no times
    ],
    ids=["tz-aware hours", "integers", "floats", "numpy"],
)
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_rerun_gives_back_the_same_table_whatever_the_index_and_format(index, suffix, tmp_path):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    values = price_series().to_numpy()
    series = values if index is None else pd.Series(values, index=index)
    grid = {"hidden_size": [4], "lookback": [10, 12], **TINY}
    path = tmp_path / f"sweep{suffix}"
    first = rnnkit.sweep(series, grid, folds=2, results=path)
    again = rnnkit.sweep(series, grid, folds=2, results=path)
    pd.testing.assert_frame_equal(again, first)
    if index is not None:
        assert first["val_start"].iloc[0] in index
    if suffix == ".parquet":
        stored = pd.read_parquet(path)
        assert len(stored) == 4
        assert stored["rmse"].dtype == np.float64
        # in the order the jobs finished
        assert stored.set_index("job")["rmse"].loc[first["job"]].tolist() == list(first["rmse"])


def test_a_parquet_file_keeps_every_finished_row_and_refuses_another_sweep(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    series = price_series()
    path = tmp_path / "sweep.parquet"
    grid = {"hidden_size": [4, 5], **TINY}
    fit = interrupt_fit(monkeypatch, at=3)  # Ctrl-C in the third job
    with pytest.raises(KeyboardInterrupt):
        rnnkit.sweep(series, grid, folds=2, results=path)
    assert len(pd.read_parquet(path)) == 2
    monkeypatch.setattr(Forecaster, "fit", fit)
    calls = fits_counted(monkeypatch)
    table = rnnkit.sweep(series, grid, folds=2, results=path)
    assert len(calls) == 2
    assert len(pd.read_parquet(path)) == 4 == len(table)
    with pytest.raises(ValueError, match="holds another sweep"):
        rnnkit.sweep(series, grid, folds=3, results=path)
    theirs = tmp_path / "theirs.parquet"
    pd.DataFrame({"price": [1.0, 2.0]}).to_parquet(theirs)
    before = theirs.read_bytes()
    with pytest.raises(ValueError, match="is not a sweep's results file"):
        rnnkit.sweep(series, grid, folds=2, results=theirs)
    not_parquet = tmp_path / "notes.parquet"
    not_parquet.write_text("my notes")
    with pytest.raises(ValueError, match="is not a sweep's results file"):
        rnnkit.sweep(series, grid, folds=2, results=not_parquet)
    assert theirs.read_bytes() == before
    assert not_parquet.read_text() == "my notes"


def test_a_results_file_must_say_its_format_and_another_rnnkit_is_another_sweep(
    tmp_path, monkeypatch
):
    series = price_series()
    grid = {"hidden_size": [4], **TINY}
    with pytest.raises(ValueError, match=r"must end in \.csv or \.parquet"):
        rnnkit.sweep(series, grid, folds=2, results=tmp_path / "sweep.txt")
    path = tmp_path / "sweep.csv"
    rnnkit.sweep(series, grid, folds=2, results=path)
    monkeypatch.setattr(rnnkit, "__version__", "99.0")  # its numbers may differ
    with pytest.raises(ValueError, match="rnnkit version"):
        rnnkit.sweep(series, grid, folds=2, results=path)


# ---------------------------------------------------------------------------- review, round 2


def test_when_every_job_fails_rank_says_so_and_there_is_no_best(monkeypatch):
    def failing(self, past):
        raise RuntimeError("boom")

    monkeypatch.setattr(Forecaster, "fit", failing)
    series = price_series()
    table = rnnkit.sweep(series, {"lookback": [10, 12], **TINY}, folds=2)
    assert (table["error"] == "RuntimeError: boom").all()
    ranked = rnnkit.rank(table)
    assert ranked["rmse"].isna().all()
    assert list(ranked["failed"]) == [2, 2]
    assert list(ranked["folds"]) == [0, 0]
    with pytest.raises(ValueError, match="no configuration has a validation rmse: every job"):
        sweeps.score_best(series, table)


def test_a_score_undefined_on_every_block_is_not_a_failure_and_ranks_last(swept):
    _, table = swept
    table = table.copy()
    table.loc[table["lookback"] == 15, "mape"] = np.nan  # as MAPE where the truth is 0
    ranked = rnnkit.rank(table, "mape")
    assert (ranked["failed"] == 0).all()
    assert list(ranked["lookback"].iloc[-2:]) == [15, 15]
    assert ranked["folds"].iloc[-1] == 0


def test_score_best_takes_only_settings_that_do_not_change_the_fit(swept):
    series, table = swept
    with pytest.raises(ValueError, match="hidden_size would change what is fitted"):
        sweeps.score_best(series, table, hidden_size=16)
    with pytest.raises(ValueError, match="test would change what is fitted"):
        sweeps.score_best(series, table, test=0.3)


@pytest.mark.parametrize(
    ("where", "error"),
    [("missing/sweep.csv", FileNotFoundError), ("file.csv/sweep.csv", FileNotFoundError),
     ("folder.csv", IsADirectoryError)],
)  # fmt: skip
def test_a_results_path_that_cannot_take_rows_is_refused_before_any_fit(
    tmp_path, monkeypatch, where, error
):
    (tmp_path / "file.csv").write_text("mine")
    (tmp_path / "folder.csv").mkdir()

    def no_fit(*args, **kwargs):
        raise AssertionError("a configuration was fitted")

    monkeypatch.setattr(Forecaster, "fit", no_fit)
    with pytest.raises(error, match="results="):
        rnnkit.sweep(price_series(), GRID, folds=2, results=tmp_path / where)


def test_a_configuration_that_cannot_fit_the_whole_series_is_refused_before_any_fit(monkeypatch):
    series = price_series()
    series.iloc[-5] = -1.0  # in the held-out share: the log return of the refit fails

    def no_fit(*args, **kwargs):
        raise AssertionError("a configuration was fitted")

    monkeypatch.setattr(Forecaster, "fit", no_fit)
    with pytest.raises(ValueError, match=r"cannot be fitted on the whole series \(500 rows\)"):
        rnnkit.sweep(series, GRID, folds=2)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_warning_made_an_error_is_an_error_row_wherever_the_job_runs(n_jobs):
    pytest.importorskip("joblib")
    grid = {"hidden_size": [40], **TINY}  # thin data: more parameters than windows
    with warnings.catch_warnings():
        warnings.simplefilter("error", rnnkit.ThinDataWarning)
        table = rnnkit.sweep(price_series(), grid, folds=2, n_jobs=n_jobs)
    assert table["error"].str.startswith("ThinDataWarning: LSTM: only").all()


def test_a_warning_from_another_process_keeps_its_module_for_the_filters():
    pytest.importorskip("joblib")
    grid = {"hidden_size": [40], **TINY}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=rnnkit.ThinDataWarning, module=r"rnnkit\.")
        rnnkit.sweep(price_series(), grid, folds=2, n_jobs=2)
    assert not [w for w in caught if w.category is rnnkit.ThinDataWarning]


def test_dask_without_a_client_is_refused_with_how_to_open_one():
    pytest.importorskip("distributed")
    with pytest.raises(ValueError, match="backend='dask' runs the jobs on the current"):
        rnnkit.sweep(price_series(), GRID, folds=2, n_jobs=2, backend="dask")


def test_a_results_file_cut_in_its_header_or_empty_is_this_writers(swept, tmp_path):
    series, serial = swept
    path = tmp_path / "sweep.csv"
    rnnkit.sweep(series, GRID, folds=2, results=path)
    header = path.read_bytes().split(b"\n")[0]
    for start in (b"", header[:30]):
        path.write_bytes(start)
        table = rnnkit.sweep(series, GRID, folds=2, results=path)
        assert len(pd.read_csv(path)) == 8
        drop = ["train_seconds"]
        pd.testing.assert_frame_equal(table.drop(columns=drop), serial.drop(columns=drop))


def test_a_results_file_of_other_parameters_says_so_and_a_resume_says_what_it_read(
    swept, tmp_path, capsys
):
    series, _ = swept
    path = tmp_path / "sweep.csv"
    rnnkit.sweep(series, {"hidden_size": [4], **TINY}, folds=2, results=path)
    with pytest.raises(
        ValueError,
        match=r"holds a sweep over other parameters \(batch_size, "
        r"epochs, hidden_size, verbose; this one's are batch_size, dropout",
    ):
        rnnkit.sweep(series, {"hidden_size": [4], "dropout": [0.1], **TINY}, folds=2,
                     results=path)  # fmt: skip
    capsys.readouterr()
    rnnkit.sweep(series, {"hidden_size": [4, 5], **TINY}, folds=2, results=path, progress=True)
    assert f"sweep: 2 of 4 jobs read back from {path}" in capsys.readouterr().err


def test_rank_prints_its_scores_and_reads_a_table_back_from_csv(swept, tmp_path):
    _, table = swept
    table.to_csv(tmp_path / "t.csv", index=False)
    back = pd.read_csv(tmp_path / "t.csv")  # no error: NaN, not ""
    ranked = rnnkit.rank(back)
    assert (ranked["failed"] == 0).all()
    text = repr(ranked)
    assert "config" not in text
    assert "RMSE" in text


def test_a_variant_is_crossed_with_the_lstm_only():
    grid = {"cell": ["gru", "lstm"], "variant": ["vanilla", "cifg"]}
    assert sweeps.configurations(grid) == [
        {"cell": "gru", "variant": "vanilla"},
        {"cell": "lstm", "variant": "vanilla"},
        {"cell": "lstm", "variant": "cifg"},
    ]
    with pytest.raises(ValueError, match="a variant other than 'vanilla' is the LSTM's"):
        sweeps.configurations({"cell": ["gru"], "variant": ["cifg"]})
