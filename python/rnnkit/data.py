"""From a price series to training data: time splits, scalers, returns and sliding windows.

Every function takes a NumPy array (time on the first axis: ``(n,)`` or ``(n, features)``)
or a pandas Series/DataFrame, and gives pandas back when pandas came in.

:func:`split_windows` is the one place a model's windows are cut: it checks the series,
transforms it, splits it in time order, fits the scaler on the training block only and
gives every window to the block of its last target, so that the future never leaks into
the past::

    split = split_windows(series, lookback=30)      # log returns, 70/15/15, standardised
    split.train.X, split.train.y                    # what a network learns from
    split.pipeline.windows(new_series)              # the same windows from new data

Beside it, :func:`split_rows` gives a stateful network, which reads rows in order rather
than windows, the same series cut into the same blocks.

The pieces it is made of (:func:`split_by_time`, the scalers, :func:`log_returns`,
:func:`make_windows`) are here for those who build a pipeline of their own.
"""

import inspect
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import check_choice, check_fraction, check_int, float_array, is_int

__all__ = [
    "Block",
    "MinMaxScaler",
    "Rows",
    "SplitRows",
    "SplitWindows",
    "StandardScaler",
    "WindowPipeline",
    "Windows",
    "handle_missing",
    "log_returns",
    "make_windows",
    "prices_from_log_returns",
    "prices_from_returns",
    "returns",
    "scaler_from_dict",
    "split_by_time",
    "split_rows",
    "split_windows",
]

MISSING_MODES = ("raise", "drop", "ffill")
VAL = TEST = 0.15  # the default shares of the validation and test blocks


# -- helpers shared by every stage ------------------------------------------------------------


def _is_pandas(obj):
    # duck-typed so that pandas is never imported for NumPy input
    return hasattr(obj, "iloc")


def _as_float(data, name, ndims=(1, 2)):
    """``data`` as a float64 ndarray (no copy when it already is one); ``ndims=None``: any rank."""
    values = float_array(name, data)
    if ndims is not None and values.ndim not in ndims:
        raise ValueError(
            f"{name} must be 1-D (n,) or 2-D (n, features) with time on the first axis, "
            f"got an array of shape {values.shape}"
        )
    return values


def _like(template, values, index=None):
    """``values`` wrapped as ``template``'s pandas type (same index and columns), else as is."""
    if not _is_pandas(template):
        return values
    import pandas as pd  # present: template is a pandas object

    index = template.index if index is None else index
    if template.ndim == 1:
        return pd.Series(values, index=index, name=template.name)
    return pd.DataFrame(values, index=index, columns=template.columns)


def _column_names(data):
    """The column names of a DataFrame, ``[name]`` of a named Series, else None."""
    if not _is_pandas(data):
        return None
    if data.ndim == 2:
        return [_plain(c) for c in data.columns]
    return None if data.name is None else [_plain(data.name)]


def _plain(value):
    # numpy scalars as Python scalars, so that column names survive json
    return value.item() if isinstance(value, np.generic) else value


def _column_position(key, names, n_columns, arg):
    """Position of a column given by name (when ``names`` is known) or by integer position."""
    if names is not None and key in names:
        return names.index(key)
    if is_int(key) and -n_columns <= key < n_columns:
        return int(key) % n_columns
    expected = f"an integer position in [0, {n_columns})"
    if names is not None:
        expected = f"a column name in {names} or {expected}"
    raise ValueError(f"{arg}={key!r} is not a column of the data: expected {expected}")


# -- splitting --------------------------------------------------------------------------------


def split_by_time(series, val=VAL, test=TEST):
    """Split a series into contiguous train, validation and test blocks, in time order.

    Parameters
    ----------
    series : ndarray (n,) or (n, features), pandas Series or DataFrame
        Rows in time order.
    val, test : float
        Fractions of the rows in the validation and test blocks, each in [0, 1) with
        ``val + test < 1``. The test block is the last ``round(n * test)`` rows, the
        validation block the ``round(n * val)`` rows before it, training all rows before that.

    Returns
    -------
    train, val, test
        Slices of ``series`` of its own type (views for NumPy input); never shuffled.

    Raises
    ------
    ValueError
        If a fraction is out of range or the training block would be empty.
    """
    val, test = check_fraction("val", val), check_fraction("test", test)
    if val + test >= 1:
        raise ValueError(f"val + test must be below 1 to leave rows for training, got {val + test}")
    if not _is_pandas(series):
        series = np.asarray(series)
        if series.ndim not in (1, 2):
            raise ValueError(
                f"series must be 1-D (n,) or 2-D (n, features), got shape {series.shape}"
            )
    n = len(series)
    n_test = round(n * test)
    n_val = round(n * val)
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ValueError(
            f"series has {n} rows: with val={val} ({n_val} rows) and test={test} ({n_test} rows) "
            "no row is left for training"
        )
    rows = series.iloc if _is_pandas(series) else series
    return rows[:n_train], rows[n_train : n_train + n_val], rows[n_train + n_val :]


# -- scalers ----------------------------------------------------------------------------------


class _AffineScaler:
    """A per-column affine map ``z = (x - loc) / scale + shift`` fitted on one block of data.

    ``loc`` and ``scale`` are arrays with one value per column; ``shift`` is one number.

    Subclasses name their fitted statistics in ``_stat_names`` (stored as attributes with a
    trailing underscore), compute them in ``_compute_stats`` and derive loc, scale and shift
    from them in ``_affine``; ``scaler_from_dict`` goes through the same ``_affine``, so a
    rebuilt scaler transforms bit-identically.
    """

    _stat_names: tuple = ()

    def __init__(self):
        self.columns_ = None
        self.n_features_ = None

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self):
        return {}

    def fit(self, data):
        """Compute per-column statistics of ``data`` (1-D: one column); NaN or inf raise."""
        values = _as_float(data, "data")
        if values.size == 0:
            raise ValueError(f"data to fit a scaler on is empty (shape {values.shape})")
        table = values[:, None] if values.ndim == 1 else values
        bad = ~np.isfinite(table)
        if bad.any():
            row = int(np.argmax(bad.any(axis=1)))
            raise ValueError(
                f"data to fit a scaler on has {int(bad.sum())} NaN or inf values, the first in "
                f"row {row}: clean it first, e.g. with rnnkit.data.handle_missing"
            )
        self._set_stats(self._compute_stats(table), _column_names(data))
        return self

    def _set_stats(self, stats, columns):
        for name in self._stat_names:
            setattr(self, name + "_", stats[name])
        self._loc, self._scale, self._shift = self._affine(stats)
        self.n_features_ = len(self._loc)
        self.columns_ = columns

    def _check_fitted(self):
        if self.n_features_ is None:
            raise RuntimeError(
                f"this {type(self).__name__} is not fitted yet: call fit(train) first"
            )

    def _check_features(self, data, values):
        if values.ndim == 1 and self.n_features_ != 1:
            raise ValueError(
                f"data is 1-D but the scaler was fitted on {self.n_features_} columns: "
                f"pass an array of shape (n, {self.n_features_})"
            )
        if values.ndim == 2 and values.shape[1] != self.n_features_:
            raise ValueError(
                f"data has {values.shape[1]} columns but the scaler was fitted on "
                f"{self.n_features_}"
            )
        names = _column_names(data)
        if values.ndim == 2 and None not in (names, self.columns_) and names != self.columns_:
            raise ValueError(
                f"data has columns {names} but the scaler was fitted on {self.columns_}"
            )

    def transform(self, data):
        """Scale ``data`` with the fitted statistics; same shape and type as ``data``."""
        self._check_fitted()
        values = _as_float(data, "data")
        self._check_features(data, values)
        return _like(data, self._to_scaled(values))

    def inverse_transform(self, data):
        """Map scaled ``data`` back to the original units; same shape and type as ``data``."""
        self._check_fitted()
        values = _as_float(data, "data")
        self._check_features(data, values)
        return _like(data, self._from_scaled(values))

    # The map and its inverse, on float64 values already checked: the public methods and
    # WindowPipeline (whose rows are checked at its door) go through these two.

    def _to_scaled(self, values, column=None):
        """Rows (..., features) to scaled units, or values of one column (any shape, or a
        number) when its position is given."""
        if column is None:
            return (values - self._loc) / self._scale + self._shift
        return (values - self._loc[column]) / self._scale[column] + self._shift

    def _from_scaled(self, scaled, column=None):
        """Scaled rows (..., features) back to the original units, or scaled values of one
        column (any shape) when its position is given."""
        if column is None:
            return (scaled - self._shift) * self._scale + self._loc
        return (scaled - self._shift) * self._scale[column] + self._loc[column]

    def fit_transform(self, data):
        """``fit(data)`` then ``transform(data)``."""
        return self.fit(data).transform(data)

    def inverse_transform_column(self, values, column):
        """Map scaled values of one column back to its original units.

        Parameters
        ----------
        values : array_like of any shape, or pandas object
            Scaled values that all belong to ``column`` (e.g. predicted targets ``(N, h)``).
        column : int or column name
            The column's position, or its name if the scaler was fitted on a DataFrame.
        """
        self._check_fitted()
        j = _column_position(column, self.columns_, self.n_features_, "column")
        scaled = _as_float(values, "values", ndims=None)
        return _like(values, self._from_scaled(scaled, j))

    def to_dict(self):
        """A JSON-serialisable description: class, parameters, fitted statistics and columns."""
        stats = None
        if self.n_features_ is not None:
            stats = {name: getattr(self, name + "_").tolist() for name in self._stat_names}
        return {
            "class": type(self).__name__,
            "params": self._params(),
            "stats": stats,
            "columns": self.columns_,
        }


class MinMaxScaler(_AffineScaler):
    """Scale each column linearly so that its training minimum and maximum map to a range.

    Parameters
    ----------
    feature_range : (float, float)
        Where the training minimum and maximum go; a constant column maps to its lower end.

    Attributes
    ----------
    data_min_, data_max_ : ndarray (features,)
        Column minimum and maximum of the data passed to ``fit``.
    """

    _stat_names = ("data_min", "data_max")

    def __init__(self, feature_range=(0.0, 1.0)):
        super().__init__()
        try:
            low, high = (float(v) for v in feature_range)
        except (TypeError, ValueError):
            raise TypeError(
                f"feature_range must be two numbers (low, high), got {feature_range!r}"
            ) from None
        if not low < high:
            raise ValueError(f"feature_range must have low < high, got {feature_range!r}")
        self.feature_range = (low, high)

    def _params(self):
        return {"feature_range": list(self.feature_range)}

    def _compute_stats(self, table):
        return {"data_min": table.min(axis=0), "data_max": table.max(axis=0)}

    def _affine(self, stats):
        low, high = self.feature_range
        data_range = stats["data_max"] - stats["data_min"]
        data_range[data_range == 0] = 1.0  # a constant column: no division by zero
        return stats["data_min"], data_range / (high - low), low


class StandardScaler(_AffineScaler):
    """Scale each column to zero mean and unit (population) standard deviation.

    Attributes
    ----------
    mean_, std_ : ndarray (features,)
        Column mean and standard deviation (ddof=0) of the data passed to ``fit``; a
        constant column has ``std_`` exactly 0 and is only centred.
    """

    _stat_names = ("mean", "std")

    def _compute_stats(self, table):
        std = table.std(axis=0)
        # the std of a constant column can come out as rounding noise; it is exactly zero
        std[np.ptp(table, axis=0) == 0] = 0.0
        return {"mean": table.mean(axis=0), "std": std}

    def _affine(self, stats):
        scale = stats["std"].copy()
        scale[scale == 0] = 1.0
        return stats["mean"], scale, 0.0


_SCALERS = {cls.__name__: cls for cls in (MinMaxScaler, StandardScaler)}


def scaler_from_dict(d):
    """Rebuild a scaler from ``to_dict()`` output; it transforms bit-identically.

    Raises
    ------
    ValueError
        If ``d`` does not describe a known scaler or its statistics are malformed.
    """
    if not isinstance(d, dict) or d.get("class") not in _SCALERS:
        found = d.get("class") if isinstance(d, dict) else type(d).__name__
        raise ValueError(
            f"not a scaler description: expected class in {list(_SCALERS)}, got {found!r}"
        )
    cls = _SCALERS[d["class"]]
    scaler = cls(**d.get("params", {}))
    stats = d.get("stats")
    if stats is None:
        return scaler
    try:
        arrays = {name: np.array(stats[name], dtype=np.float64) for name in cls._stat_names}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed {cls.__name__} statistics: {exc!r}") from None
    if not all(np.isfinite(a).all() for a in arrays.values()):
        raise ValueError(f"malformed {cls.__name__} statistics: NaN or inf in {stats}")
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"malformed {cls.__name__} statistics: shapes {shapes}")
    columns = d.get("columns")
    if columns is not None and len(columns) != len(next(iter(arrays.values()))):
        raise ValueError(f"malformed {cls.__name__}: {len(columns)} column names")
    scaler._set_stats(arrays, columns)
    return scaler


# -- returns ----------------------------------------------------------------------------------


def _index_after_first(prices):
    return prices.index[1:] if _is_pandas(prices) else None


def returns(prices):
    """Simple returns ``p_t / p_{t-1} - 1``, one row shorter than ``prices``.

    pandas input keeps the index of the later timestamp of each pair.
    """
    values = _as_float(prices, "prices")
    before = values[:-1]
    if np.any(before == 0):
        row = int(np.argmax(before == 0))
        raise ValueError(f"prices has a zero at row {row}: its simple return is undefined")
    return _like(prices, values[1:] / before - 1.0, _index_after_first(prices))


def log_returns(prices):
    """Log returns ``log p_t - log p_{t-1}``, one row shorter than ``prices``.

    pandas input keeps the index of the later timestamp of each pair. Non-positive prices
    raise ValueError (negative prices, as WTI futures had in April 2020, need simple returns
    or differences instead).
    """
    values = _as_float(prices, "prices")
    bad = values <= 0
    if bad.any():
        row = int(np.argmax(bad.reshape(len(values), -1).any(axis=1)))
        raise ValueError(
            f"prices has {int(bad.sum())} values <= 0, the first in row {row}: "
            "log returns need positive prices"
        )
    logs = np.log(values)
    return _like(prices, logs[1:] - logs[:-1], _index_after_first(prices))


# The growth factor of each step from the first, along ``axis``, of a path of returns;
# axis None: one step's, of a number (the cumulative sum of one step is itself).
def _simple_growth(rets, axis=None):
    return 1 + rets if axis is None else np.cumprod(1 + rets, axis)


def _log_growth(log_rets, axis=None):
    return np.exp(log_rets if axis is None else np.cumsum(log_rets, axis))


def _rebuild_prices(rets, start_price, name, growth):
    """Prices p_1..p_n from p_0 = start_price and the cumulative growth factors of ``rets``."""
    values = _as_float(rets, name)
    start = np.asarray(start_price, dtype=np.float64)
    if values.ndim == 1 and start.ndim != 0:
        raise ValueError(
            f"start_price must be a scalar for 1-D {name}, got an array of shape {start.shape}"
        )
    if values.ndim == 2 and start.ndim != 0:
        if start.shape != (len(values),):
            raise ValueError(
                f"2-D {name} of shape {values.shape} are one path per row, so start_price must "
                f"be a scalar or have one price per row ({len(values)},), got shape "
                f"{start.shape} (for a time-first table of several assets pass {name}.T)"
            )
        start = start[:, None]
    return _like(rets, start * growth(values, values.ndim - 1))


def prices_from_returns(returns, start_price):
    """Invert ``returns``: the price path p_1..p_n from p_0 = ``start_price``.

    Parameters
    ----------
    returns : ndarray (n,) or (N, h), pandas Series or DataFrame
        1-D: one path in time order. 2-D: one path per row (e.g. N multi-step forecasts of
        h steps each), time along the row.
    start_price : float or ndarray (N,)
        The price before the first return; for 2-D returns a scalar or one price per row.

    Returns
    -------
    prices : same shape and type as ``returns``
        ``start_price * cumprod(1 + returns)`` along time.
    """
    return _rebuild_prices(returns, start_price, "returns", _simple_growth)


def prices_from_log_returns(log_returns, start_price):
    """Invert ``log_returns``: the price path p_1..p_n from p_0 = ``start_price``.

    Same shapes as ``prices_from_returns``; prices are ``start_price * exp(cumsum(r))``, so
    ``prices_from_log_returns(log_returns(p), p[0])`` equals ``p[1:]`` up to rounding.
    """
    return _rebuild_prices(log_returns, start_price, "log_returns", _log_growth)


# -- missing values ---------------------------------------------------------------------------


def _describe_row(data, row):
    if _is_pandas(data):
        return f"{data.index[row]} (row {row})"
    return f"row {row}"


def handle_missing(data, missing="raise"):
    """Check a series for NaN and inf, and drop or forward-fill them when asked to.

    Parameters
    ----------
    data : ndarray (n,) or (n, features), pandas Series or DataFrame
        Rows in time order.
    missing : {"raise", "drop", "ffill"}
        "raise": any NaN or inf raises ValueError saying how many and where. "drop": rows
        with any NaN or inf are removed (pandas keeps the timestamps of the rest). "ffill":
        each NaN or inf takes the last finite value of its column; a column that starts
        with missing values raises ValueError, as there is nothing to carry forward.

    Returns
    -------
    ndarray (float64) or the pandas type of ``data``
        pandas input without missing values is returned as is.
    """
    check_choice("missing", missing, MISSING_MODES)
    values = _as_float(data, "data")
    bad = ~np.isfinite(values)
    if not bad.any():
        return data if _is_pandas(data) else values
    bad_rows = bad if bad.ndim == 1 else bad.any(axis=1)
    first = int(np.argmax(bad_rows))
    if missing == "raise":
        raise ValueError(
            f"data has {int(bad.sum())} missing values (NaN or inf) in {int(bad_rows.sum())} of "
            f"{len(values)} rows, the first at {_describe_row(data, first)}: clean the series, "
            "or pass missing='drop' to drop those rows or missing='ffill' to carry the last "
            "value forward"
        )
    if missing == "drop":
        keep = ~bad_rows
        return data.iloc[keep] if _is_pandas(data) else values[keep]
    if bad_rows[0]:
        n_leading = int(np.argmin(bad_rows)) if not bad_rows.all() else len(values)
        raise ValueError(
            f"data starts with {n_leading} rows holding missing values (NaN or inf), so "
            "missing='ffill' has no earlier value to carry forward: trim the leading rows "
            "or use missing='drop'"
        )
    return _like(data, _forward_fill(values, bad))


def _forward_fill(values, bad):
    table, bad = (a[:, None] if a.ndim == 1 else a for a in (values, bad))
    # for every cell the row of the last finite value at or before it, column by column
    source = np.where(bad, 0, np.arange(len(table))[:, None])
    np.maximum.accumulate(source, axis=0, out=source)
    return table[source, np.arange(table.shape[1])].reshape(values.shape)


# -- windows ----------------------------------------------------------------------------------


class Windows(NamedTuple):
    """Sliding windows over a series, batch-first.

    Attributes
    ----------
    X : ndarray (N, lookback, features), float64, read-only
        The inputs: window k covers rows ``k*stride .. k*stride + lookback - 1``.
    y : ndarray (N, horizon * n_targets), float64, read-only
        The targets in step-major order: all targets of the step after the window, then all
        of the next step, and so on for ``horizon`` steps.
    times : ndarray (N, horizon) or None
        For pandas input, the index value of each target step (datetime64[ns] for a
        DatetimeIndex); None for NumPy input.
    """

    X: np.ndarray
    y: np.ndarray
    times: np.ndarray | None


def _target_columns(data, target, n_columns):
    """The target columns as a slice when they are consecutive (so y can be a view), else a list."""
    if target is None:
        return slice(None)
    if isinstance(target, list) and not target:
        raise ValueError("target is an empty list: name at least one column")
    positions = _positions(target, _column_names(data), n_columns, "target")
    first = positions[0]
    if positions == list(range(first, first + len(positions))):
        return slice(first, first + len(positions))
    return positions


def _windows(array, length, stride, count):
    """``count`` windows of ``length`` rows every ``stride`` rows: (count, ..., length) view."""
    return sliding_window_view(array, length, axis=0)[::stride][:count]


def make_windows(data, lookback, horizon=1, stride=1, target=None, missing="raise"):
    """Cut a series into input windows and the values that follow them.

    Parameters
    ----------
    data : ndarray (n,) or (n, features), pandas Series or DataFrame
        Rows in time order; every column is an input feature.
    lookback : int
        Rows in each input window.
    horizon : int
        Steps after each window to predict.
    stride : int
        Rows between the starts of consecutive windows.
    target : None, column or list of columns
        The columns to predict: None for all of them, else a column name (pandas) or
        integer position, or a list of them.
    missing : {"raise", "drop", "ffill"}
        What to do with NaN and inf, see ``handle_missing``.

    Returns
    -------
    Windows
        ``(X, y, times)``; window k covers rows t-lookback+1..t with t = k*stride +
        lookback - 1 and its targets are rows t+1..t+horizon. X and y are read-only; for
        float64 input they are views of ``data`` (y only when the targets are consecutive
        columns), so take ``.copy()`` before writing.

    Raises
    ------
    ValueError
        If the series is too short for one window, or has missing values (see ``missing``).
    """
    for name, value in (("lookback", lookback), ("horizon", horizon), ("stride", stride)):
        check_int(name, value)
    data = handle_missing(data, missing)
    values = _as_float(data, "data")
    table = values[:, None] if values.ndim == 1 else values
    n_rows, n_columns = table.shape
    columns = _target_columns(data, target, n_columns)
    span = lookback + horizon
    if n_rows < span:
        raise ValueError(
            f"data has {n_rows} rows but one window needs lookback + horizon = "
            f"{lookback} + {horizon} = {span} rows"
        )
    count = (n_rows - span) // stride + 1
    X = _windows(table, lookback, stride, count).transpose(0, 2, 1)
    future = _windows(table[lookback:, columns], horizon, stride, count).transpose(0, 2, 1)
    # (N, horizon, targets) -> (N, horizon * targets), a view when the targets are consecutive
    y = future.reshape(count, -1)
    times = None
    if _is_pandas(data):
        times = _windows(data.index.to_numpy()[lookback:], horizon, stride, count)
    for array in (X, y, times):
        if array is not None:
            array.flags.writeable = False
    return Windows(X, y, times)


# -- the spine: one series in, time-blocked windows out -------------------------------------

TRANSFORMS = ("log_return", "return", "none", "volatility")
# "volatility": what is forecast is the absolute log return in percent, 100 |log p_t/p_{t-1}|
# (next period's realised volatility, as the course and RiskMetrics measure it); windows,
# baselines and forecasts are all in those units, not in prices.
VOLATILITY_SCALE = 100.0
SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "none": None}


class Block(NamedTuple):
    """The windows of one time block (or of a whole series), batch-first; views where possible.

    Window k reads ``lookback`` consecutive rows and forecasts the ``horizon`` rows after them.

    Attributes
    ----------
    X : ndarray (N, lookback, n_inputs), float64, read-only
        What the network reads: the input columns, transformed and scaled.
    y : ndarray (N, horizon) or None
        What the network learns: the target column, transformed and scaled; None for
        windows whose future is not known yet (forecasts).
    X_raw : ndarray (N, lookback, n_columns), float64, read-only
        The same rows in the series' own units, every column (the baselines read these).
    y_raw : ndarray (N, horizon) or None
        The targets in the series' own units.
    last : ndarray (N,)
        The target's last observed value in each window, in the series' units: the
        forecast's origin, from which forecast returns are turned back into levels.
    times : ndarray (N, horizon) or None
        The index value of every target (None for NumPy input or forecast windows).
    origin : pandas Index (N,) or None
        The index of each window's last row, when the forecast is made.
    """

    X: np.ndarray
    y: np.ndarray | None
    X_raw: np.ndarray
    y_raw: np.ndarray | None
    last: np.ndarray
    times: np.ndarray | None
    origin: np.ndarray | None

    @property
    def origin_rows(self):
        """The row each window's forecast is made at, its last, (N, n_inputs): what a
        stateful network reads to make that forecast (see :func:`split_rows`)."""
        return self.X[:, -1]


class Rows(NamedTuple):
    """Rows in time order as a stateful network reads them (see :func:`split_rows`).

    Attributes
    ----------
    X : ndarray (n, n_inputs), float64, read-only
        The input columns of each row, transformed and scaled.
    y : ndarray (n, horizon) or None
        The target column, transformed and scaled, at the ``horizon`` rows after each
        row: what the forecast made after reading that row should give; None where the
        future is not known yet.
    """

    X: np.ndarray
    y: np.ndarray | None


def _runs(array, length, start, count):
    """``count`` runs of ``length`` rows starting at rows start, start + 1, ...: a view
    (count, ..., length), empty when the array is too short for one."""
    if count == 0:
        return np.empty((0, *array.shape[1:], length), dtype=array.dtype)
    return sliding_window_view(array[start : start + count + length - 1], length, axis=0)


def _read_only(*arrays):
    for array in arrays:
        if array is not None:
            array.flags.writeable = False


class WindowPipeline:
    """The fitted way from a series to network windows and from forecasts back to its units.

    Made by :func:`split_windows`, which fits its scaler on the training block; it then
    cuts the same windows from any series with the same columns (:meth:`windows`), turns
    the network's scaled forecasts back into the series' units (:meth:`to_levels`), and
    is saved with a model as a JSON-safe dict (:meth:`to_state`).

    Attributes
    ----------
    lookback, horizon : int
    transform : {"log_return", "return", "none", "volatility"}
        Applied to every column before scaling; returns are one row shorter than levels.
    columns : list or None
        The series' column names (None for NumPy input).
    n_columns : int
    target : int
        Position of the forecast column.
    inputs : list of int
        Positions of the columns the network reads.
    unscaled : list of int
        Positions of columns passed to the network unscaled (flags, calendar dummies).
    scaler : StandardScaler, MinMaxScaler or None
        Fitted on the transformed training block, every column.
    """

    def __init__(
        self, lookback, horizon, transform, columns, n_columns, target, inputs, unscaled, scaler
    ):
        self.lookback, self.horizon, self.transform = lookback, horizon, transform
        self.columns, self.n_columns = columns, n_columns
        self.target, self.inputs, self.unscaled = target, inputs, unscaled
        self.scaler = scaler

    def __repr__(self):
        scaler = None if self.scaler is None else type(self.scaler).__name__
        return (
            f"WindowPipeline(lookback={self.lookback}, horizon={self.horizon}, "
            f"transform={self.transform!r}, target={self.target}, inputs={self.inputs}, "
            f"scaler={scaler})"
        )

    @property
    def n_inputs(self):
        """Features per step of the network's windows."""
        return len(self.inputs)

    @property
    def spent_rows(self):
        """Rows the transform uses up: a return needs the level before it."""
        return int(self.transform != "none")

    # -- the door: what every series passes before anything is cut from it

    def table(self, series, missing="raise"):
        """``series`` checked against the fitted columns: (values (n, F) float64, index)."""
        values, index, columns = _table(series, missing, self.transform)
        if values.shape[1] != self.n_columns:
            raise ValueError(
                f"series has {values.shape[1]} column(s) but the pipeline was fitted on "
                f"{self.n_columns}"
            )
        if None not in (columns, self.columns) and columns != self.columns:
            raise ValueError(
                f"series has columns {columns} but the pipeline was fitted on {self.columns}"
            )
        return values, index

    # -- forward: levels -> transformed, scaled rows -> windows

    def _rows(self, values, index):
        """(levels, transformed rows, index) row-aligned: row j of each is one time.

        A return needs the level before it, so the first level only starts the first
        return and the three are one row shorter than ``values``.
        """
        if self.transform == "none":
            return values, values, index
        rows = self._change(values[:-1], values[1:])
        # volatility: the forecast's own units, which the baselines and the scores read as levels
        levels = rows if self.transform == "volatility" else values[1:]
        return levels, rows, None if index is None else index[1:]

    def _change(self, before, after):
        """The transformed row(s) of the levels ``after``, each following the level in
        ``before`` (arrays of one shape, or numbers): the transform's formula, for a
        table's rows (:meth:`_rows`) and a stream's new one (:meth:`next_input`)."""
        if self.transform == "none":
            return after
        if self.transform == "return":
            return after / before - 1.0
        change = np.log(after) - np.log(before)
        return VOLATILITY_SCALE * np.abs(change) if self.transform == "volatility" else change

    def _scale(self, rows, column=None):
        """Transformed rows (..., n_columns) scaled, the unscaled columns as they were; or
        the values (any shape, or a number) of the column at position ``column``."""
        if self.scaler is None:
            return rows
        if column is not None:
            return rows if column in self.unscaled else self.scaler._to_scaled(rows, column)
        scaled = self.scaler._to_scaled(rows)  # rows passed the door: no checks again
        if self.unscaled:
            scaled[..., self.unscaled] = rows[..., self.unscaled]
        return scaled

    def next_input(self, last, row):
        """The network's input for one new observation: ``row`` after ``last``, through
        the transform and the scaler as :meth:`windows` takes a table's rows; a live
        stream's step (:class:`rnnkit.stream.Stream`).

        Parameters
        ----------
        last, row : ndarray (n_columns,) float64, or numbers for a one-column series
            The previous and the new observation in the series' units, finite (the
            caller checks the row's type, width and finiteness). Numbers take NumPy's
            scalar arithmetic, a fraction of the cost of its smallest array's.

        Returns
        -------
        ndarray (n_inputs,) float64, or a number for a one-column series

        Raises
        ------
        ValueError
            The pair is outside the transform's domain (as :meth:`table` would say).
        """
        _check_domain(self.transform, row, last)
        change = self._change(last, row)
        if isinstance(change, np.ndarray):
            return self._scale(change)[self.inputs]
        return self._scale(change, 0)  # one column: the one input

    def _cut(self, values, index, targets, first=0):
        """Every window of ``values`` from window ``first`` on, as one Block."""
        levels, rows, index = self._rows(values, index)
        scaled = self._scale(rows)
        L, h = self.lookback, self.horizon
        span = L + h if targets else L
        count = max(len(rows) - span + 1 - first, 0)
        X = _runs(scaled[:, self.inputs], L, first, count).transpose(0, 2, 1)
        X_raw = _runs(levels, L, first, count).transpose(0, 2, 1)
        last = X_raw[:, -1, self.target]
        y = y_raw = times = origin = None
        if targets:
            y = _runs(scaled[:, self.target], h, first + L, count)
            y_raw = _runs(levels[:, self.target], h, first + L, count)
            if index is not None:
                times = _runs(np.asarray(index), h, first + L, count)
        elif index is not None:
            origin = index[first + L - 1 : first + L - 1 + count]
        _read_only(X, y, X_raw, y_raw, times)
        return Block(X, y, X_raw, y_raw, last, times, origin)

    def sequence(self, values, targets=False):
        """Every row of a table (as :meth:`table` returns it) as a stateful network reads
        them, in time order.

        Returns
        -------
        Rows
            With ``targets``, only the rows whose ``horizon`` targets are all known, and
            their targets; else every row and ``y`` None.
        """
        scaled = self._scale(self._rows(values, None)[1])
        X = scaled[:, self.inputs]
        y = None
        if targets:
            count = max(len(X) - self.horizon, 0)
            X, y = X[:count], _runs(scaled[:, self.target], self.horizon, 1, count)
        _read_only(X, y)
        return Rows(X, y)

    def windows(self, series, missing="raise"):
        """Every window with a full lookback, up to the series' last row, for forecasting.

        Returns
        -------
        Block
            ``y`` and ``y_raw`` are None; ``origin`` holds the time of each window's last
            row for pandas input. Needs ``lookback`` rows (``lookback + 1`` with returns).
        """
        return self.forecast_windows(*self.table(series, missing))

    def forecast_windows(self, values, index):
        """:meth:`windows` of a table as :meth:`table` returns it (checked already)."""
        block = self._cut(values, index, targets=False)
        if len(block.X) == 0:
            needed = self.lookback + self.spent_rows
            raise ValueError(f"series has {len(values)} rows; a forecast needs {needed}")
        return block

    def window_index(self, index, window):
        """The index values of the rows forecast window ``window`` reads, for an ``index``
        as :meth:`table` returns it (the first rows a transform uses up are skipped)."""
        start = self.spent_rows + window
        return index[start : start + self.lookback]

    def test_block(self, values, index):
        """Every window of a table (as kept by a fitted model) whose targets are known."""
        return self._cut(values, index, targets=True)

    # -- backward: the network's scaled forecasts -> the series' units

    def to_levels(self, pred, last):
        """Scaled, transformed forecasts (N, horizon) -> levels, from each window's last
        value ``last`` (N,); or, in numbers, one window's forecast of one step from its
        last value (a stream's, :class:`rnnkit.stream.Stream`). The formulas of the
        scaler's inverse and of :func:`prices_from_log_returns` /
        :func:`prices_from_returns`, without their checks: both come from this pipeline
        and its model."""
        one = not isinstance(pred, np.ndarray)
        pred = np.float64(pred) if one else np.asarray(pred, dtype=np.float64)
        if self.scaler is not None and self.target not in self.unscaled:
            pred = self.scaler._from_scaled(pred, self.target)
        if self.transform == "volatility":
            return np.maximum(pred, 0.0)  # an absolute return is never below 0
        if self.transform == "none":
            return pred
        growth = _log_growth if self.transform == "log_return" else _simple_growth
        if one:
            return last * growth(pred)
        return np.asarray(last, dtype=np.float64)[:, None] * growth(pred, 1)

    # -- state

    def to_state(self):
        """Everything as a JSON-safe dict (no arrays)."""
        return {
            "lookback": self.lookback,
            "horizon": self.horizon,
            "transform": self.transform,
            "columns": self.columns,
            "n_columns": self.n_columns,
            "target": self.target,
            "inputs": self.inputs,
            "unscaled": self.unscaled,
            "scaler": None if self.scaler is None else self.scaler.to_dict(),
        }

    @classmethod
    def from_state(cls, state):
        """The pipeline :meth:`to_state` described; it transforms bit-identically.

        Raises
        ------
        ValueError
            A state that does not describe a pipeline (from a damaged or crafted file).
        """
        n_columns = check_int("n_columns", state["n_columns"])
        columns = state["columns"]
        if columns is not None and (not isinstance(columns, list) or len(columns) != n_columns):
            raise ValueError(f"columns must be None or {n_columns} names, got {columns!r}")

        def positions(name, values):
            if (
                not (isinstance(values, list) and all(is_int(v) for v in values))
                or len(set(values)) != len(values)
                or not all(0 <= v < n_columns for v in values)
            ):
                raise ValueError(
                    f"{name} must be distinct column positions in [0, {n_columns}), got {values!r}"
                )
            return values

        inputs = positions("inputs", state["inputs"])
        if not inputs:
            raise ValueError("inputs must name at least one column, got none")
        scaler = state["scaler"]
        pipeline = cls(
            check_int("lookback", state["lookback"]),
            check_int("horizon", state["horizon"]),
            check_choice("transform", state["transform"], TRANSFORMS),
            columns,
            n_columns,
            positions("target", [state["target"]])[0],
            inputs,
            positions("unscaled", state["unscaled"]),
            None if scaler is None else scaler_from_dict(scaler),
        )
        if pipeline.scaler is not None and pipeline.scaler.n_features_ != n_columns:
            raise ValueError(
                f"the scaler has {pipeline.scaler.n_features_} columns, the pipeline {n_columns}"
            )
        return pipeline


def _table(series, missing, transform):
    """The door: ``series`` as (values (n, F) float64, index or None, column names or None).

    Missing values are handled (see :func:`handle_missing`) and the transform's domain is
    checked (returns need levels that are not zero, log returns positive ones).
    """
    check_choice("transform", transform, TRANSFORMS)
    _check_kinds(series)
    if _is_pandas(series):
        _check_time_order(series.index)
    series = handle_missing(series, missing)
    values = _as_float(series, "series")
    if len(values) == 0:
        raise ValueError(f"series has no rows (shape {values.shape})")
    values = values.reshape(len(values), -1)
    index = series.index if _is_pandas(series) else None
    columns = _column_names(series)
    if columns is not None and len(set(map(repr, columns))) != len(columns):
        raise ValueError(f"series has columns of the same name: {columns}; rename them first")
    _check_domain(transform, values, values[:-1])
    return values, index, columns


def _check_domain(transform, levels, divisors):
    """Refuse what the transform cannot take: log returns (and the volatility) need
    positive ``levels``, simple returns non-zero ``divisors`` (every level but the last).
    Arrays, or numbers (a one-column stream's new level and the last)."""
    # a number is a stream's new value, an array the series
    what = "the value is" if np.ndim(levels) == 0 else "the series has values"
    if transform in ("log_return", "volatility") and _any(levels <= 0):
        raise ValueError(
            f"transform={transform!r} needs positive prices (it takes their logarithm); "
            f"{what} <= 0 (use transform='none' for series that can be zero or negative)"
        )
    if transform == "return" and _any(divisors == 0):
        zeros = "the last value is 0" if np.ndim(divisors) == 0 else "the series has zeros"
        raise ValueError(f"transform='return' needs non-zero values; {zeros}")


def _any(flags):
    """Whether ``flags``, a comparison of an array or of a number, holds a True; the
    reduction only for an array (on a number it costs ten times the comparison)."""
    return flags.any() if isinstance(flags, np.ndarray) else bool(flags)


# What each kind of NumPy dtype is, for errors; only ints and floats are taken as numbers.
_KINDS = {"b": "True/False", "c": "complex numbers", "M": "dates", "m": "time spans",
          "O": "Python objects (text?)", "U": "text", "S": "bytes", "V": "records"}  # fmt: skip


def _check_kinds(series):
    """Refuse columns that NumPy would turn into numbers silently wrongly: dates as
    nanoseconds, True as 1, a complex number's real part, text that looks numeric."""
    if _is_pandas(series):
        dtypes = series.dtypes.items() if series.ndim == 2 else [(series.name, series.dtype)]
    else:
        dtypes = [(None, np.asarray(series).dtype)]
    for name, dtype in dtypes:
        kind = dtype.kind  # NumPy's and pandas' own dtypes alike
        if kind not in "iuf":
            if name is None:
                where = "series"
            else:
                where = f"column {name!r} of series" if series.ndim == 2 else f"series {name!r}"
            hint = (
                ": make it the index, e.g. frame.set_index(column)"
                if kind == "M"
                else ": convert it first, e.g. with pandas.to_numeric"
                if kind in "OUS"
                else ""
            )
            raise TypeError(f"{where} holds {_KINDS.get(kind, dtype)} ({dtype}), not numbers{hint}")


def _check_time_order(index):
    """Refuse an index of times or numbers that is not strictly increasing, naming the first
    row out of order and the fix: a model trained out of order is silently wrong."""
    kind = getattr(index.dtype, "kind", "O")  # a time zone's dtype is of kind "M" too
    if kind not in "iufM" or (index.is_monotonic_increasing and index.is_unique):
        return
    times = index.asi8 if kind == "M" else np.asarray(index)
    row = int(np.argmin(times[1:] > times[:-1])) + 1
    if times[row] == times[row - 1]:
        raise ValueError(
            f"the series' index has {int(index.duplicated().sum())} repeated time(s), the first "
            f"{index[row]!r} at row {row}: keep one row per time first, e.g. "
            "series[~series.index.duplicated(keep='last')]"
        )
    raise ValueError(
        f"the series' index is not in time order: row {row} ({index[row]!r}) comes before "
        f"row {row - 1} ({index[row - 1]!r}); sort it first with series.sort_index()"
    )


def _is_empty(key):
    return key is None or (isinstance(key, list | tuple | np.ndarray) and len(key) == 0)


def _positions(key, columns, n_columns, arg):
    """Column positions of ``key`` (one column, or a list of them), without repeats.

    A tuple is one key: pandas names columns of a MultiIndex by tuples.
    """
    keys = list(key) if isinstance(key, list | np.ndarray) else [key]
    if not keys:
        raise ValueError(f"{arg} must name at least one column, got an empty list")
    positions = [_column_position(k, columns, n_columns, arg) for k in keys]
    if len(set(positions)) != len(positions):
        raise ValueError(f"{arg} names a column twice: {key!r}")
    return positions


class SplitWindows(NamedTuple):
    """What :func:`split_windows` returns.

    Attributes
    ----------
    train, val, test : Block
        The windows of each block (``val`` or ``test`` may hold no window when their
        fraction is 0).
    pipeline : WindowPipeline
        The fitted pipeline, to cut the same windows from new data and undo the scaling.
    bounds : (int, int)
        The rows of the transformed series where the validation and the test blocks
        begin (every window's last target before the first is a training target).
    test_values : ndarray (m, F)
        The rows of the series that the test windows read, in its own units:
        ``pipeline.test_block(test_values, test_index)`` rebuilds them exactly.
    test_index : pandas Index or None
        Their index, for pandas input.
    """

    train: Block
    val: Block
    test: Block
    pipeline: WindowPipeline
    bounds: tuple
    test_values: np.ndarray
    test_index: object


def split_windows(
    series,
    lookback,
    horizon=1,
    target=None,
    inputs=None,
    transform="log_return",
    scaler="standard",
    val=VAL,
    test=TEST,
    missing="raise",
    unscaled=None,
    warmup=0,
):
    """Cut a series into train, validation and test windows, with nothing leaking backwards.

    The one place rnnkit decides blocks and cuts windows for a model:

    1. The series is checked at the door and refused, with the fix in the message, if
       its times are out of order or repeated, if a column holds dates, True/False,
       complex numbers or objects rather than numbers, if values are missing (unless
       ``missing`` says what to do) or outside the transform's domain; then it is
       transformed (``transform``, every column).
    2. Its transformed rows are split in time order (:func:`split_by_time`).
    3. The scaler is fitted on the training block's rows only.
    4. Windows of ``lookback`` rows are cut over the whole series, and each belongs to
       the block of its last target, so no window trains on a value later used to
       judge it; a validation or test window may read rows of an earlier block, which
       were known at its forecast time.

    Parameters
    ----------
    series : ndarray (n,) or (n, F), pandas Series or DataFrame
        Rows in time order.
    lookback, horizon : int
        Rows each window reads; rows after it that it forecasts.
    target : column name or int, optional
        The column to forecast (default the first).
    inputs : list of column names or ints, optional
        The columns the network reads (default all, the target among them).
    transform : {"log_return", "return", "none", "volatility"}
        What the network models: log returns, simple returns or the values themselves
        (forecasts are turned back into the series' units), or ``"volatility"``: the
        absolute log return in percent, ``100 |log(p_t / p_{t-1})|``, which is then
        also what the windows' raw values, the targets and the forecasts are.
    scaler : {"standard", "minmax", "none"}
    val, test : float
        Fractions of the transformed rows for validation and test, in time order.
    missing : {"raise", "drop", "ffill"}
        What to do with NaN or inf (see :func:`handle_missing`).
    unscaled : column name or int, or a list of them, optional
        Columns passed to the network as they are (event flags, calendar dummies).
    warmup : int
        Rows at the start of the transformed series that serve only as inputs: no
        target falls among them, as if the lookback were at least ``warmup``. A sweep
        over lookbacks passes the longest, so that every lookback is trained and
        scored on the same targets.

    Returns
    -------
    SplitWindows
        ``(train, val, test, pipeline, bounds, test_values, test_index)``.

    Raises
    ------
    ValueError
        A bad argument (named), or a series too short for a training window or, when
        ``test > 0``, a test window.
    """
    lookback, horizon = check_int("lookback", lookback), check_int("horizon", horizon)
    warmup = check_int("warmup", warmup, minimum=0)
    val, test = check_fraction("val", val), check_fraction("test", test)
    check_choice("scaler", scaler, tuple(SCALERS))
    values, index, columns = _table(series, missing, transform)
    n_columns = values.shape[1]
    target = _positions(0 if target is None else target, columns, n_columns, "target")
    if len(target) != 1:
        raise ValueError(f"target must name one column, got {len(target)}")
    inputs = list(range(n_columns)) if inputs is None else inputs
    pipeline = WindowPipeline(
        lookback, horizon, transform, columns, n_columns, target[0],
        _positions(inputs, columns, n_columns, "inputs"),
        [] if _is_empty(unscaled) else _positions(unscaled, columns, n_columns, "unscaled"),
        None,
    )  # fmt: skip
    n_rows = len(values) - pipeline.spent_rows
    n_train, n_val, _ = (len(b) for b in split_by_time(np.arange(n_rows), val, test))
    if SCALERS[scaler] is not None:
        # the transformed training rows only: the levels up to the last one they need
        train_rows = pipeline._rows(values[: n_train + pipeline.spent_rows], None)[1]
        pipeline.scaler = SCALERS[scaler]().fit(train_rows)

    def cut(lookback):
        """(first, cuts, count): the first window whose targets are rows >= warmup, where
        the training and the validation windows end among the count from there on."""
        first = max(warmup - lookback, 0)
        count = max(n_rows - lookback - horizon + 1 - first, 0)  # as pipeline._cut counts
        # Window j's last target is row first + j + lookback + horizon - 1, rising with
        # j: each block is one run of windows, ending where its last target leaves it.
        last_of_first = first + lookback + horizon - 1
        ends = np.clip([n_train - last_of_first, n_train + n_val - last_of_first], 0, count)
        return first, ends, count

    def empty(lookback):
        """The first block that needs windows and has none with ``lookback``, or None."""
        _, ends, count = cut(lookback)
        return "train" if ends[0] == 0 else "test" if test and ends[1] == count else None

    if (name := empty(lookback)) is not None:
        # a longer lookback leaves no more windows in any block: search for the longest
        longest = _longest(1, lookback - 1, lambda shorter: empty(shorter) is None)
        raise ValueError(
            f"the series is too short for a {name} window: {len(values)} rows with "
            f"lookback={lookback}, horizon={horizon}, val={val}, test={test}"
            + (f", warmup={warmup}" if warmup else "")
            + (f"; lookback={longest} is the longest that leaves one" if longest else
               "; no lookback leaves one: more rows, a shorter horizon or smaller val and "
               "test" + (" or warmup" if warmup else ""))
        )  # fmt: skip
    first, cuts, count = cut(lookback)
    every = pipeline._cut(values, index, targets=True, first=first)
    assert len(every.X) == count, "cut counts the windows as pipeline._cut does"
    blocks = [Block(*(None if a is None else a[s] for a in every)) for s in (
        slice(0, cuts[0]), slice(cuts[0], cuts[1]), slice(cuts[1], None))]  # fmt: skip
    # window k reads rows k .. k + lookback (the first only to start a return)
    test_start = int(cuts[1]) + first
    test_index = None if index is None else index[test_start:]
    bounds = (n_train, n_train + n_val)
    return SplitWindows(*blocks, pipeline, bounds, values[test_start:].copy(), test_index)


def _longest(lo, hi, holds):
    """The largest n in [lo, hi] for which ``holds(n)``, or None; ``holds`` is true up to
    some n and false after it."""
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        if holds(mid):
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


class SplitRows(NamedTuple):
    """What :func:`split_rows` returns.

    Attributes
    ----------
    train, val, test : Rows
        Consecutive runs of rows: training starts at the first row of the transformed
        series, validation starts at the row after training's last, the test at the row
        after validation's last (its rows are the test windows' ``origin_rows``).
    windows : SplitWindows
        :func:`split_windows` of the same series and arguments: the pipeline, the test
        windows the baselines are scored on, ``test_values``.
    """

    train: Rows
    val: Rows
    test: Rows
    windows: SplitWindows


def split_rows(series, lookback, horizon=1, **options):
    """The rows of a series as a stateful network reads them, in the blocks that
    :func:`split_windows` decides.

    A stateful network reads the transformed, scaled rows one after the other, carrying
    its state, and after each row forecasts the ``horizon`` target rows that follow.
    That forecast belongs to the block of its last target, as a window does: the rows of
    a block are exactly the windows' forecast origins, and each block's rows continue
    where the previous block's ended (training's start at the first row, before the first
    window's origin, with a state read from nothing but the rows before it). The scaler
    is the one :func:`split_windows` fitted on the training block.

    Parameters
    ----------
    series, lookback, horizon
        As for :func:`split_windows`; ``lookback`` cuts the windows the baselines read
        and no longer bounds what the network sees.
    **options
        :func:`split_windows`'s other keywords (``target``, ``inputs``, ``transform``,
        ``scaler``, ``val``, ``test``, ``missing``, ``unscaled``), except ``warmup``:
        a stateful network reads every row.

    Returns
    -------
    SplitRows
        ``(train, val, test, windows)``.
    """
    if "warmup" in options:
        raise TypeError("split_rows takes no warmup: a stateful network reads every row")
    windows = split_windows(series, lookback, horizon, **options)
    pipeline = windows.pipeline
    missing = options.get("missing", inspect.signature(split_windows).parameters["missing"].default)
    rows = pipeline.sequence(pipeline.table(series, missing)[0], targets=True)
    # row j forecasts rows j + 1 .. j + horizon: it belongs to the block of row j + horizon
    train_end, val_end = (bound - pipeline.horizon for bound in windows.bounds)
    test = Rows(windows.test.origin_rows, windows.test.y)
    blocks = [Rows(rows.X[a:b], rows.y[a:b]) for a, b in ((0, train_end), (train_end, val_end))]
    return SplitRows(*blocks, test, windows)
