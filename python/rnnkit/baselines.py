"""Simple forecasts to hold the networks to: naive, drift, moving average, EWMA, linear AR.

Every baseline reads the windows the networks read, X ``(N, lookback, n_features)`` from
``rnnkit.data.make_windows``, and forecasts the next ``horizon`` values of one or more target
columns of X in y's step-major layout: row k is ``[every target at t+1, every target at t+2,
..., every target at t+h]``, shape ``(N, horizon * n_targets)``. A baseline sees only the
window's past, never y of the same window.

One interface for all: ``fit(X, y)`` on the training windows (most baselines learn nothing,
but fit records the horizon, ``y.shape[1] // n_targets``, and checks the shapes), then
``predict(X)`` on any windows with the same features. ``name`` labels a baseline in tables.
Every baseline follows scikit-learn's estimator conventions (the constructor stores its
arguments, ``fit`` checks them; ``get_params``, ``set_params``) and turns itself into a
JSON-safe dict and arrays (``to_state``; :func:`from_state` reads it back).
"""

import numpy as np

from ._checks import (
    check_bool,
    check_choice,
    check_int,
    check_real,
    finite_array,
    float_array,
    is_int,
    is_real,
)
from ._estimator import Estimator

__all__ = [
    "EWMA",
    "GARCH",
    "Baseline",
    "Drift",
    "LinearRegression",
    "MovingAverage",
    "Naive",
    "RiskMetrics",
    "default_baselines",
    "from_state",
    "volatility_baselines",
]


def _check_target(target):
    """``target`` as given, after checking it is a column index or a non-empty list of them."""
    if is_int(target):
        return int(target)
    if isinstance(target, (list, tuple, np.ndarray)) and all(map(is_int, target)):
        if len(target) == 0:
            raise ValueError("target must name at least one column of X, got an empty list")
        return [int(t) for t in target]
    raise TypeError(
        f"target must be an integer column index of X or a list of them, got {target!r}"
    )


# Windows a pass over many of them handles at once: memory follows the chunk, not all the
# windows times their length (a view of a series stays a view until a chunk is copied).
CHUNK = 8192


def _chunks(n):
    return (slice(start, start + CHUNK) for start in range(0, n, CHUNK))


def _check_windows(X):
    """X as a float64 array of shape (N, lookback, n_features), none of them zero, all finite."""
    windows = float_array("X", X)
    if windows.ndim != 3 or 0 in windows.shape:
        raise ValueError(
            "X must be windows of shape (N, lookback, n_features), none of them 0, as made by "
            f"rnnkit.data.make_windows; got shape {windows.shape}"
        )
    bad = sum(int(np.size(part) - np.isfinite(part).sum()) for part in map(windows.__getitem__,
                                                                          _chunks(len(windows))))  # fmt: skip
    if bad:
        raise ValueError(
            f"X must be finite, got {bad} NaN or inf value(s) in an array of shape {windows.shape}"
        )
    return windows


def _setting(value):
    """A parameter as a name shows it: numbers short (0.3, 1e-05), anything else as its repr."""
    return f"{value:g}" if is_real(value) else repr(value)


class Baseline(Estimator):
    """The interface every baseline shares; subclasses define ``_forecast`` (and ``_fit``).

    Parameters
    ----------
    target : int or list of int
        Column index (or indices) in X's features of the value(s) being forecast; negative
        indices count from the end as in NumPy.

    Attributes
    ----------
    name : str
        A short label for tables.
    horizon_ : int
        The number of future steps, set by ``fit``.
    lookback_, n_features_ : int
        The window length and the number of features seen by ``fit``.
    targets_ : list of int
        The target columns, as non-negative indices, set by ``fit``.
    """

    def __init__(self, target=0):
        self.target = target

    @property
    def name(self):
        """A short label for tables: the class name, with its settings where it has any."""
        return type(self).__name__

    def _check_params(self):
        """Check the parameters other than target (fit calls it first)."""

    def _check_fitted_arrays(self):
        """Check what a subclass's fit learned against the window shape (for a loaded one)."""

    def num_fitted(self):
        """How many numbers fit learned (only the linear regression learns any)."""
        return 0

    _FITTED = ("targets_", "lookback_", "n_features_", "horizon_")  # what every fit sets
    _FITTED_ARRAYS = ()  # what a subclass's fit learns, saved as arrays

    def to_state(self):
        """The fitted baseline as (JSON-safe dict, dict of arrays); see :func:`from_state`."""
        params = {
            name: list(map(int, value)) if isinstance(value, list | tuple | np.ndarray) else value
            for name, value in self.get_params(deep=False).items()
        }
        meta = {"class": type(self).__name__, "params": params}
        meta["fitted"] = {name: getattr(self, name) for name in self._FITTED}
        return meta, {name: getattr(self, name) for name in self._FITTED_ARRAYS}

    def fit(self, X, y):
        """Record the horizon and the window shape from the training windows, and learn.

        Parameters
        ----------
        X : array_like, shape (N, lookback, n_features)
            Training windows.
        y : array_like, shape (N, horizon * n_targets)
            Their future values, step-major.

        Returns
        -------
        self
        """
        self._check_params()
        windows = _check_windows(X)
        targets = self._resolve_targets(windows.shape[2])
        future = finite_array("y", y)
        n, n_targets = windows.shape[0], len(targets)
        if (
            future.ndim != 2
            or future.shape[0] != n
            or future.shape[1] == 0
            or future.shape[1] % n_targets
        ):
            raise ValueError(
                f"y must have shape (N, horizon * n_targets) = ({n}, h * {n_targets}) for X of "
                f"shape {windows.shape} and target={self.target!r}; got shape {future.shape}"
            )
        self.targets_ = targets
        self.lookback_, self.n_features_ = windows.shape[1:]
        self.horizon_ = future.shape[1] // n_targets
        self._fit(self._select(windows), future)
        return self

    def predict(self, X):
        """Forecast the next ``horizon_`` steps of every target after each window.

        Parameters
        ----------
        X : array_like, shape (N, lookback, n_features)
            Windows with the features seen by ``fit``.

        Returns
        -------
        numpy.ndarray, shape (N, horizon_ * n_targets)
            Step-major, like y.
        """
        if not hasattr(self, "horizon_"):
            raise RuntimeError(
                f"{self.name} is not fitted: call fit(X, y) on the training windows first "
                "(it takes the horizon from y)"
            )
        windows = _check_windows(X)
        if windows.shape[2] != self.n_features_:
            raise ValueError(
                f"X has {windows.shape[2]} features but {self.name} was fitted on "
                f"{self.n_features_}; got X of shape {windows.shape}"
            )
        return self._forecast(self._select(windows))

    def _resolve_targets(self, n_features):
        target = _check_target(self.target)
        targets = target if isinstance(target, list) else [target]
        for t in targets:
            if not -n_features <= t < n_features:
                raise ValueError(
                    f"target index {t} is out of range for X with {n_features} feature(s)"
                )
        return [t % n_features for t in targets]

    def _select(self, windows):
        """The part of the windows a forecast reads: the target columns, (N, lookback, n_t);
        a view when they are consecutive."""
        first = self.targets_[0]
        if self.targets_ == list(range(first, first + len(self.targets_))):
            return windows[:, :, first : first + len(self.targets_)]
        return windows[:, :, self.targets_]

    def _fit(self, series, y):
        """Learn from the selected training windows; nothing to learn by default."""

    def _forecast(self, series):
        raise NotImplementedError

    def _flat(self, level):
        """One value per window and target, (N, n_targets), held over the horizon."""
        return np.tile(level, self.horizon_)


class Naive(Baseline):
    """Tomorrow = today: every future step is the last observed value of the target.

    Parameters
    ----------
    target : int or list of int
        Target column(s) of X.
    """

    name = "Naive"

    def _forecast(self, series):
        return self._flat(series[:, -1])


class Drift(Baseline):
    """The last value plus k times the window's average change, for step k = 1..horizon.

    The average change is ``(last - first) / (lookback - 1)``; with lookback 1 it is 0 and
    the forecast is the naive one.

    Parameters
    ----------
    target : int or list of int
        Target column(s) of X.
    """

    name = "Drift"

    def _forecast(self, series):
        first, last = series[:, 0], series[:, -1]
        slope = (last - first) / max(series.shape[1] - 1, 1)
        steps = np.arange(1, self.horizon_ + 1, dtype=np.float64)
        path = last[:, None, :] + steps[None, :, None] * slope[:, None, :]
        return path.reshape(len(series), -1)


class MovingAverage(Baseline):
    """The mean of the last ``window`` values of the target, held over the horizon.

    Parameters
    ----------
    window : int
        How many of the latest values to average; at most the lookback of the windows.
    target : int or list of int
        Target column(s) of X.
    """

    def __init__(self, window=5, target=0):
        super().__init__(target)
        self.window = window

    @property
    def name(self):
        return f"MovingAverage({self.window})"

    def _check_params(self):
        check_int("window", self.window)

    def _check_lookback(self, lookback):
        if self.window > lookback:
            raise ValueError(
                f"{self.name} needs windows of at least {self.window} steps, but X has lookback "
                f"{lookback}; use window <= lookback"
            )

    def _fit(self, series, y):
        self._check_lookback(series.shape[1])

    def _forecast(self, series):
        self._check_lookback(series.shape[1])
        return self._flat(series[:, -self.window :].mean(axis=1))


class EWMA(Baseline):
    """The exponentially weighted mean of the window, held over the horizon.

    ``s = x_0``, then ``s = alpha * x_t + (1 - alpha) * s`` for each later step t of the
    window; alpha = 1 is the naive forecast.

    Parameters
    ----------
    alpha : float
        Weight of the newest value, 0 < alpha <= 1.
    target : int or list of int
        Target column(s) of X.
    """

    def __init__(self, alpha=0.3, target=0):
        super().__init__(target)
        self.alpha = alpha

    @property
    def name(self):
        return f"EWMA({_setting(self.alpha)})"

    def _check_params(self):
        if not 0 < check_real("alpha", self.alpha) <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha!r}")

    def _forecast(self, series):
        level = series[:, 0]
        for step in range(1, series.shape[1]):
            level = self.alpha * series[:, step] + (1.0 - self.alpha) * level
        return self._flat(level)


class LinearRegression(Baseline):
    """Least squares from the lookback window to the whole y row (multi-output, linear AR).

    The inputs of a window are its lags flattened step by step, oldest first:
    ``[x_{t-L+1}, ..., x_t]`` with each x the target columns (``features="target"``) or all
    features (``features="all"``). Solved with ``numpy.linalg.lstsq`` on centred data, so the
    intercept is never penalised; a ridge penalty ``ridge * ||coef||^2`` is added by
    augmenting the system with ``sqrt(ridge) * I``. With fewer windows than inputs the
    minimum-norm solution is taken.

    Parameters
    ----------
    ridge : float
        L2 penalty on the coefficients, >= 0.
    fit_intercept : bool
        Fit a constant per output; False forces the line through the origin.
    features : {"target", "all"}
        Regress on the lags of the target column(s) only, or of every feature of X.
    target : int or list of int
        Target column(s) of X.

    Attributes
    ----------
    coef_ : numpy.ndarray, shape (horizon * n_targets, lookback * n_inputs)
        One row per output (scikit-learn's layout): ``predict = inputs @ coef_.T +
        intercept_``.
    intercept_ : numpy.ndarray, shape (horizon * n_targets,)
        Zeros when ``fit_intercept`` is False.
    """

    def __init__(self, ridge=0.0, fit_intercept=True, features="target", target=0):
        super().__init__(target)
        self.ridge = ridge
        self.fit_intercept = fit_intercept
        self.features = features

    @property
    def name(self):
        options = [f"ridge={_setting(self.ridge)}"] if self.ridge else []
        options += [] if self.fit_intercept else ["no intercept"]
        options += ["all features"] if self.features == "all" else []
        return "LinearRegression" + (f"({', '.join(options)})" if options else "")

    def _check_params(self):
        if check_real("ridge", self.ridge) < 0:
            raise ValueError(f"ridge must be >= 0, got {self.ridge!r}")
        check_bool("fit_intercept", self.fit_intercept)
        check_choice("features", self.features, ("target", "all"))

    _FITTED_ARRAYS = ("coef_", "intercept_")

    def _check_fitted_arrays(self):
        outputs = self.horizon_ * len(self.targets_)
        inputs = self.lookback_ * (
            self.n_features_ if self.features == "all" else len(self.targets_)
        )
        if self.coef_.shape != (outputs, inputs) or self.intercept_.shape != (outputs,):
            raise ValueError(
                f"coef_ {self.coef_.shape} and intercept_ {self.intercept_.shape} do not fit "
                f"{outputs} outputs of {inputs} inputs"
            )

    def num_fitted(self):
        return self.coef_.size + self.intercept_.size

    def _select(self, windows):
        return windows if self.features == "all" else super()._select(windows)

    def _fit(self, series, y):
        n, n_inputs = len(series), series.shape[1] * series.shape[2]

        def inputs(rows):  # one chunk of windows flattened: a copy of that chunk only
            return series[rows].reshape(-1, n_inputs)

        if self.fit_intercept:
            input_mean = sum(inputs(rows).sum(axis=0) for rows in _chunks(n)) / n
            output_mean = y.mean(axis=0)
        else:
            input_mean, output_mean = np.zeros(n_inputs), np.zeros(y.shape[1])
        # Least squares by a QR factorisation built chunk by chunk (TSQR): the triangle of
        # [A | b] over all windows, each chunk stacked under the triangle so far. Q'b rides
        # along as the last columns; A itself is never held whole.
        r = np.zeros((0, n_inputs + y.shape[1]))
        for rows in _chunks(n):
            chunk = np.hstack([inputs(rows) - input_mean, y[rows] - output_mean])
            r = np.linalg.qr(np.vstack([r, chunk]), mode="r")
        if self.ridge > 0:
            penalty = np.hstack([np.sqrt(float(self.ridge)) * np.eye(n_inputs),
                                 np.zeros((n_inputs, y.shape[1]))])  # fmt: skip
            r = np.linalg.qr(np.vstack([r, penalty]), mode="r")
        # the minimum-norm solution of R coef = Q'b is that of the whole system
        coef = np.linalg.lstsq(r[:n_inputs, :n_inputs], r[:n_inputs, n_inputs:], rcond=None)[0]
        self.coef_ = coef.T
        self.intercept_ = output_mean - input_mean @ coef

    def _forecast(self, series):
        if series.shape[1] != self.lookback_:
            raise ValueError(
                f"{self.name} was fitted on windows of lookback {self.lookback_}, but X has "
                f"lookback {series.shape[1]}"
            )
        n_inputs = series.shape[1] * series.shape[2]
        return (
            np.concatenate(
                [series[rows].reshape(-1, n_inputs) @ self.coef_.T for rows in _chunks(len(series))]
            )
            + self.intercept_
        )


class _Volatility(Baseline):
    """A volatility model on windows of absolute returns ``a`` (``r**2 = a**2``): each
    subclass gives the variance of the next ``horizon`` returns after every window, and
    the forecast of ``|r|`` is ``scale_ * sqrt(variance)``.

    ``scale_`` (one per target) is fitted by least squares on the training windows: for
    normal returns it is ``sqrt(2 / pi)``, fat tails lower it.
    """

    _FITTED_ARRAYS = ("scale_",)

    def _variances(self, series):
        """(N, horizon, n_targets) variance forecasts for the selected windows."""
        raise NotImplementedError

    def _fit_model(self, series):
        """Learn the variance model's own parameters from the training windows."""

    def _fit(self, series, y):
        self._fit_model(series)
        n_targets = series.shape[2]
        products, squares = np.zeros(n_targets), np.zeros(n_targets)
        for rows in _chunks(len(series)):
            sigma = np.sqrt(self._variances(series[rows]))
            products += (y[rows].reshape(sigma.shape) * sigma).sum(axis=(0, 1))
            squares += (sigma**2).sum(axis=(0, 1))
        self.scale_ = products / np.where(squares > 0, squares, 1.0)

    def num_fitted(self):
        return sum(getattr(self, name).size for name in self._FITTED_ARRAYS)

    def _check_fitted_arrays(self):
        if self.scale_.shape != (len(self.targets_),) or np.any(self.scale_ < 0):
            raise ValueError(
                f"scale_ must be {len(self.targets_)} numbers >= 0 (a volatility is never "
                f"negative), got {self.scale_!r}"
            )

    def _forecast(self, series):
        parts = [
            self.scale_ * np.sqrt(self._variances(series[rows])) for rows in _chunks(len(series))
        ]
        if not parts:
            return np.empty((0, self.horizon_ * len(self.targets_)))
        return np.concatenate(parts).reshape(len(series), -1)  # step-major, as y


class RiskMetrics(_Volatility):
    """J.P. Morgan's RiskMetrics (1996): an exponentially weighted mean of squared returns.

    Over each window, ``v = lam * v + (1 - lam) * a_t**2`` from the window's mean square;
    the variance forecast is ``v`` at every step of the horizon (an integrated GARCH).

    Parameters
    ----------
    lam : float
        Decay, 0 < lam < 1; RiskMetrics uses 0.94 for daily data.
    target : int or list of int
        Target column(s) of X: absolute returns.
    """

    def __init__(self, lam=0.94, target=0):
        super().__init__(target)
        self.lam = lam

    @property
    def name(self):
        return f"RiskMetrics({_setting(self.lam)})"

    def _check_params(self):
        if not 0 < check_real("lam", self.lam) < 1:
            raise ValueError(f"lam must be in (0, 1), got {self.lam!r}")

    def _variances(self, series):
        # the recursion unrolled: a fixed weight per step of the window, the start included
        T, lam = series.shape[1], float(self.lam)
        weights = (1.0 - lam) * lam ** np.arange(T - 1, -1, -1) + lam**T / T
        variance = np.einsum("ntk,t->nk", series**2, weights)
        return np.repeat(variance[:, None, :], self.horizon_, axis=1)


class GARCH(_Volatility):
    """GARCH(1,1) with zero mean, ``s2_{t+1} = omega + alpha * a_t**2 + beta * s2_t``.

    ``fit`` estimates omega, alpha and beta by maximum likelihood with the optional
    ``arch`` package on the training windows read as one series (consecutive windows, as
    :func:`rnnkit.data.split_windows` cuts them). Each forecast filters its own window from
    the unconditional variance (the window's mean square when alpha + beta = 1) and goes
    on ``v_k = omega + (alpha + beta) * v_(k-1)`` for the steps after the first; it needs
    no ``arch``.

    Parameters
    ----------
    target : int or list of int
        Target column(s) of X: absolute returns.

    Attributes
    ----------
    params_ : ndarray (n_targets, 3)
        omega, alpha, beta of each target.
    """

    name = "GARCH(1,1)"
    _FITTED_ARRAYS = ("scale_", "params_")

    def _fit_model(self, series):
        try:
            from arch import arch_model
        except ImportError:
            raise ImportError(
                "the GARCH baseline needs the arch package: pip install 'rnnkit[volatility]'"
            ) from None
        params = []
        for k in range(series.shape[2]):
            returns = np.concatenate([series[0, :, k], series[1:, -1, k]])
            fitted = arch_model(returns, mean="Zero", vol="GARCH", p=1, q=1, rescale=False)
            result = fitted.fit(disp="off", show_warning=False)
            params.append([result.params["omega"], result.params["alpha[1]"],
                           result.params["beta[1]"]])  # fmt: skip
        self.params_ = np.asarray(params, dtype=np.float64)

    def _check_fitted_arrays(self):
        super()._check_fitted_arrays()
        shape_ok = self.params_.shape == (len(self.targets_), 3)
        # arch estimates omega > 0, alpha, beta >= 0 with alpha + beta <= 1; beyond that
        # the variance explodes, which no fitted model gives
        if not shape_ok or np.any(self.params_ < 0) or np.any(self.params_[:, 1:].sum(1) > 1):
            raise ValueError(
                f"params_ must be omega, alpha, beta >= 0 with alpha + beta <= 1 for each of "
                f"{len(self.targets_)} targets, got {self.params_!r}"
            )

    def _variances(self, series):
        T = series.shape[1]
        omega, alpha, beta = self.params_.T
        persistence = alpha + beta
        stationary = persistence < 1.0
        # the unconditional variance where it exists, else the window's mean square
        unconditional = omega / np.where(stationary, 1.0 - persistence, 1.0)
        start = np.where(stationary, unconditional, (series**2).mean(axis=1))
        powers = beta[None, :] ** np.arange(T - 1, -1, -1)[:, None]  # (T, n_targets)
        next_variance = (
            omega * powers.sum(axis=0)
            + beta**T * start
            + alpha * np.einsum("ntk,tk->nk", series**2, powers)
        )
        # k steps ahead: v_k = omega + persistence * v_(k-1), from v_1 = next_variance, so
        # v_k = omega * (1 + p + ... + p**(k-2)) + p**(k-1) * v_1 (integrated GARCH too)
        powers_ahead = persistence[None, :] ** np.arange(self.horizon_)[:, None]  # (h, n_t)
        sums = np.cumsum(np.vstack([np.zeros_like(persistence), powers_ahead[:-1]]), axis=0)
        return (omega * sums)[None] + powers_ahead[None] * next_variance[:, None, :]


def volatility_baselines(lookback, target=0):
    """The baselines of a Forecaster that forecasts volatility, unfitted.

    Returns
    -------
    list of Baseline
        ``[Naive, MovingAverage(lookback), RiskMetrics(0.94), LinearRegression]`` and
        ``GARCH`` when the optional ``arch`` package is installed: tomorrow's absolute
        return as today's, as the window's mean, as RiskMetrics and GARCH(1,1) forecast
        it, and as a linear model of the window (a HAR-like regression).
    """
    lookback = check_int("lookback", lookback)
    baselines = [
        Naive(target=target),
        MovingAverage(lookback, target=target),
        RiskMetrics(target=target),
        LinearRegression(target=target),
    ]
    try:
        import arch  # noqa: F401
    except ImportError:
        return baselines
    return [*baselines, GARCH(target=target)]


def default_baselines(lookback, target=0):
    """The baselines a Forecaster reports beside its network, unfitted.

    Parameters
    ----------
    lookback : int
        Window length; the moving average uses ``min(5, lookback)`` values.
    target : int or list of int
        Target column(s) of X.

    Returns
    -------
    list of Baseline
        ``[Naive, Drift, MovingAverage(min(5, lookback)), EWMA(0.3), LinearRegression]``.
    """
    lookback = check_int("lookback", lookback)
    return [
        Naive(target=target),
        Drift(target=target),
        MovingAverage(min(5, lookback), target=target),
        EWMA(0.3, target=target),
        LinearRegression(target=target),
    ]


BASELINES = {
    cls.__name__: cls
    for cls in (Naive, Drift, MovingAverage, EWMA, LinearRegression, RiskMetrics, GARCH)
}


def from_state(meta, arrays):
    """The fitted baseline that ``Baseline.to_state`` described (only the classes above).

    Raises
    ------
    ValueError
        An unknown class, or fitted values that do not fit its parameters.
    """
    cls = BASELINES.get(meta.get("class"))
    if cls is None:
        raise ValueError(
            f"unknown baseline {meta.get('class')!r}; expected one of {list(BASELINES)}"
        )
    baseline = cls(**meta["params"])
    baseline._check_params()
    fitted = meta["fitted"]
    baseline.targets_ = baseline._resolve_targets(check_int("n_features_", fitted["n_features_"]))
    if baseline.targets_ != fitted["targets_"]:
        raise ValueError(
            f"baseline targets {fitted['targets_']} do not match target={baseline.target!r}"
        )
    baseline.lookback_ = check_int("lookback_", fitted["lookback_"])
    baseline.n_features_ = fitted["n_features_"]
    baseline.horizon_ = check_int("horizon_", fitted["horizon_"])
    for name in cls._FITTED_ARRAYS:
        setattr(baseline, name, finite_array(name, arrays[name]))
    baseline._check_fitted_arrays()
    return baseline
