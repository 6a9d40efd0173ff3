"""The main job: networks and baselines on one series, one table, one folder of pictures."""

import numpy as np

from . import _output
from .forecaster import Forecaster
from .metrics import INTERVAL_SCORES
from .models import NETWORKS

# What the table's numbers are, by Forecaster transform ("volatility" or a price's).
# The transform's words in the heading of a run: what is forecast.
FORECASTING = {
    "log_return": "log returns",
    "return": "returns",
    "none": "values",
    "volatility": "volatility: the absolute log return, in percent",
}
SKILL = "skill = 1 - RMSE / RMSE of the naive forecast (above 0 beats it)"
# What a run forecasts, "price" or "volatility", and in which units its errors and its
# pictures' axes are
ERRORS = {"price": "the series' units", "volatility": "percentage points of absolute log return"}
AXES = {"price": "price", "volatility": "absolute log return, %"}
NOTES = {
    "price": (
        f"Prices in {ERRORS['price']}; {SKILL}. Naive forecasts no change, so its "
        "directional accuracy counts only the steps where the price did not move."
    ),
    "volatility": (
        f"Errors in {ERRORS['volatility']}, 100 |log(p_t / p_t-1)|; {SKILL}, which "
        "forecasts today's absolute return again. Directional accuracy: how often a "
        "model says rightly whether the absolute return rises or falls."
    ),
}


def target_of(transform):
    """What a run with Forecaster ``transform`` forecasts: "volatility" or "price"."""
    return "volatility" if transform == "volatility" else "price"


def note(transform, horizon=1, interval=None):
    """What the numbers of a run with ``transform`` and ``horizon`` (and the intervals of
    level ``interval``, if any) are, in one paragraph."""
    text = NOTES[target_of(transform)]
    if horizon > 1:
        text += (
            f" Each forecast covers {horizon} steps: its errors are averaged over all of "
            f"them ({BY_STEP} shows each step apart)."
        )
    return text + _interval_note(interval)


def _interval_note(interval):
    """What the interval columns of a run with ``interval`` (None: none) are."""
    if not interval:
        return ""
    return (
        f" Intervals: {interval:.0%} split-conformal, calibrated on the validation block; "
        f"coverage is the share of test values inside (to set beside {interval:.0%}), "
        f"width their mean width and Winkler the interval score (the width plus "
        f"{2 / (1 - interval):.3g} times each miss; lower is better)."
    )


# The main job's columns of Forecaster.evaluate (their headings: rnnkit._table.SHOWN)
COLUMNS = ("rmse", "mae", "directional_accuracy", "skill", "train_seconds", "parameters")


def _for_cell(cell, forecaster_args):
    """A network's Forecaster parameters in the main job: an LSTM variant is the LSTM's,
    the other networks stay vanilla."""
    variant = forecaster_args.get("variant", "vanilla") if cell == "lstm" else "vanilla"
    return {**forecaster_args, "cell": cell, "variant": variant}


def compare(series, cells=NETWORKS, interval=None, **forecaster_args):
    """Fit a Forecaster per cell on ``series``; one table of test metrics for all.

    The baselines are the same in every fit (same windows, same training block),
    so their rows are taken from the first. With ``interval`` (a level in (0, 1)), the
    table also scores every model's conformal interval of that level.

    Returns
    -------
    table : pandas DataFrame, one row per model
    forecasters : dict of network name ("RNN", "LSTM") -> fitted Forecaster

    Raises
    ------
    ValueError
        A model's RMSE or MAE is not finite (prices so large that they overflow, or a
        network whose training diverged), before anything is printed or drawn.
    """
    import pandas as pd

    fitted = [Forecaster(**_for_cell(cell, forecaster_args)).fit(series) for cell in cells]
    # Errors that overflow are reported below, once, as the cause: not as NumPy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        tables = [f.evaluate(interval=interval) for f in fitted]
    rows = [tables[0].drop(index=fitted[0].name)]
    rows += [t.loc[[f.name]] for t, f in zip(tables, fitted, strict=True)]
    table = pd.concat(rows)[list(COLUMNS) + list(INTERVAL_SCORES if interval else [])]
    # Prices near float64's limits overflow in differences and squares: an inf or NaN
    # error is no result, and plotting it would fail far from the cause.
    errors = table[["rmse", "mae"]]
    bad = [f"{m} {c} = {errors.at[m, c]}" for c in errors for m in errors.index
           if not np.isfinite(errors.at[m, c])]  # fmt: skip
    if bad:
        peak = np.nanmax(np.abs(np.asarray(series, dtype=float)))
        cause = (
            f"the largest |price| is {peak:.3g}: rescale the series (divide it by a power of ten)"
            if peak > 1e100
            else "training diverged: try a smaller learning rate"
        )
        raise ValueError(f"the test metrics are not finite ({', '.join(bad[:3])}); {cause}")
    if "Naive" in table.index and table.at["Naive", "rmse"] == 0:
        raise ValueError(
            "the series never moves in the test block (the naive forecast is exact), so "
            "no model can be judged against it: check the file's price column"
        )
    return table, {f.name: f for f in fitted}


# Under this many test windows a table's ranking is mostly chance: an RMSE over n
# forecasts varies from sample to sample by about 1 / sqrt(2n) of itself (13% at 30),
# more than the models' RMSEs usually differ.
FEW_TEST_WINDOWS = 30


def scored_on(forecaster):
    """The main job's sample: its number of test windows, and a sentence saying it with,
    when the series had times, those of the first target and of the last window's last."""
    block = forecaster._test_block()  # the windows evaluate scores; no forecast needed
    n = len(block.X)
    said = f"Scored on {n:,} test window{'s' if n != 1 else ''}"
    if n and block.times is not None:
        import pandas as pd

        from .inspect import time_label

        # as test_predictions' index: datetime64 become Timestamps, which time_label reads
        first, last = pd.Index([block.times[0, 0], block.times[-1, -1]])
        said += f", targets from {time_label(first)} to {time_label(last)}"
    return n, said + "."


def format_table(table):
    """The main job's table as aligned text (see :func:`rnnkit._table.format_metrics`)."""
    from ._table import format_metrics

    return format_metrics(table, [c for c in (*COLUMNS, *INTERVAL_SCORES) if c in table])


def format_backtest(table):
    """A walk-forward table (rows of :meth:`Forecaster.backtest`, every network's) as text:
    each fold's test block, then every model's RMSE per fold, its mean and its mean skill."""
    lines = []
    folds = table.groupby("fold", sort=True)
    if "test_start" in table:
        dates = folds[["test_start", "test_end"]].first()
        from .inspect import time_label

        lines += [f"{'fold':>4}  test block", *(
            f"{k:>4}  {time_label(row.test_start)} to {time_label(row.test_end)}"
            for k, row in dates.iterrows()
        ), ""]  # fmt: skip
    rmse = table.pivot_table(index="model", columns="fold", values="rmse", sort=False)
    rmse.columns = [f"fold {k}" for k in rmse.columns]
    rmse["mean"] = rmse.mean(axis=1)
    by_model = table.groupby("model", sort=False)
    rmse["mean skill"] = by_model["skill"].mean()
    formatters = {"mean skill": "{:+.4f}".format}
    said = "RMSE by fold, its mean over the folds, and the mean skill vs naive"
    if "coverage" in table:
        rmse["coverage"] = by_model["coverage"].mean()
        formatters["coverage"] = "{:.1%}".format
        said += ", and the intervals' mean coverage"
    from ._table import decimals

    shown = decimals(rmse.drop(columns=list(formatters)))
    lines.append(f"{said}:")
    lines.append(rmse.to_string(float_format=f"{{:.{shown}f}}".format, formatters=formatters))
    return "\n".join(lines)


# The files write_report writes, known before any training so that the folder can be
# checked first.
FILES = ("README.md", "error_by_model.png", "loss_curves.png", "metrics.csv", "predictions.png")
BY_STEP = "predictions_by_step.png"


def report_files(horizon):
    """The files :func:`write_report` writes for forecasts ``horizon`` steps ahead."""
    return (*FILES, BY_STEP) if horizon > 1 else FILES


def backtest(series, cells=NETWORKS, folds=5, interval=None, **forecaster_args):
    """Walk-forward rows of every network and the baselines (once: the same in every
    network's folds), as :meth:`Forecaster.backtest` gives them."""
    import pandas as pd

    tables = [
        Forecaster(**_for_cell(cell, forecaster_args)).backtest(
            series, folds=folds, interval=interval
        )
        for cell in cells
    ]
    networks = [t[t["model"] == cell.upper()] for t, cell in zip(tables, cells, strict=True)]
    baselines = tables[0][~tables[0]["model"].isin([c.upper() for c in cells])]
    return pd.concat([baselines, *networks]).sort_values("fold", kind="stable")


BACKTEST_FILES = ("backtest.csv", "README.md")


def backtest_note(transform, interval=None):
    """What the numbers of a walk-forward table are."""
    return (
        f"RMSE in {ERRORS[target_of(transform)]}; mean skill: the mean over the folds of 1 - RMSE / RMSE of the "
        "naive forecast (above 0 beats it). backtest.csv has every metric of every fold."
    ) + _interval_note(interval)


def write_backtest(out, table, title, text, transform, overwrite=False, interval=None):
    """backtest.csv (every model's metrics in every fold) and a README.md with ``text``
    (the table as printed) in folder ``out``; files of an earlier report there go."""
    _output.check_folder(out, BACKTEST_FILES, overwrite)
    readme = "\n".join(
        [f"# {title}", "", "```", text, "```", "", backtest_note(transform, interval), ""]
    )
    files = {
        "backtest.csv": lambda path: table.to_csv(path, index=False),
        "README.md": _output.text_writer(readme),
    }
    return _output.write_folder(out, files, overwrite, retire=ALL_FILES)


def _test_frame(forecasters, step, interval=None):
    """The first Forecaster's test predictions ``step`` ahead (actual values, baselines, its
    network; their intervals with ``interval``) with every other network's beside them:
    the same windows in every fit."""
    first, *others = forecasters.values()
    frame = first.test_predictions(step, interval)
    for f in others:
        theirs = f.test_predictions(step, interval)
        mine = [c for c in theirs.columns if c == f.name or c.startswith(f"{f.name} ")]
        frame[mine] = theirs[mine]
    return frame


def write_report(out, table, forecasters, title, overwrite=False, interval=None):
    """metrics.csv, three PNGs and a README.md that ties them together, in folder ``out``.

    ``out`` is made if missing; a folder holding files rnnkit did not write is refused
    unless ``overwrite``, and those files are never replaced (see
    :func:`rnnkit._output.check_folder`). Returns the names of the files written.
    """
    from . import plot

    # before any picture is drawn; write_folder looks again as it writes
    first = next(iter(forecasters.values()))
    horizon = first.pipeline_.horizon
    _output.check_folder(out, report_files(horizon), overwrite)
    frame = _test_frame(forecasters, 1, interval)
    units = AXES[target_of(first.transform)]
    figures = {
        "loss_curves.png": plot.loss_curves({n: f.history_ for n, f in forecasters.items()}),
        "predictions.png": plot.predictions(frame, units=units),
        "error_by_model.png": plot.error_by_model(table),
    }
    if horizon > 1:
        steps = {step: _test_frame(forecasters, step) for step in range(1, horizon + 1)}
        figures[BY_STEP] = plot.predictions_by_step(steps, units=units)
    lines = [
        f"# {title}",
        "",
        "Test metrics on the last block of the series, never seen in training:",
        "",
        "```",
        format_table(table),
        "```",
        "",
        scored_on(first)[1],
        "",
        note(first.transform, horizon, interval),
        "",
        *(f"![{name[:-4]}]({name})" for name in figures),
        "",
    ]
    files = {name: _output.figure_writer(fig) for name, fig in figures.items()}
    files["metrics.csv"] = table.to_csv
    files["README.md"] = _output.text_writer("\n".join(lines))
    return _output.write_folder(out, files, overwrite, retire=ALL_FILES)


SWEEP_FILES = ("README.md", "heatmap.png", "ranked.csv", "sweep.csv")


def format_ranked(ranked, metric, params):
    """:func:`rnnkit.rank`'s table as text, numbered from 1: ``params`` (the parameters
    that vary), the score's mean and spread over the folds, the naive forecast's (with
    the score's digits, to compare them), the folds scored, and the folds that failed if
    any did."""
    from ._table import SHOWN, _blank_if_missing, decimals

    columns = [*params, metric, f"{metric}_std", f"naive_{metric}", "folds"]
    if ranked["failed"].any():
        columns.append("failed")
    shown = ranked[columns].set_axis(range(1, len(ranked) + 1))
    style = SHOWN[metric][1] or f"{{:.{decimals(shown[[metric, f'naive_{metric}']])}f}}"
    # a spread has no sign: skill's "+" is not its
    spread = (SHOWN[metric][1] or f"{{:.{decimals(shown[f'{metric}_std'])}f}}").replace("+", "")
    formats = {metric: style, f"{metric}_std": spread, f"naive_{metric}": style}
    headings = {metric: SHOWN[metric][0], f"{metric}_std": "std", f"naive_{metric}": "naive"}
    formatters = {headings[k]: _blank_if_missing(f.format) for k, f in formats.items()}
    return shown.rename(columns=headings).to_string(formatters=formatters)


def write_sweep(out, table, ranked, title, text, heatmap, overwrite=False):
    """sweep.csv (every job's row), ranked.csv, heatmap.png (when there is a heatmap) and
    a README.md with ``text`` (what was printed) in folder ``out``."""
    files = {
        "sweep.csv": lambda path: table.to_csv(path, index=False),
        "ranked.csv": lambda path: ranked.to_csv(path, index=False),
    }
    lines = [f"# Sweep: {title}", "", "```", text, "```", ""]
    if heatmap is not None:
        files["heatmap.png"] = _output.figure_writer(heatmap)
        lines += ["![heatmap](heatmap.png)", ""]
    files["README.md"] = _output.text_writer("\n".join(lines))
    return _output.write_folder(out, files, overwrite, retire=ALL_FILES)


# Every file a report of any kind writes: what a new report removes of an older one.
ALL_FILES = (*FILES, BY_STEP, *BACKTEST_FILES, *SWEEP_FILES)
