"""Prediction intervals: split-conformal calibration of any forecaster on held-out errors.

A model's forecasts on the validation block, which it was not trained on, are compared
with what happened there; each error is a *score*. For a new forecast, the interval at
``level`` widens the forecast by the ``ceil((n + 1) level)``-th smallest of the ``n``
scores (Vovk et al. 2005; Lei et al. 2018), separately for every step of the horizon:
if the errors to come are like the validation errors, the interval covers the truth with
probability at least ``level``. Prices are not exchangeable (volatility clusters), so
the coverage on the test block is measured and reported, never assumed
(:meth:`rnnkit.Forecaster.evaluate` with ``interval=``).

* A point forecast (the network, every baseline): the score is the absolute error, and
  the interval is ``forecast -+ margin``.
* A quantile forecast (a network with ``quantiles=``): the interval runs from its
  ``(1 - level) / 2`` to its ``(1 + level) / 2`` quantile, conformalized as Romano et
  al. (2019) do: the score is how far the truth fell outside the quantiles' interval
  (negative inside), so the margin widens or narrows it to the level. The interval then
  follows the model's own view of how uncertain each forecast is.

The validation block also chose the network's best epoch (early stopping): a mild use
of the same data, as common practice accepts; the test block's coverage shows its cost.
"""

import math
from typing import NamedTuple

import numpy as np

from ._checks import check_level

__all__ = ["Interval", "bounds", "margins", "quantile_pair"]


class Interval(NamedTuple):
    """Forecasts with their interval: three arrays (or DataFrames) of one shape."""

    lower: object
    point: object
    upper: object


def margins(scores, level, what):
    """Per column of ``scores`` (n, horizon), the conformal quantile at ``level``.

    Raises
    ------
    ValueError
        Fewer scores than the level needs (``ceil((n + 1) level) > n``): the interval
        would be endless.
    """
    n = len(scores)
    rank = _rank(n, level)
    if rank > n:
        needed = math.floor(level / (1.0 - level))  # within one of the least n, by rounding
        while _rank(needed, level) > needed:
            needed += 1
        raise ValueError(
            f"interval={level} needs at least {needed} validation forecasts to calibrate "
            f"{what}, and there are {n}: lower the level, or fit with a larger val share"
        )
    return np.partition(scores, rank - 1, axis=0)[rank - 1]


def _rank(n, level):
    """Which of n sorted scores is the conformal quantile (from 1); above n: none is."""
    return math.ceil((n + 1) * level)


def quantile_pair(quantiles, level):
    """Positions in ``quantiles`` of the ``(1 - level) / 2`` and ``(1 + level) / 2``
    levels, or an error naming the ones the model has."""
    wanted = ((1.0 - level) / 2.0, (1.0 + level) / 2.0)
    found = [
        next((k for k, q in enumerate(quantiles) if math.isclose(q, w, abs_tol=1e-9)), None)
        for w in wanted
    ]
    if None in found:
        raise ValueError(
            f"interval={level} needs the quantiles {wanted[0]:g} and {wanted[1]:g}; this "
            f"model forecasts {list(quantiles)}: fit it with those among its quantiles"
        )
    return found


def bounds(forecast, calibration, actual, level, quantiles=None, what="the forecast"):
    """The interval at ``level`` around forecasts, calibrated on validation forecasts.

    Parameters
    ----------
    forecast : ndarray (N, horizon), or (N, horizon, Q) of quantiles
        The forecasts to widen, in the series' units.
    calibration : ndarray like forecast, with n rows
        The same model's forecasts on the validation block.
    actual : ndarray (n, horizon)
        What happened there.
    level : float in (0, 1)
    quantiles : tuple of float or None
        The levels of the last axis of quantile forecasts.
    what : str
        The model's name, for errors.

    Returns
    -------
    (lower, upper) : ndarrays (N, horizon)
    """
    level = check_level("interval", level)
    if forecast.ndim == 2:
        margin = margins(np.abs(actual - calibration), level, what)
        return forecast - margin, forecast + margin
    lo, hi = quantile_pair(quantiles, level)
    scores = np.maximum(calibration[..., lo] - actual, actual - calibration[..., hi])
    margin = margins(scores, level, what)
    lower, upper = forecast[..., lo] - margin, forecast[..., hi] + margin
    # a negative margin (quantiles too wide on validation) may cross them: meet halfway
    middle = (lower + upper) / 2.0
    return np.minimum(lower, middle), np.maximum(upper, middle)
