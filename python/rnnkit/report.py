"""The main job: networks and baselines on one series, one table, one folder of pictures."""

import os

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
    """
    import pandas as pd

    fitted = [Forecaster(cell=cell, **forecaster_args).fit(series) for cell in cells]
    tables = [f.evaluate() for f in fitted]
    rows = [tables[0].drop(index=fitted[0].name)]
    rows += [t.loc[[f.name]] for t, f in zip(tables, fitted, strict=True)]
    return pd.concat(rows)[list(COLUMNS)], {f.name: f for f in fitted}


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


def write_report(out, table, forecasters, title):
    """metrics.csv, three PNGs and a README.md that ties them together, in folder ``out``."""
    from . import plot

    os.makedirs(out, exist_ok=True)
    table.to_csv(os.path.join(out, "metrics.csv"))
    first = next(iter(forecasters.values()))
    frame = first.test_predictions()
    for name, f in list(forecasters.items())[1:]:
        frame[name] = f.test_predictions()[name]
    figures = {
        "loss_curves.png": plot.loss_curves({n: f.history_ for n, f in forecasters.items()}),
        "predictions.png": plot.predictions(frame),
        "error_by_model.png": plot.error_by_model(table),
    }
    for name, fig in figures.items():
        fig.savefig(os.path.join(out, name), dpi=110)
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
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))
    return sorted([*figures, "metrics.csv", "README.md"])
