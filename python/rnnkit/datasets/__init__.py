"""Series to try rnnkit on: a bundled real price series and synthetic series of known structure.

``load_wti`` reads the bundled daily WTI crude oil spot price (Cushing, Oklahoma, dollars per
barrel), 1986-01-02 to 2019-01-03: U.S. Energy Information Administration, retrieved from FRED
of the Federal Reserve Bank of St. Louis, series DCOILWTICO. EIA data are in the public
domain. The file is the one the ``arch`` package ships (arch/data/wti/wti.csv.gz); see
README.md beside it.

``random_walk``, ``garch_series`` and ``ar_series`` draw synthetic series whose structure is
known: nothing to learn, volatility clustering, and a planted autoregression.
"""

import csv
import datetime
import gzip
from importlib import resources
from typing import NamedTuple

import numpy as np

from .._checks import check_int, check_number, check_positive

__all__ = ["GarchSeries", "ar_series", "garch_series", "load_wti", "random_walk"]

_WTI_FILE = "wti.csv.gz"
_WTI_HEADER = ["Date", "DCOILWTICO"]


def _read_wti():
    """Every row of the bundled file as (dates datetime64[D], prices float64 with NaN gaps)."""
    dates, prices = [], []
    with (
        resources.files(__name__).joinpath(_WTI_FILE).open("rb") as raw,
        gzip.open(raw, "rt", encoding="ascii", newline="") as text,
    ):
        rows = csv.reader(text)
        header = next(rows)
        if header != _WTI_HEADER:
            raise ValueError(f"{_WTI_FILE}: expected the header {_WTI_HEADER}, found {header}")
        for date, value in rows:
            month, day, year = (int(part) for part in date.split("/"))
            dates.append(datetime.date(year, month, day))
            # FRED writes "." for days without a price (holidays)
            prices.append(np.nan if value == "." else float(value))
    return np.array(dates, dtype="datetime64[D]"), np.array(prices, dtype=np.float64)


def load_wti(dropna=True, as_frame=True):
    """Daily WTI crude oil spot prices, 1986-01-02 to 2019-01-03 (8,611 dated rows).

    Source: U.S. Energy Information Administration, Cushing OK WTI Spot Price FOB, dollars
    per barrel, via FRED (Federal Reserve Bank of St. Louis), series DCOILWTICO; public
    domain. 290 rows are market holidays without a price.

    Parameters
    ----------
    dropna : bool
        Drop the holiday rows (default); else keep them as NaN.
    as_frame : bool
        Return a pandas Series when pandas is installed (default); False, or no pandas,
        returns NumPy arrays instead.

    Returns
    -------
    pandas.Series or (dates, prices)
        A float64 Series named "DCOILWTICO" with a DatetimeIndex named "date"; or the
        tuple of ``dates`` (datetime64[D]) and ``prices`` (float64), read with the standard
        library alone.
    """
    dates, prices = _read_wti()
    if dropna:
        keep = ~np.isnan(prices)
        dates, prices = dates[keep], prices[keep]
    if not as_frame:
        return dates, prices
    try:
        import pandas as pd
    except ImportError:
        return dates, prices
    index = pd.DatetimeIndex(dates.astype("datetime64[ns]"), name="date")
    return pd.Series(prices, index=index, name="DCOILWTICO")


def _prices(start, log_returns):
    """The path start, start*exp(r_1), start*exp(r_1 + r_2), ...: one longer than the returns."""
    return start * np.exp(np.concatenate(([0.0], np.cumsum(log_returns))))


def random_walk(n=1000, start=100.0, drift=0.0, volatility=0.01, seed=None):
    """A geometric random walk: log prices take independent normal steps.

    Parameters
    ----------
    n : int
        Length of the path, ``start`` included.
    start : float
        The first price, positive.
    drift, volatility : float
        Mean and standard deviation of each step of the log price.
    seed : int, numpy.random.Generator or None
        Anything ``numpy.random.default_rng`` takes.

    Returns
    -------
    ndarray (n,), float64
        Positive prices; the best forecast of the next is the last (times ``exp`` of the
        drift and half the variance), so no model should beat the naive baseline.
    """
    check_int("n", n)
    check_positive("start", start)
    check_number("volatility", volatility)
    steps = np.random.default_rng(seed).normal(drift, volatility, n - 1)
    return _prices(start, steps)


class GarchSeries(NamedTuple):
    """A GARCH(1,1) draw: ``prices`` (n,), and its log ``returns`` and ``sigma`` (n - 1,)."""

    prices: np.ndarray
    returns: np.ndarray
    sigma: np.ndarray


def garch_series(
    n=1000, omega=1e-6, alpha=0.1, beta=0.85, start=100.0, seed=None, return_components=False
):
    """Prices whose log returns follow a GARCH(1,1): calm and turbulent spells alternate.

    ``r_t = sigma_t z_t`` with standard normal ``z_t`` and
    ``sigma_t**2 = omega + alpha r_{t-1}**2 + beta sigma_{t-1}**2``, starting from the
    unconditional variance ``omega / (1 - alpha - beta)``.

    Parameters
    ----------
    n : int
        Length of the price path, ``start`` included.
    omega, alpha, beta : float
        omega > 0, alpha >= 0, beta >= 0 and alpha + beta < 1 (a finite variance).
    start : float
        The first price, positive.
    seed : int, numpy.random.Generator or None
        Anything ``numpy.random.default_rng`` takes.
    return_components : bool
        Return a ``GarchSeries`` (prices, returns, sigma) instead of the prices alone;
        ``sigma`` is the conditional standard deviation of each return (square it for the
        conditional variance).

    Returns
    -------
    ndarray (n,) or GarchSeries
    """
    check_int("n", n)
    check_positive("start", start)
    check_positive("omega", omega)
    if not (alpha >= 0 and beta >= 0):
        raise ValueError(f"alpha and beta must be >= 0, got alpha={alpha!r}, beta={beta!r}")
    if not alpha + beta < 1:
        raise ValueError(
            f"alpha + beta must be below 1 for a stationary GARCH(1,1), got {alpha + beta}"
        )
    shocks = np.random.default_rng(seed).standard_normal(n - 1)
    sigma = np.empty(n - 1)
    rets = np.empty(n - 1)
    variance = omega / (1 - alpha - beta)
    # each variance depends on the return before it: a recursion, so a loop
    for t, z in enumerate(shocks.tolist()):
        sigma[t] = s = variance**0.5
        rets[t] = r = s * z
        variance = omega + alpha * r * r + beta * variance
    prices = _prices(start, rets)
    return GarchSeries(prices, rets, sigma) if return_components else prices


def _companion(phi):
    """The AR(p) recursion on the state s_t = (x_t, ..., x_{t-p+1}): s_t = C s_{t-1} + e_t."""
    companion = np.eye(len(phi), k=-1)
    companion[0] = phi
    return companion


def _stationary_covariance(companion, sigma):
    """Covariance S of the stationary state: S = C S C' + Q, so (I - C kron C) vec S = vec Q."""
    p = len(companion)
    q = np.zeros((p, p))
    q[0, 0] = sigma**2
    vec = np.linalg.solve(np.eye(p * p) - np.kron(companion, companion), q.ravel())
    return vec.reshape(p, p)


def ar_series(n=1000, phi=(0.6,), sigma=0.1, seed=None):
    """A stationary AR(p) series: ``x_t = phi_1 x_{t-1} + ... + phi_p x_{t-p} + sigma e_t``.

    A planted autoregression: the best one-step forecast is the AR formula, which a model
    can learn and the naive forecast (tomorrow = today) misses. The first p values are drawn
    from the stationary distribution, so the whole series is stationary (no burn-in).

    Parameters
    ----------
    n : int
        Length of the series.
    phi : sequence of float
        The AR coefficients phi_1..phi_p; the process must be stationary (every root of
        ``1 - phi_1 z - ... - phi_p z**p`` outside the unit circle).
    sigma : float
        Standard deviation of the innovations e_t, positive.
    seed : int, numpy.random.Generator or None
        Anything ``numpy.random.default_rng`` takes.

    Returns
    -------
    ndarray (n,), float64
        Mean zero.
    """
    check_int("n", n)
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim != 1 or phi.size == 0 or not np.all(np.isfinite(phi)):
        raise ValueError(f"phi must be a non-empty sequence of finite numbers, got {phi!r}")
    check_positive("sigma", sigma)
    p = len(phi)
    companion = _companion(phi)
    radius = np.max(np.abs(np.linalg.eigvals(companion)))
    if radius >= 1:
        raise ValueError(
            f"phi={phi.tolist()} is not stationary: its companion matrix has an eigenvalue "
            f"of modulus {radius:.4g} >= 1"
        )
    covariance = _stationary_covariance(companion, sigma)
    rng = np.random.default_rng(seed)
    x = np.empty(max(n, p))
    # the state is (x_{p-1}, ..., x_0): newest first
    x[:p] = (np.linalg.cholesky(covariance) @ rng.standard_normal(p))[::-1]
    noise = sigma * rng.standard_normal(len(x))
    newest_last = phi[::-1]
    for t in range(p, len(x)):
        x[t] = newest_last @ x[t - p : t] + noise[t]
    return x[:n]
