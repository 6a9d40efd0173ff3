"""Many configurations of a Forecaster on walk-forward folds, chosen on validation only.

:func:`sweep` trains every configuration of a grid on the walk-forward folds of the
series' *development* part (all but its last ``test`` share): each fold refits the scaler,
the network and the baselines on its past only and is scored on its block. :func:`rank`
orders the configurations by their mean score over those validation blocks, and
:func:`score_best` refits the first of them on the whole development part and scores it
on the held-out test share, which nothing before has seen: the choice never looks at it.

The (configuration, fold) jobs run through joblib like :meth:`Forecaster.backtest`'s folds
(``n_jobs``, ``backend``, ``threads_per_job``; see ``rnnkit._jobs``).
"""

import csv
import hashlib
import io
import itertools
import json
import os

import numpy as np

from . import _jobs
from . import data as _data
from ._checks import check_fraction
from .forecaster import Forecaster, fit_fold
from .metrics import SCORES

# Scores where more is better; every other metric of evaluate is an error.
HIGHER_IS_BETTER = ("directional_accuracy", "skill")


def configurations(grid):
    """Every configuration of ``grid``: a dict of lists of values (their product), or a
    list of such dicts (the union of their products), as scikit-learn's ParameterGrid."""
    grids = [grid] if isinstance(grid, dict) else grid
    if not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
        raise TypeError(f"grid must be a dict of lists or a list of dicts, got {grid!r}")
    valid = sorted(Forecaster().get_params(deep=False))
    configs = []
    for g in grids:
        for name, values in g.items():
            if name not in valid:
                raise ValueError(
                    f"grid: Forecaster has no parameter {name!r}; its parameters are "
                    f"{', '.join(valid)}"
                )
            if name == "test":
                raise ValueError("grid: 'test' is the held-out share: pass it to sweep(test=)")
            if not isinstance(values, list | tuple | np.ndarray) or len(values) == 0:
                raise TypeError(
                    f"grid[{name!r}] must be a non-empty list of values, got {values!r}"
                )
        if not g:
            continue  # no parameter: no configuration (not one of all defaults)
        names = list(g)
        values = [[_plain(v) for v in g[name]] for name in names]
        configs += [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
    if not configs:
        raise ValueError("grid is empty: give at least one parameter with one value")
    # a configuration listed twice (by overlapping grids) is one configuration
    first = {}
    for config in configs:
        first.setdefault(json.dumps(config, sort_keys=True), config)
    return list(first.values())


def _plain(value):
    """A NumPy scalar (from np.arange, say) as the Python value it holds."""
    return value.item() if isinstance(value, np.generic) else value


def development(series, test, missing=None):
    """``series`` without its last ``test`` share, counted as a Forecaster's fit counts it
    (after its ``missing`` policy): where configurations are chosen."""
    if missing is None:
        missing = Forecaster().missing
    series = _data.handle_missing(series, missing)
    cut = len(series) - round(len(series) * check_fraction("test", test))
    return series.iloc[:cut] if hasattr(series, "iloc") else series[:cut]


def _sweep_job(config, past, test, val, fold):
    """One configuration on one validation fold, as a job: its row of the sweep. A job
    that raises is a row too, with its error, so that the others go on."""
    key = {**config, "fold": fold, "job": job_key(config, fold)}
    try:
        return {**key, **_scores(config, past, test, val), "error": ""}
    except Exception as err:  # noqa: BLE001 - any failure of one configuration is its row
        return {**key, "error": f"{type(err).__name__}: {err}"}


def job_key(config, fold):
    """What names a job in a results file: its configuration and fold, as JSON."""
    return json.dumps({"config": config, "fold": fold}, sort_keys=True)


def _scores(config, past, test, val):
    # many jobs at once: silent, unless the grid asks for progress
    forecaster, when = fit_fold(Forecaster, {"verbose": 0, **config}, past, test, val)
    rows = {row["model"]: row for row in forecaster.evaluate(as_frame=False)}
    network, naive = rows[forecaster.name], rows["Naive"]
    return {
        **{k.replace("test_", "val_"): v for k, v in when.items()},
        **{k: network[k] for k in (*SCORES, "train_seconds")},
        **{f"naive_{k}": naive[k] for k in SCORES},
        "epochs_run": len(forecaster.history_.train_loss),
    }


def sweep(
    series, grid, *, folds=3, test=0.2, n_jobs=1, backend=None, threads_per_job=None,
    results=None,
):  # fmt: skip
    """Every configuration of ``grid`` on ``folds`` walk-forward validation folds.

    Parameters
    ----------
    series : array-like or pandas Series/DataFrame
        What :meth:`Forecaster.fit` takes.
    grid : dict of list, or list of dict
        Forecaster parameters and the values to try (:func:`configurations`); parameters
        not in it keep the Forecaster's defaults.
    folds : int
        Validation folds, cut from the last ``test`` share of the development part.
    test : float
        The held-out share at the end of the series: never used here (see
        :func:`score_best`).
    n_jobs, backend, threads_per_job
        How the (configuration, fold) jobs run: see :meth:`Forecaster.backtest`.
    results : str or path-like or None
        A CSV file that keeps every finished job's row, appended (and flushed to disk)
        the moment the job ends. A rerun of the same sweep (the same data, folds and
        test share) skips the jobs already there, so an interrupted sweep resumes where
        it stopped; a file of another sweep, or one rnnkit did not write, is refused.

    Returns
    -------
    table
        One row per configuration and fold: the configuration's parameters, ``fold``,
        the block's first and last target times (``val_start``, ``val_end``) for a
        series with an index, every metric of :meth:`Forecaster.evaluate` for the
        network and, prefixed ``naive_``, for the naive forecast, ``train_seconds``,
        ``epochs_run``, ``error`` (empty, or why the job failed: its scores are then
        missing) and ``job`` (its configuration and fold as JSON). A DataFrame when pandas is installed.
    """
    configs = configurations(grid)
    jobs = [
        (config, past, fold_test, val, k)
        for config in configs
        for k, (_, past, fold_test, val) in enumerate(
            Forecaster(**config, test=test)._folds(
                development(series, test, config.get("missing")), folds
            )
        )
    ]
    _jobs.check_engine(n_jobs, backend, threads_per_job)  # before the results file is read
    kept = {}
    on_result = None
    if results is not None:
        names = sorted({name for config in configs for name in config})
        store = ResultsFile(results, fingerprint(series, folds, test), names)
        kept = store.rows()
        on_result = lambda k, row: store.append(row)
    todo = [job for job in jobs if job_key(job[0], job[4]) not in kept]
    new = {row["job"]: row for row in _jobs.run(_sweep_job, todo, n_jobs, backend,
                                                  threads_per_job, on_result)}  # fmt: skip
    # each row's parameters in the grid's order, whether it ran now or was read back
    rows = [{**j[0], **(new.get(key) or kept[key])} for j in jobs for key in [job_key(j[0], j[4])]]
    try:
        import pandas as pd
    except ImportError:
        return rows
    table = pd.DataFrame(rows)
    table.attrs["test"] = test  # the held-out share, for score_best
    # a results file keeps times as text: dates again, as the series has them
    if isinstance(getattr(series, "index", None), pd.DatetimeIndex):
        for column in ("val_start", "val_end"):
            table[column] = pd.to_datetime(table[column])
    return table


def fingerprint(series, folds, test):
    """What makes two sweeps the same sweep: the data (values and index), the folds and
    the held-out share; a short hex digest."""
    digest = hashlib.sha256(json.dumps({"folds": folds, "test": test}).encode())
    if hasattr(series, "to_numpy"):
        import pandas as pd

        digest.update(pd.util.hash_pandas_object(series, index=True).to_numpy().tobytes())
    else:
        values = np.ascontiguousarray(np.asarray(series))
        digest.update(f"{values.dtype}{values.shape}".encode() + values.tobytes())
    return digest.hexdigest()[:16]


class ResultsFile:
    """A sweep's rows in a CSV file: a header, then one line per finished job, each
    appended and flushed to disk as the job ends, so that a crash loses at most the
    line being written (a line cut short is ignored and its job runs again)."""

    def __init__(self, path, sweep_id, params):
        self.path = os.fspath(path)
        self.sweep_id = sweep_id
        scores = [*SCORES, "train_seconds", *(f"naive_{s}" for s in SCORES), "epochs_run"]
        self.columns = ["sweep", "job", *params, "fold", "val_start", "val_end", *scores, "error"]

    def rows(self):
        """The finished jobs' rows already in the file, by job key ({} for a new file).
        Every row is one line (the writer keeps line breaks out of its cells), so a line
        without its end was cut short by a crash: it is dropped from the file, once the
        file is known to be this sweep's, and its job runs again."""
        if not os.path.exists(self.path):
            return {}
        with open(self.path, "rb") as f:
            data = f.read()
        whole = data[: data.rfind(b"\n") + 1]  # bytes, so that a cut character is cut too
        records = list(csv.reader(io.StringIO(whole.decode("utf-8", "replace"), newline="")))
        if not records or records[0] != self.columns:
            raise ValueError(
                f"results={self.path!r} is not this sweep's results file (its header is not "
                f"{','.join(self.columns)}): rnnkit leaves it alone; give another path"
            )
        kept = {}
        for fields in records[1:]:
            if len(fields) != len(self.columns):
                continue  # not a row this writer wrote whole: its job runs again
            row = dict(zip(self.columns, fields, strict=True))
            if row.pop("sweep") != self.sweep_id:
                raise ValueError(
                    f"results={self.path!r} holds another sweep (other data, folds or test "
                    "share): give another path, or delete the file to start afresh"
                )
            kept[row["job"]] = self._typed(row)
        if len(whole) < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(len(whole))
        return kept

    def _typed(self, row):
        """A row read back: the configuration from its job key, scores as floats."""
        job = json.loads(row["job"])
        typed = {**job["config"], "fold": job["fold"], "job": row["job"]}
        for name in self.columns[self.columns.index("val_start") : -1]:
            if row[name] != "":
                typed[name] = row[name] if name.startswith("val_") else float(row[name])
        if typed.get("epochs_run") is not None:
            typed["epochs_run"] = int(typed["epochs_run"])
        typed["error"] = row["error"]
        return typed

    def append(self, row):
        new = not os.path.exists(self.path)
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(self.columns)
            cells = {**row, "sweep": self.sweep_id}
            writer.writerow([_cell(cells.get(name)) for name in self.columns])
            f.flush()
            os.fsync(f.fileno())


def _cell(value):
    """A value as the file keeps it: floats exactly (repr), missing as empty, and text
    on one line (an error message's line breaks as spaces)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return " ".join(str(value).splitlines())


def _fit_one(name, series, params):
    """One series as a job: (its fitted Forecaster or None, its rows of evaluate, each
    with the series' name, or one row with the error that stopped it)."""
    try:
        forecaster = Forecaster(**params).fit(series)
    except Exception as err:  # noqa: BLE001 - one series that fails is its row
        return None, [{"series": name, "error": f"{type(err).__name__}: {err}"}]
    rows = forecaster.evaluate(as_frame=False)
    return forecaster, [{"series": name, **row, "error": ""} for row in rows]


def fit_many(data, *, n_jobs=1, backend=None, threads_per_job=None, **params):
    """One Forecaster of ``params`` per series, fitted as joblib jobs: for many assets.

    Parameters
    ----------
    data : pandas DataFrame or dict
        A DataFrame's columns (each a price series on the shared index), or a dict of
        name -> series (any input :meth:`Forecaster.fit` takes). Each job is shipped
        its own series only.
    n_jobs, backend, threads_per_job
        How the jobs run: see :meth:`Forecaster.backtest`.
    **params
        Forecaster parameters, the same for every series.

    Returns
    -------
    models : dict
        name -> fitted Forecaster, for every series that could be fitted.
    table
        The rows of :meth:`Forecaster.evaluate` of every series, with a ``series``
        column and an ``error`` column (empty, or why that series could not be fitted).
    """
    if hasattr(data, "columns"):
        data = {name: data[name] for name in data.columns}
    if not isinstance(data, dict) or not data:
        raise TypeError(f"data must be a non-empty DataFrame or dict of series, got {data!r}")
    Forecaster(**params)  # an unknown parameter is refused here, before any job
    # many jobs at once: silent, unless asked for progress
    jobs = [(name, series, {"verbose": 0, **params}) for name, series in data.items()]
    done = _jobs.run(_fit_one, jobs, n_jobs, backend, threads_per_job)
    models = {name: model for (name, _, _), (model, _) in zip(jobs, done, strict=True) if model}
    rows = [row for _, fold_rows in done for row in fold_rows]
    try:
        import pandas as pd
    except ImportError:
        return models, rows
    return models, pd.DataFrame(rows)


def rank(table, metric="rmse"):
    """The configurations of a :func:`sweep` table, best first by their mean ``metric``
    over the validation folds, with its spread (std), the naive forecast's mean, the
    folds scored and the folds whose job failed. Needs pandas."""
    import pandas as pd

    table = pd.DataFrame(table)
    if metric not in SCORES:
        raise ValueError(f"metric must be one of {', '.join(SCORES)}, got {metric!r}")
    # one group per configuration, whatever its values (lists, None, missing parameters)
    config = table["job"].map(lambda job: json.dumps(json.loads(job)["config"], sort_keys=True))
    by = table.groupby(config, sort=False)
    ranked = pd.DataFrame(
        {
            metric: by[metric].mean(),
            f"{metric}_std": by[metric].std(),
            f"naive_{metric}": by[f"naive_{metric}"].mean(),
            "folds": by[metric].count(),
            "failed": by.size() - by[metric].count(),
        }
    )
    ranked.index.name = "config"
    ranked = ranked.reset_index()
    params = pd.DataFrame([json.loads(c) for c in ranked["config"]], index=ranked.index)
    ranked = pd.concat([params, ranked], axis=1)
    # a configuration with a failed fold is never chosen over one that ran them all
    ascending = [True, metric not in HIGHER_IS_BETTER]
    ranked = ranked.sort_values(["failed", metric], ascending=ascending, kind="stable")
    return ranked.reset_index(drop=True)


def score_best(series, table, metric="rmse"):
    """The best configuration of :func:`rank` refitted on everything before the held-out
    test share of the :func:`sweep` that made ``table`` and scored on that share: (its
    parameters, :meth:`Forecaster.evaluate`'s table)."""
    if "test" not in getattr(table, "attrs", {}):
        raise ValueError("table must be a DataFrame returned by sweep (it records its test share)")
    config = json.loads(rank(table, metric)["config"].iloc[0])
    forecaster = Forecaster(**config, test=table.attrs["test"]).fit(series)
    return config, forecaster.evaluate()
