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
import functools
import hashlib
import io
import itertools
import json
import os
import sys

import numpy as np

from . import _jobs
from . import data as _data
from ._checks import check_fraction, check_int
from ._output import replace_atomically
from .forecaster import Forecaster, fit_fold
from .metrics import SCORES
from .models import cell_class

# Scores where more is better; every other metric of evaluate is an error.
HIGHER_IS_BETTER = ("directional_accuracy", "skill")
# What ranks the configurations unless asked otherwise
METRIC = "rmse"
# A row's numbers: the network's scores and seconds, the naive forecast's scores, the
# epochs run (an integer)
ROW_SCORES = (*SCORES, "train_seconds", *(f"naive_{s}" for s in SCORES), "epochs_run")


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
    # a variant is the LSTM's: (gru, cifg) would be (gru, vanilla) again, or nothing
    configs = [c for c in configs if c.get("variant", "vanilla") == "vanilla"
               or c.get("cell", Forecaster().cell) == "lstm"]  # fmt: skip
    if not configs:
        raise ValueError(
            "grid is empty: give at least one parameter with one value (a variant other "
            "than 'vanilla' is the LSTM's: with another cell it makes no configuration)"
        )
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
    network, naive = rows[forecaster.name], {f"naive_{k}": v for k, v in rows["Naive"].items()}
    scores = {**network, **naive, "epochs_run": len(forecaster.history_.train_loss)}
    return {
        **{k.replace("test_", "val_"): v for k, v in when.items()},
        **{k: scores[k] for k in ROW_SCORES},
    }


def sweep(
    series, grid, *, folds=3, test=0.2, n_jobs=1, backend=None, threads_per_job=None,
    results=None, progress=False,
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
        How the (configuration, fold) jobs run: see :meth:`Forecaster.backtest`. The
        costliest configurations start first, so that no worker idles at the end.
    results : str or path-like or None
        A ``.csv`` (or, with pyarrow, ``.parquet``) file that keeps every finished job's
        row the moment the job ends (see :class:`ResultsFile`). A rerun of the same sweep
        (the same data, folds, test share and rnnkit version) skips the jobs already
        there, so an interrupted sweep resumes where it stopped; a file of another sweep,
        or one rnnkit did not write, is refused and left as it is.
    progress : bool
        A progress bar over the jobs (tqdm; a line per job without it).

    Returns
    -------
    table
        One row per configuration and fold: the configuration's parameters, ``fold``,
        the block's first and last target times (``val_start``, ``val_end``) for a
        series with an index, every metric of :meth:`Forecaster.evaluate` for the
        network and, prefixed ``naive_``, for the naive forecast, ``train_seconds``,
        ``epochs_run``, ``error`` (empty, or why the job failed: its scores are then
        missing) and ``job`` (its configuration and fold as JSON). A DataFrame when
        pandas is installed.
    """
    configs = configurations(grid)
    folds = check_int("folds", folds)
    # the development part once per missing policy, not once per configuration
    develop = functools.cache(lambda missing: development(series, test, missing))
    jobs = [
        (config, past, fold_test, val, k)
        for config in configs
        for k, (_, past, fold_test, val) in enumerate(
            Forecaster(**config, test=test)._folds(develop(config.get("missing")), folds)
        )
    ]
    for config, past, fold_test, val, k in jobs:
        if k == 0:
            _check(config, series, past, fold_test, val, test)
    _jobs.check_engine(n_jobs, backend, threads_per_job)  # before the results file is read
    kept = {}
    on_result = None
    if results is not None:
        names = sorted({name for config in configs for name in config})
        index = getattr(series, "index", None)
        store = ResultsFile(results, fingerprint(series, folds, test), names, index)
        kept = store.rows()
        on_result = lambda k, row: store.append(row)
    keys = [job_key(config, k) for config, *_, k in jobs]
    if progress and kept:
        done = sum(key in kept for key in keys)
        print(f"sweep: {done} of {len(jobs)} jobs read back from {results}", file=sys.stderr)
    todo = [job for job, key in zip(jobs, keys, strict=True) if key not in kept]
    done = _jobs.run(
        _sweep_job, todo, n_jobs, backend, threads_per_job, on_result,
        costs=[_cost(config, past) for config, past, *_ in todo],
        progress="sweep" if progress else None,
    )  # fmt: skip
    new = {row["job"]: row for row in done}
    # each row's parameters in the grid's order, whether it ran now or was read back
    rows = [{**j[0], **(new.get(key) or kept[key])} for j, key in zip(jobs, keys, strict=True)]
    try:
        import pandas as pd
    except ImportError:
        return rows
    table = pd.DataFrame(rows)
    for name in ROW_SCORES:  # a table of failed jobs only has them too
        if name not in table:
            table[name] = np.nan
    table.attrs["test"] = test  # the held-out share, for score_best
    return table


def _check(config, series, past, fold_test, val, test):
    """Every parameter of a configuration checked, nothing trained: on its first fold
    (the shortest past: what fits it fits every fold) and on the whole series, as
    :func:`score_best` would fit it. A value that cannot be right is refused before any
    job runs, not reported once a fold or after the last."""
    fits = (
        ("the first fold", past, {"test": fold_test, "val": val}),
        ("the whole series", series, {"test": test}),
    )
    for where, data, shares in fits:
        try:
            Forecaster(**{"verbose": 0, **config, **shares})._prepare(data)
        except (TypeError, ValueError) as err:
            raise type(err)(
                f"grid: the configuration {config} cannot be fitted on {where} "
                f"({len(data)} rows): {err}"
            ) from None


def _cost(config, past):
    """A job's expected cost, to start the costliest first: the multiply-adds of its
    recurrent products at most, about epochs x rows x lookback x layers x gates x H x H."""
    f = Forecaster(**config)
    units = f.hidden_size
    steps = f.epochs * len(past) * f.lookback * f.num_layers
    return steps * cell_class(f.cell)._gates * units * units


def fingerprint(series, folds, test):
    """What makes two sweeps the same sweep: the data (values and index), the folds, the
    held-out share and the version of rnnkit (another may train to other numbers); a
    short hex digest."""
    from . import __version__

    digest = hashlib.sha256(
        json.dumps({"folds": folds, "test": test, "rnnkit": __version__}).encode()
    )
    if hasattr(series, "to_numpy"):
        import pandas as pd

        digest.update(pd.util.hash_pandas_object(series, index=True).to_numpy().tobytes())
    else:
        values = np.ascontiguousarray(np.asarray(series))
        digest.update(f"{values.dtype}{values.shape}".encode() + values.tobytes())
    return digest.hexdigest()[:16]


# what a results file may be, by its extension
RESULTS_FORMATS = (".csv", ".parquet")


class ResultsFile:
    """A sweep's rows in a file, kept as each job ends: a crash loses no finished job.

    A CSV file has a header, then one line per finished job, appended and flushed to
    disk as the job ends; a line cut short by a crash is ignored and its job runs again.
    A Parquet file (pyarrow needed) cannot be appended to: it is rewritten whole, beside
    itself and renamed over itself, after every job. Both hold the same cells (scores as
    numbers; parameters and times as text, the parameters also in the ``job`` key).
    """

    def __init__(self, path, sweep_id, params, index=None):
        self.path = os.fspath(path)
        self.format = os.path.splitext(self.path)[1].lower()
        if self.format not in RESULTS_FORMATS:
            raise ValueError(
                f"results={self.path!r} must end in {' or '.join(RESULTS_FORMATS)} (the "
                "file's format)"
            )
        folder = os.path.dirname(os.path.abspath(self.path))
        # where the rows will go, checked before any job: not after the first has ended
        if os.path.isdir(self.path):
            raise IsADirectoryError(f"results={self.path!r} is a folder; give a file's path")
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"results={self.path!r}: its folder {folder!r} does not exist (or is a file)"
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"results={self.path!r}: no permission to write in {folder!r}")
        if self.format == ".parquet":
            try:
                import pyarrow  # noqa: F401 - pandas writes Parquet through it
            except ImportError:
                raise ImportError(
                    "results in a .parquet file need pyarrow: pip install 'rnnkit[parquet]' (or give "
                    "a .csv file)"
                ) from None
        self.sweep_id = sweep_id
        self.index = index  # the series' index: the block times are read back as it holds them
        self.columns = ["sweep", "job", *params, "fold", "val_start", "val_end", *ROW_SCORES,
                        "error"]  # fmt: skip
        self.lines = []  # a Parquet file's rows, as cells: what each rewrite writes

    def rows(self):
        """The finished jobs' rows already in the file, by job key ({} for a new file).
        A file that is not this sweep's is refused, untouched. A file that holds only
        the header is this writer's, whatever sweep wrote it: it has nothing to lose."""
        if not os.path.exists(self.path):
            return {}
        records = self._read_parquet() if self.format == ".parquet" else self._read_csv()
        if self.format == ".csv" and self._header_cut_short():
            return {}  # a crash while the header was written: nothing to lose, start afresh
        if not records or records[0] != self.columns:
            raise ValueError(self._not_mine(records[0] if records else []))
        kept = {}
        for fields in records[1:]:
            if len(fields) != len(self.columns):
                continue  # not a row this writer wrote whole: its job runs again
            row = dict(zip(self.columns, fields, strict=True))
            if row["sweep"] != self.sweep_id:
                raise ValueError(
                    f"results={self.path!r} holds another sweep (other data, folds, test "
                    "share or rnnkit version): give another path, or delete the file to "
                    "start afresh"
                )
            kept[row["job"]] = self._typed(row)
            if self.format == ".parquet":
                self.lines.append(fields)
        if self.format == ".csv":
            self._drop_cut_line()
        return kept

    def _not_mine(self, header):
        """Why a file with ``header`` is not this sweep's results file."""
        fixed = len(ROW_SCORES) + 4  # the fold, its times, the scores and the error
        params = self.columns[2:-fixed]
        if header[:2] == self.columns[:2] and header[-fixed:] == self.columns[-fixed:]:
            theirs = header[2:-fixed]
            return (
                f"results={self.path!r} holds a sweep over other parameters ({', '.join(theirs)}"
                f"; this one's are {', '.join(params)}): give another path for this grid"
            )
        return (
            f"results={self.path!r} is not a sweep's results file (its columns are not "
            f"{','.join(self.columns)}): rnnkit leaves it alone; give another path"
        )

    def _read_csv(self):
        """The file's lines as lists of cells. Every row is one line (the writer keeps
        line breaks out of its cells), so a last line without its end was cut short."""
        with open(self.path, "rb") as f:
            self.data = f.read()
        # bytes, so that a cut character is cut too
        self.whole = self.data[: self.data.rfind(b"\n") + 1]
        return list(csv.reader(io.StringIO(self.whole.decode("utf-8", "replace"), newline="")))

    def _header_cut_short(self):
        """Whether the file holds no more than a beginning of this writer's header line
        (or nothing): a file it started, cut before the header's end. It is emptied, to
        be written afresh."""
        header = (",".join(self.columns) + "\r\n").encode()  # as csv.writer ends lines
        if self.whole or not header.startswith(self.data):
            return False
        with open(self.path, "r+b") as f:
            f.truncate(0)
        return True

    def _drop_cut_line(self):
        """Truncate a line cut short, once the file is known to be this sweep's."""
        if len(self.whole) < len(self.data):
            with open(self.path, "r+b") as f:
                f.truncate(len(self.whole))

    def _read_parquet(self):
        import pandas as pd

        try:
            frame = pd.read_parquet(self.path)
        except Exception:  # noqa: BLE001 - pyarrow's errors for a file that is not Parquet
            return []  # (a Parquet file rnnkit wrote is whole: it is renamed into place)
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False)
        return [list(frame.columns), *([_cell(v) for v in row] for row in rows)]

    def _typed(self, row):
        """A row read back: the configuration from its job key, scores as numbers and
        block times as the series' index holds them."""
        job = json.loads(row["job"])
        typed = {**job["config"], "fold": job["fold"], "job": row["job"]}
        for name in ("val_start", "val_end"):
            if row[name] != "":
                typed[name] = _time(row[name], self.index)
        for name in ROW_SCORES:
            if row[name] != "":
                typed[name] = float(row[name])
        if "epochs_run" in typed:
            typed["epochs_run"] = int(typed["epochs_run"])
        typed["error"] = row["error"]
        return typed

    def append(self, row):
        cells = [_cell({**row, "sweep": self.sweep_id}.get(name)) for name in self.columns]
        if self.format == ".parquet":
            self.lines.append(cells)
            replace_atomically(self.path, self._write_parquet)
            return
        new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(self.columns)
            writer.writerow(cells)
            f.flush()
            os.fsync(f.fileno())

    def _write_parquet(self, path):
        import pandas as pd

        frame = pd.DataFrame(self.lines, columns=self.columns, dtype=object)
        for name in ROW_SCORES:
            frame[name] = pd.to_numeric(frame[name].replace("", None), errors="raise")
        frame["epochs_run"] = frame["epochs_run"].astype("Int64")
        frame.to_parquet(path, index=False)
        with open(path, "rb+") as f:  # on disk before it is renamed over the last one
            os.fsync(f.fileno())


def _cell(value):
    """A value as a results file keeps it: floats exactly (repr), missing as empty, and
    text on one line (an error message's line breaks as spaces)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return " ".join(str(value).splitlines())


def _time(text, index):
    """A block's time read back from a results file, as ``index`` (the series') holds it."""
    import pandas as pd

    if isinstance(index, pd.DatetimeIndex):
        time = pd.Timestamp(text)
        return time.tz_convert(index.tz) if index.tz is not None else time.to_datetime64()
    if index is not None and index.dtype.kind in "iuf":
        return index.dtype.type(text)
    return text


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


def rank(table, metric=METRIC):
    """The configurations of a :func:`sweep` table, best first by their mean ``metric``
    over the validation folds, with its spread (std), the naive forecast's mean, the
    folds scored and the folds whose job failed. A configuration with a failed fold
    comes after those that ran every fold, and one without a score at all (every job
    failed, or the metric is undefined on its blocks, as MAPE where the truth is 0)
    comes last. Needs pandas."""
    import pandas as pd

    if metric not in SCORES:
        raise ValueError(f"metric must be one of {', '.join(SCORES)}, got {metric!r}")
    table = pd.DataFrame(table)
    # a job failed when it has an error message (a table read from CSV holds NaN for none)
    failed = table["error"].map(lambda error: isinstance(error, str) and error != "")
    # one group per configuration, whatever its values (lists, None, missing parameters)
    config = table["job"].map(lambda job: json.dumps(json.loads(job)["config"], sort_keys=True))
    by = table.groupby(config, sort=False)
    ranked = pd.DataFrame(
        {
            metric: by[metric].mean(),
            f"{metric}_std": by[metric].std(),
            f"naive_{metric}": by[f"naive_{metric}"].mean(),
            "folds": by[metric].count(),
            "failed": failed.groupby(config, sort=False).sum(),
        }
    )
    ranked.index.name = "config"
    ranked = ranked.reset_index()
    params = pd.DataFrame([json.loads(c) for c in ranked["config"]], index=ranked.index)
    ranked = pd.concat([params, ranked], axis=1)
    ascending = [True, metric not in HIGHER_IS_BETTER]
    ranked = ranked.sort_values(["failed", metric], ascending=ascending, kind="stable",
                                na_position="last")  # fmt: skip
    from ._table import RankedTable

    return RankedTable(ranked.reset_index(drop=True))


def varying(table):
    """The parameters of a :func:`sweep` table that take more than one value, those with
    the most values first (in the grid's order among equals)."""
    names = dict.fromkeys(name for job in table["job"] for name in json.loads(job)["config"])
    counts = {name: table[name].map(repr).nunique() for name in names}
    return sorted((name for name in names if counts[name] > 1), key=lambda n: -counts[n])


def score_best(series, table, metric=METRIC, **params):
    """The best configuration of :func:`rank` refitted on everything before the held-out
    test share of the :func:`sweep` that made ``table`` and scored on that share: (its
    parameters, :meth:`Forecaster.evaluate`'s table). ``params`` are Forecaster
    parameters that do not change what is fitted, set beside the configuration's (such
    as ``verbose=0``)."""
    if "test" not in getattr(table, "attrs", {}):
        raise ValueError("table must be a DataFrame returned by sweep (it records its test share)")
    ranked = rank(table, metric)
    scored = ranked[ranked[metric].notna()]
    if scored.empty:
        raise ValueError(
            f"no configuration has a validation {metric}: every job failed, or {metric} is "
            "undefined on the validation blocks (see the table's error column)"
        )
    config = json.loads(scored["config"].iloc[0])
    clash = sorted(set(params) & {*config, "test"})
    if clash:
        raise ValueError(
            f"score_best: {', '.join(clash)} would change what is fitted: the configuration "
            "and the sweep's test share decide that"
        )
    forecaster = Forecaster(**{**config, **params}, test=table.attrs["test"]).fit(series)
    return config, forecaster.evaluate()
