"""What the experiments on real and synthetic price series share: the series, the
networks they train, thread settings for timing, and two ways to read a difference.

Honesty rules kept throughout: blocks are cut in time order by
:func:`rnnkit.data.split_windows` (train, then validation, then test), nothing is
fitted on data after the training block (scalers, GARCH parameters, scale constants),
validation is only used for early stopping, and every model is scored on the same
targets.

Timings run the compiled core on one thread by default (``num_threads=1``, restored
afterwards): on a small shared machine the multi-threaded kernels' times swing with
the load of other processes, which would say more about the machine than about the
cells.
"""

import contextlib
import time

import numpy as np

from .. import core as _core
from .. import datasets as _datasets
from ..models import RECOMMENDED_FORGET_BIAS, SequenceRegressor
from ..train import fit as _fit


@contextlib.contextmanager
def threads(n):
    """Run the compiled core on ``n`` threads inside the block (None: leave it alone)."""
    if n is None:
        yield
        return
    before = _core.num_threads()
    _core.set_num_threads(int(n))
    try:
        yield
    finally:
        _core.set_num_threads(before)


def price_series(series, n=None):
    """(prices float64 (n,), dates or None) of the bundled WTI series or of ``series``.

    ``series`` may be prices as a NumPy array, a pandas Series or a
    :class:`rnnkit.datasets.GarchSeries`; ``n`` keeps the last ``n`` prices.
    """
    dates = None
    if series is None:
        # as_frame=False: NumPy arrays, so the default run needs no pandas for the data
        dates, prices = _datasets.load_wti(as_frame=False)
    elif isinstance(series, _datasets.GarchSeries):
        prices = series.prices
    elif hasattr(series, "index") and hasattr(series, "to_numpy"):
        if getattr(series, "ndim", 1) != 1:
            raise ValueError("series must be one price series (1-D), not a table")
        prices, dates = series.to_numpy(np.float64), series.index.to_numpy()
    else:
        prices = series
    prices = np.asarray(prices, dtype=np.float64)
    if prices.ndim != 1:
        raise ValueError(f"series must be 1-D prices, got shape {prices.shape}")
    if not np.all(np.isfinite(prices)):
        raise ValueError("series has NaN or inf prices; drop or fill them first")
    if n is not None:
        n = int(n)
        if n < 2:
            raise ValueError(f"n must be at least 2 prices, got {n}")
        prices = prices[-n:]
        dates = None if dates is None else dates[-n:]
    return prices, dates


def train(cell, inputs, hidden_size, X, y, val, epochs, patience, seed):
    """A fresh SequenceRegressor trained with early stopping: (model, History, seconds)."""
    model = SequenceRegressor(
        cell=cell,
        input_size=inputs,
        hidden_size=hidden_size,
        forget_bias=RECOMMENDED_FORGET_BIAS if cell == "lstm" else 0.0,
        seed=seed,
    )
    start = time.perf_counter()
    history = _fit(
        model, X, y, validation_data=val, epochs=epochs, patience=patience, seed=seed, verbose=0
    )
    return model, history, time.perf_counter() - start


def pct(ratio):
    """A ratio as a signed percentage change: 0.97 -> '-3.0%'."""
    return f"{100.0 * (ratio - 1.0):+.1f}%"


def paired_t(loss_a, loss_b):
    """t statistic of mean(loss_a - loss_b) over the same days (negative: a is better).

    A rough yardstick for "is this difference noise?": it treats the days as
    independent, which daily errors are not quite (volatility clusters), so |t| of
    2 or 3 is weak evidence, below 1 none.
    """
    d = np.asarray(loss_a, dtype=np.float64) - np.asarray(loss_b, dtype=np.float64)
    spread = d.std(ddof=1) if len(d) > 1 else 0.0
    return float(d.mean() / (spread / np.sqrt(len(d)))) if spread > 0 else 0.0
