"""The main job: networks and baselines on one series, one table, one folder of pictures."""

import numpy as np

from . import _output
from .forecaster import Forecaster

NOTE = (
    "Prices in the series' units; skill = 1 - RMSE / RMSE of the naive forecast (above 0 "
    "beats it). Naive forecasts no change, so its directional accuracy counts only the "
    "steps where the price did not move."
)

COLUMNS = {
    "rmse": "RMSE",
    "mae": "MAE",
    "directional_accuracy": "dir. acc.",
    "skill": "skill vs naive",
    "train_seconds": "train s",
    "parameters": "params",
}


def compare(series, cells=("rnn", "lstm"), **forecaster_args):
    """Fit a Forecaster per cell on ``series``; one table of test metrics for all.

    The baselines are the same in every fit (same windows, same training block),
    so their rows are taken from the first.

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

    fitted = [Forecaster(cell=cell, **forecaster_args).fit(series) for cell in cells]
    # Errors that overflow are reported below, once, as the cause: not as NumPy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        tables = [f.evaluate() for f in fitted]
    rows = [tables[0].drop(index=fitted[0].name)]
    rows += [t.loc[[f.name]] for t, f in zip(tables, fitted, strict=True)]
    table = pd.concat(rows)[list(COLUMNS)]
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
    return table, {f.name: f for f in fitted}


def format_table(table):
    """The table as aligned text, in the units and precision a reader wants."""
    shown = table.rename(columns=COLUMNS)
    return shown.to_string(
        formatters={
            "RMSE": "{:.4f}".format,
            "MAE": "{:.4f}".format,
            "dir. acc.": "{:.1%}".format,
            "skill vs naive": "{:+.4f}".format,
            "train s": "{:.1f}".format,
            "params": "{:d}".format,
        }
    )


# The files write_report writes, known before any training so that the folder can be
# checked first.
FILES = ("README.md", "error_by_model.png", "loss_curves.png", "metrics.csv", "predictions.png")


def write_report(out, table, forecasters, title, overwrite=False):
    """metrics.csv, three PNGs and a README.md that ties them together, in folder ``out``.

    ``out`` is made if missing; a folder holding files rnnkit did not write is refused
    unless ``overwrite``, and those files are never replaced (see
    :func:`rnnkit._output.check_folder`). Returns the names of the files written.
    """
    from . import plot

    # before any picture is drawn; write_folder looks again as it writes
    _output.check_folder(out, FILES, overwrite)
    first = next(iter(forecasters.values()))
    frame = first.test_predictions()
    for name, f in list(forecasters.items())[1:]:
        frame[name] = f.test_predictions()[name]
    figures = {
        "loss_curves.png": plot.loss_curves({n: f.history_ for n, f in forecasters.items()}),
        "predictions.png": plot.predictions(frame),
        "error_by_model.png": plot.error_by_model(table),
    }
    lines = [
        f"# {title}",
        "",
        "Test metrics on the last block of the series, never seen in training:",
        "",
        "```",
        format_table(table),
        "```",
        "",
        NOTE,
        "",
        *(f"![{name[:-4]}]({name})" for name in figures),
        "",
    ]
    files = {name: _output.figure_writer(fig) for name, fig in figures.items()}
    files["metrics.csv"] = table.to_csv
    files["README.md"] = _output.text_writer("\n".join(lines))
    return _output.write_folder(out, files, overwrite)
