"""Tables of metrics that print as a reader wants them (imported only with pandas).

A :class:`MetricsTable` is a pandas DataFrame in every respect but its printing: errors
with the decimals that tell the models apart, rates as percentages, short headings, so
that ``print(forecaster.evaluate())`` fits a terminal of 80 columns whole.
"""

import numpy as np
import pandas as pd

SIGNIFICANT = 4  # digits shown of a column's smallest error, at least
EXTRA_DIGITS = 3  # more, at most, to tell apart models whose errors differ

# column -> (heading, format; None: an error's decimals, from the column's own values)
SHOWN = {
    "rmse": ("RMSE", None),
    "mae": ("MAE", None),
    "mape": ("MAPE %", "{:.2f}"),
    "smape": ("sMAPE %", "{:.2f}"),
    "directional_accuracy": ("dir. acc.", "{:.1%}"),
    "skill": ("skill", "{:+.4f}"),
    "train_seconds": ("train s", "{:.1f}"),
    "parameters": ("params", "{:.0f}"),  # a count; a float after a NaN row joined
    "coverage": ("coverage", "{:.1%}"),
    "width": ("width", None),
    "winkler": ("Winkler", None),
}


def decimals(values):
    """Decimals that show SIGNIFICANT digits of the smallest nonzero |value|, and more
    (up to EXTRA_DIGITS) while two different values would print the same."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    nonzero = np.abs(values[values != 0])
    if len(nonzero) == 0:
        return 1
    first = max(1, SIGNIFICANT - 1 - int(np.floor(np.log10(nonzero.min()))))
    distinct = len(np.unique(values))
    for more in range(EXTRA_DIGITS):
        if len(np.unique(np.round(values, first + more))) == distinct:
            return first + more
    return first + EXTRA_DIGITS


def _blank_if_missing(format_value):
    return lambda value: "" if pd.isna(value) else format_value(value)


def format_metrics(table, columns=None):
    """``table`` (a DataFrame of metrics, one row per model) as aligned text.

    Errors get as many decimals as show four significant digits of the column's
    smallest (hourly FX errors of 0.0013 read 0.001312), and up to three more where two
    models would otherwise tie on the page (crude oil's 1.2238 and 1.2237). ``columns``
    picks and orders the columns shown (default: all).
    """
    frame = pd.DataFrame(table if columns is None else table[list(columns)])
    formatters = {}
    for name in frame.columns:
        heading, style = SHOWN.get(name, (name, None))
        if style is None and frame[name].dtype.kind == "f":
            style = f"{{:.{decimals(frame[name])}f}}"
        if style is not None and frame[name].dtype.kind in "iuf":
            formatters[heading] = _blank_if_missing(style.format)
    shown = frame.rename(columns={k: v[0] for k, v in SHOWN.items()})
    return shown.to_string(formatters=formatters)


class MetricsTable(pd.DataFrame):
    """A DataFrame of metrics (one row per model) that prints with :func:`format_metrics`.

    Everything else is pandas': selections and arithmetic give plain DataFrames.
    """

    @property
    def _constructor(self):
        return pd.DataFrame

    def __repr__(self):
        return format_metrics(self)

    def _repr_html_(self):
        return pd.DataFrame(self)._repr_html_()


class RankedTable(MetricsTable):
    """:func:`rnnkit.rank`'s table: a DataFrame that prints without its ``config`` column
    (the JSON that names each configuration, for :func:`rnnkit.sweeps.score_best`), so
    that the parameters and scores fit a terminal."""

    def __repr__(self):
        return format_metrics(self.drop(columns="config", errors="ignore"))
