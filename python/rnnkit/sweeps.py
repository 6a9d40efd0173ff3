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

import itertools

from . import _jobs
from ._checks import check_fraction
from .forecaster import Forecaster, fit_fold

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
            if not isinstance(values, list | tuple) or not values:
                raise TypeError(
                    f"grid[{name!r}] must be a non-empty list of values, got {values!r}"
                )
        if not g:
            continue  # no parameter: no configuration (not one of all defaults)
        names = list(g)
        configs += [
            dict(zip(names, combo, strict=True)) for combo in itertools.product(*g.values())
        ]
    if not configs:
        raise ValueError("grid is empty: give at least one parameter with one value")
    return configs


def development(series, test):
    """``series`` without its last ``test`` share: where configurations are chosen."""
    cut = len(series) - round(len(series) * check_fraction("test", test))
    return series.iloc[:cut] if hasattr(series, "iloc") else series[:cut]


def _sweep_job(config, past, test, val, fold):
    """One configuration on one validation fold, as a job: its row of the sweep."""
    forecaster, when = fit_fold(Forecaster, config, past, test, val)
    rows = {row["model"]: row for row in forecaster.evaluate(as_frame=False)}
    scores = {k: v for k, v in rows[forecaster.name].items() if k not in ("model", "parameters")}
    naive = {f"naive_{k}": v for k, v in rows["Naive"].items() if k not in _NOT_SCORES}
    return {
        **config,
        "fold": fold,
        **{k.replace("test_", "val_"): v for k, v in when.items()},
        **scores,
        **naive,
        "epochs_run": len(forecaster.history_.train_loss),
    }


_NOT_SCORES = ("model", "parameters", "train_seconds", "epochs_run")


def sweep(series, grid, *, folds=3, test=0.2, n_jobs=1, backend=None, threads_per_job=None):
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

    Returns
    -------
    table
        One row per configuration and fold: the configuration's parameters, ``fold``,
        the block's first and last target times (``val_start``, ``val_end``) for a
        series with an index, every metric of :meth:`Forecaster.evaluate` for the
        network and, prefixed ``naive_``, for the naive forecast, ``train_seconds`` and
        ``epochs_run``. A DataFrame when pandas is installed.
    """
    configs = configurations(grid)
    dev = development(series, test)
    jobs = [
        (config, past, fold_test, val, k)
        for config in configs
        for k, (_, past, fold_test, val) in enumerate(
            Forecaster(**config, test=test)._folds(dev, folds)
        )
    ]
    rows = _jobs.run(_sweep_job, jobs, n_jobs, backend, threads_per_job)
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)


def rank(table, metric="rmse"):
    """The configurations of a :func:`sweep` table, best first by their mean ``metric``
    over the validation folds, with its spread (std), the naive forecast's mean and the
    folds counted. Needs pandas."""
    import pandas as pd

    table = pd.DataFrame(table)
    if metric not in table.columns or metric in _NOT_SCORES or metric.startswith("naive_"):
        scores = [c for c in table.columns if f"naive_{c}" in table.columns]
        raise ValueError(f"metric must be one of {', '.join(scores)}, got {metric!r}")
    params = [c for c in table.columns if c in Forecaster().get_params(deep=False)]
    by = table.groupby(params, dropna=False, sort=False)
    ranked = pd.DataFrame(
        {
            metric: by[metric].mean(),
            f"{metric}_std": by[metric].std(),
            f"naive_{metric}": by[f"naive_{metric}"].mean(),
            "folds": by.size(),
        }
    ).reset_index()
    best_first = metric not in HIGHER_IS_BETTER
    return ranked.sort_values(metric, ascending=best_first, kind="stable").reset_index(drop=True)


def score_best(series, table, metric="rmse", test=0.2):
    """The best configuration of :func:`rank` refitted on the development part and scored
    on the held-out test share: (its parameters, :meth:`Forecaster.evaluate`'s table)."""
    best = rank(table, metric).head(1).to_dict("records")[0]  # each column keeps its type
    params = set(Forecaster().get_params(deep=False))
    config = {k: _plain(v) for k, v in best.items() if k in params}
    forecaster = Forecaster(**config, test=test).fit(series)
    return config, forecaster.evaluate()


def _plain(value):
    """A NumPy scalar from a DataFrame as the Python value a Forecaster expects."""
    return value.item() if hasattr(value, "item") else value
