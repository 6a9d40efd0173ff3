"""Forecast accuracy: mse, rmse, mae, mape, smape, directional accuracy, skill, and a table;
for prediction intervals, coverage, mean width and the interval (Winkler) score; for
quantile forecasts, the pinball loss.

Every metric takes ``(y_true, y_pred)`` array-likes (NumPy arrays, lists, pandas objects) of
the same shape, any shape, and returns a Python float averaged over every element. A shape
mismatch, an empty array, NaN or inf raises ValueError: a metric never silently broadcasts
or skips values.

Forecasts of several steps and targets follow the layout of ``rnnkit.data.make_windows``:
y is ``(N, horizon * n_targets)`` in step-major order, so the last observed value of each
target, ``(N, n_targets)``, is repeated over the steps where a metric compares with it.
"""

from collections.abc import Mapping

import numpy as np

from ._checks import check_level, finite_array

__all__ = [
    "coverage",
    "directional_accuracy",
    "evaluate",
    "mae",
    "mape",
    "mse",
    "pinball",
    "rmse",
    "skill",
    "smape",
    "width",
    "winkler",
]


# The scores of each row of evaluate, in its order; and those it adds for an interval.
SCORES = ("rmse", "mae", "mape", "smape", "directional_accuracy", "skill")
INTERVAL_SCORES = ("coverage", "width", "winkler")


def _pair(y_true, y_pred, names=("y_true", "y_pred")):
    """Both arrays as float64, checked to be finite, non-empty and of one shape."""
    truth, pred = finite_array(names[0], y_true), finite_array(names[1], y_pred)
    if truth.shape != pred.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {truth.shape} and "
            f"{pred.shape}"
        )
    if truth.size == 0:
        raise ValueError(f"{names[0]} and {names[1]} are empty (shape {truth.shape})")
    return truth, pred


def _last_like(last, shape):
    """The last observed value(s) ``last`` spread to y's ``shape``.

    Accepted: a scalar; one value per window, ``(N,)`` or ``(N, 1)``; one per window and
    target, ``(N, n_targets)``, repeated over the horizon in y's step-major layout; or any
    array that broadcasts to ``shape``.
    """
    base = finite_array("last", last)
    if len(shape) == 2 and base.ndim >= 1 and base.shape[0] == shape[0]:
        if base.ndim == 1:
            # one value per window: a column, not NumPy's alignment with y's last axis
            base = base[:, None]
        elif base.ndim == 2 and base.shape[1] != shape[1] and shape[1] % base.shape[1] == 0:
            base = np.tile(base, shape[1] // base.shape[1])
    try:
        return np.broadcast_to(base, shape)
    except ValueError:
        raise ValueError(
            f"last of shape {base.shape} does not fit y_true of shape {shape}: pass one value "
            "per window (N,), one per window and target (N, n_targets), or y_true's shape"
        ) from None


def _root_mean_square(error):
    return float(np.sqrt(np.mean(np.square(error))))


def mse(y_true, y_pred):
    """Mean squared error."""
    truth, pred = _pair(y_true, y_pred)
    return float(np.mean(np.square(truth - pred)))


def rmse(y_true, y_pred):
    """Root mean squared error, in the units of y."""
    truth, pred = _pair(y_true, y_pred)
    return _root_mean_square(truth - pred)


def mae(y_true, y_pred):
    """Mean absolute error, in the units of y."""
    truth, pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(truth - pred)))


def mape(y_true, y_pred):
    """Mean absolute percentage error, ``100 * mean(|y_true - y_pred| / |y_true|)``, in percent.

    Raises
    ------
    ValueError
        If ``y_true`` contains zeros, where the percentage error is undefined. Zeros are
        not skipped: a mean over the remaining values would look valid while describing
        other data. Use :func:`smape` or :func:`mae` for series that cross zero (returns).
    """
    truth, pred = _pair(y_true, y_pred)
    zeros = int(np.count_nonzero(truth == 0))
    if zeros:
        raise ValueError(
            f"mape is undefined where y_true is 0, and y_true has {zeros} zero(s); "
            "use smape or mae for series that cross zero, such as returns"
        )
    return float(100.0 * np.mean(np.abs(truth - pred) / np.abs(truth)))


def smape(y_true, y_pred):
    """Symmetric mean absolute percentage error, in percent (0 to 200).

    The mean of ``200 * |a - b| / (|a| + |b|)`` with ``a = y_true``, ``b = y_pred``, where a
    step with ``a = b = 0`` scores 0: a perfect forecast of zero.
    """
    truth, pred = _pair(y_true, y_pred)
    scale = np.abs(truth) + np.abs(pred)
    ratio = np.divide(np.abs(truth - pred), scale, out=np.zeros_like(scale), where=scale > 0)
    return float(200.0 * np.mean(ratio))


def directional_accuracy(y_true, y_pred, last):
    """Share of steps (0 to 1) whose forecast moves in the true direction from ``last``.

    A step counts as right when ``sign(y_true - last) == sign(y_pred - last)``, with "flat"
    (a change of exactly zero) as a third direction: a flat forecast is right only where the
    truth is flat too, and a forecast that moves is wrong where the truth stays flat. So the
    naive forecast, always flat, scores the share of flat steps (near 0 on prices).

    Parameters
    ----------
    y_true, y_pred : array_like
        True and forecast values, of one shape.
    last : array_like
        The last observed value before each forecast: a scalar, one value per window
        ``(N,)`` or ``(N, 1)``, one per window and target ``(N, n_targets)`` for y of shape
        ``(N, horizon * n_targets)`` (repeated over the steps), or any array that broadcasts
        to y's shape.
    """
    truth, pred = _pair(y_true, y_pred)
    base = _last_like(last, truth.shape)
    return float(np.mean(np.sign(truth - base) == np.sign(pred - base)))


def skill(y_true, y_pred, y_naive):
    """Skill against a reference forecast: ``1 - rmse(y_true, y_pred) / rmse(y_true, y_naive)``.

    1 is a perfect forecast, 0 is as good as the reference (usually the naive forecast),
    below 0 is worse. When the reference is perfect (its rmse is 0) the ratio is undefined;
    the skill is then 0.0 if the forecast is perfect too and ``-inf`` otherwise.
    """
    truth, pred = _pair(y_true, y_pred)
    _, naive = _pair(truth, y_naive, ("y_true", "y_naive"))
    model_error, naive_error = _root_mean_square(truth - pred), _root_mean_square(truth - naive)
    if naive_error == 0:
        return 0.0 if model_error == 0 else -np.inf
    return 1.0 - model_error / naive_error


def _interval(y_true, lower, upper):
    """The three arrays as float64, of one shape, finite, lower <= upper; else ValueError."""
    truth, low = _pair(y_true, lower, ("y_true", "lower"))
    _, high = _pair(truth, upper, ("y_true", "upper"))
    if np.any(low > high):
        raise ValueError(
            f"lower must not exceed upper; it does at {int(np.sum(low > high))} points"
        )
    return truth, low, high


def coverage(y_true, lower, upper):
    """Share (0 to 1) of true values inside their interval ``[lower, upper]``, ends included."""
    truth, low, high = _interval(y_true, lower, upper)
    return float(np.mean((low <= truth) & (truth <= high)))


def width(lower, upper):
    """Mean width of the intervals, ``mean(upper - lower)``, in the units of y."""
    low, high = _pair(lower, upper, ("lower", "upper"))
    return float(np.mean(high - low))


def winkler(y_true, lower, upper, level):
    """The interval score of Winkler (1972) and Gneiting and Raftery (2007), lower is better.

    For central intervals of ``level`` (alpha = 1 - level): the width, plus
    ``2 / alpha`` times how far each true value falls outside its interval. It rewards
    narrow intervals and punishes misses in proportion to their size, so an interval that
    covers by being endless scores badly too.
    """
    alpha = 1.0 - check_level("level", level)
    truth, low, high = _interval(y_true, lower, upper)
    below, above = np.maximum(low - truth, 0.0), np.maximum(truth - high, 0.0)
    return float(np.mean(high - low + (2.0 / alpha) * (below + above)))


def pinball(y_true, y_pred, quantile):
    """Pinball (quantile) loss of forecasts ``y_pred`` of the ``quantile`` level, averaged:
    ``max(q u, (q - 1) u)`` with ``u = y_true - y_pred``; its minimiser is the quantile."""
    q = check_level("quantile", quantile)
    truth, pred = _pair(y_true, y_pred)
    u = truth - pred
    return float(np.mean(np.maximum(q * u, (q - 1.0) * u)))


def interval_row(y_true, lower, upper, level):
    """:data:`INTERVAL_SCORES` of one model's intervals, as a dict."""
    return {
        "coverage": coverage(y_true, lower, upper),
        "width": width(lower, upper),
        "winkler": winkler(y_true, lower, upper, level),
    }


def evaluate(y_true, predictions, last, y_naive=None, as_frame=None):
    """One row of every metric per model, all on the same windows.

    Parameters
    ----------
    y_true : array_like
        True values, for example y of the test windows ``(N, horizon * n_targets)``.
    predictions : mapping of str to array_like
        Each model's name and its forecast, of ``y_true``'s shape.
    last : array_like
        The last observed value before each forecast (see :func:`directional_accuracy`).
    y_naive : array_like, optional
        The reference forecast for ``skill``; by default the naive forecast, ``last``
        repeated over every step.
    as_frame : bool, optional
        True returns a pandas DataFrame indexed by model (pandas required), False a list of
        dicts with a ``"model"`` key; None (default) a DataFrame when pandas is installed.

    Returns
    -------
    pandas.DataFrame or list of dict
        Columns rmse, mae, mape, smape, directional_accuracy, skill. ``mape`` is NaN when
        ``y_true`` contains zeros, where it is undefined (:func:`mape` raises instead).
    """
    if not isinstance(predictions, Mapping):
        raise TypeError(
            "predictions must be a mapping of model name to forecast, got "
            f"{type(predictions).__name__}"
        )
    if not predictions:
        raise ValueError("predictions is empty: give at least one model's forecast")
    truth = finite_array("y_true", y_true)
    base = _last_like(last, truth.shape)
    naive = base if y_naive is None else y_naive
    has_zero = bool(np.any(truth == 0))
    rows = []
    for name, forecast in predictions.items():
        _, pred = _pair(truth, forecast, ("y_true", f"predictions[{name!r}]"))
        rows.append(
            {
                "model": name,
                "rmse": rmse(truth, pred),
                "mae": mae(truth, pred),
                "mape": np.nan if has_zero else mape(truth, pred),
                "smape": smape(truth, pred),
                "directional_accuracy": directional_accuracy(truth, pred, base),
                "skill": skill(truth, pred, naive),
            }
        )
    return as_table(rows, as_frame)


def as_table(rows, as_frame):
    """Rows of metrics (dicts with a "model" key) as ``as_frame`` asks: the rows (False),
    a :class:`rnnkit._table.MetricsTable` indexed by model (True), or the table when
    pandas is installed (None)."""
    if as_frame not in (None, True, False):
        raise TypeError(f"as_frame must be None, True or False, got {as_frame!r}")
    if as_frame is False:
        return rows
    try:
        import pandas as pd
    except ImportError:
        if as_frame is None:
            return rows
        raise ImportError(
            "pandas is needed for evaluate(as_frame=True): pip install 'rnnkit[pandas]', "
            "or pass as_frame=False for a list of dicts"
        ) from None
    from ._table import MetricsTable

    return MetricsTable(pd.DataFrame(rows).set_index("model"))
