"""rnnkit.datasets: the bundled WTI series (with and without pandas) and the synthetic series."""

import sys

import numpy as np
import pytest

from rnnkit import datasets
from rnnkit.data import log_returns


@pytest.fixture(scope="module")
def wti_arrays():
    return datasets.load_wti(dropna=False, as_frame=False)


def test_wti_arrays_cover_1986_to_2019(wti_arrays):
    dates, prices = wti_arrays
    assert dates.dtype == np.dtype("datetime64[D]")
    assert prices.dtype == np.float64
    assert 8500 < len(dates) == len(prices) < 8700
    assert dates[0] == np.datetime64("1986-01-02")
    assert dates[-1] == np.datetime64("2019-01-03")
    assert np.all(np.diff(dates) > np.timedelta64(0, "D"))
    gaps = np.isnan(prices)
    assert 280 < gaps.sum() < 300
    assert prices[0] == 25.56
    assert np.all(prices[~gaps] > 0)


def test_wti_without_pandas_reads_with_the_standard_library(monkeypatch, wti_arrays):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    dates, prices = datasets.load_wti()
    assert not np.isnan(prices).any()
    keep = ~np.isnan(wti_arrays[1])
    np.testing.assert_array_equal(dates, wti_arrays[0][keep])
    np.testing.assert_array_equal(prices, wti_arrays[1][keep])


def test_wti_as_pandas_agrees_with_the_arrays(wti_arrays):
    pd = pytest.importorskip("pandas")
    series = datasets.load_wti()
    assert isinstance(series, pd.Series)
    assert series.name == "DCOILWTICO"
    assert series.dtype == np.float64
    assert isinstance(series.index, pd.DatetimeIndex)
    assert series.index.name == "date"
    assert not series.isna().any()
    dates, prices = datasets.load_wti(as_frame=False)
    np.testing.assert_array_equal(series.to_numpy(), prices)
    np.testing.assert_array_equal(series.index.to_numpy(), dates.astype("datetime64[ns]"))
    with_gaps = datasets.load_wti(dropna=False)
    assert len(with_gaps) == len(wti_arrays[0])
    assert with_gaps.isna().sum() == np.isnan(wti_arrays[1]).sum()


def test_random_walk_is_a_positive_reproducible_path():
    path = datasets.random_walk(500, start=50.0, volatility=0.02, seed=7)
    assert path.shape == (500,)
    assert path.dtype == np.float64
    assert path[0] == 50.0
    assert np.all(path > 0)
    np.testing.assert_array_equal(
        path, datasets.random_walk(500, start=50.0, volatility=0.02, seed=7)
    )
    steps = log_returns(datasets.random_walk(20000, drift=0.001, volatility=0.01, seed=8))
    assert abs(steps.mean() - 0.001) < 4 * 0.01 / np.sqrt(len(steps))
    assert abs(steps.std() - 0.01) < 0.0005


def test_garch_series_clusters_volatility():
    parts = datasets.garch_series(5000, seed=9, return_components=True)
    assert parts.prices.shape == (5000,)
    assert parts.returns.shape == parts.sigma.shape == (4999,)
    np.testing.assert_allclose(log_returns(parts.prices), parts.returns, atol=1e-12)
    np.testing.assert_array_equal(parts.prices, datasets.garch_series(5000, seed=9))
    # the first variance is the unconditional one, omega / (1 - alpha - beta)
    assert parts.sigma[0] ** 2 == pytest.approx(1e-6 / 0.05)
    # clustering: squared returns are autocorrelated, while returns are not
    squared = parts.returns**2
    assert np.corrcoef(squared[1:], squared[:-1])[0, 1] > 0.1
    assert abs(np.corrcoef(parts.returns[1:], parts.returns[:-1])[0, 1]) < 0.05


def test_ar_series_has_the_planted_autocorrelation():
    x = datasets.ar_series(20000, phi=(0.5, 0.3), sigma=0.1, seed=10)
    assert x.shape == (20000,)
    # Yule-Walker: rho_1 = phi_1 / (1 - phi_2); variance sigma^2 (1 - phi_2) / ((1 + phi_2)
    # ((1 - phi_2)^2 - phi_1^2))
    assert np.corrcoef(x[1:], x[:-1])[0, 1] == pytest.approx(0.5 / 0.7, abs=0.02)
    assert x.var() == pytest.approx(0.01 * 0.7 / (1.3 * (0.49 - 0.25)), rel=0.1)
    # least squares recovers phi
    lags = np.column_stack([x[1:-1], x[:-2]])
    phi, *_ = np.linalg.lstsq(lags, x[2:], rcond=None)
    np.testing.assert_allclose(phi, [0.5, 0.3], atol=0.03)


def test_ar_series_starts_stationary():
    # many short draws: their first values already have the stationary variance 0.1^2 / (1 - 0.9^2)
    first = [datasets.ar_series(1, phi=(0.9,), seed=s)[0] for s in range(2000)]
    assert np.var(first) == pytest.approx(0.01 / 0.19, rel=0.1)


@pytest.mark.parametrize(
    ("make", "kwargs", "error", "match"),
    [
        (datasets.ar_series, {"phi": (1.0,)}, ValueError, "not stationary"),
        (datasets.ar_series, {"phi": (0.5, 0.6)}, ValueError, "not stationary"),
        (datasets.ar_series, {"phi": ()}, ValueError, "non-empty"),
        (datasets.ar_series, {"sigma": 0.0}, ValueError, "sigma must be a positive finite number"),
        (datasets.garch_series, {"alpha": 0.2, "beta": 0.8}, ValueError, "alpha \\+ beta"),
        (datasets.garch_series, {"omega": 0.0}, ValueError, "omega"),
        (
            datasets.random_walk,
            {"start": -1.0},
            ValueError,
            "start must be a positive finite number",
        ),
        (datasets.random_walk, {"n": 0}, ValueError, "n must be an int >= 1"),
        (datasets.random_walk, {"n": 10.0}, TypeError, "n must be an int"),
    ],
)
def test_synthetic_series_reject_bad_parameters(make, kwargs, error, match):
    with pytest.raises(error, match=match):
        make(**kwargs)
