"""The Forecaster pipeline: honest splits, units, alignment, walk-forward backtest."""

import numpy as np
import pandas as pd
import pytest

from rnnkit import Forecaster
from rnnkit.datasets import garch_series

FAST = {"hidden_size": 8, "epochs": 3, "lookback": 10, "verbose": 0, "batch_size": 32}


def price_series(n=400, seed=0):
    prices = garch_series(n, seed=seed)
    return pd.Series(prices, index=pd.date_range("2020-01-01", periods=n, freq="B"), name="p")


@pytest.fixture(scope="module")
def fitted():
    series = price_series()
    return series, Forecaster(cell="lstm", **FAST).fit(series)


def test_evaluate_has_every_model_and_metric(fitted):
    _, forecaster = fitted
    table = forecaster.evaluate()
    assert {"LSTM", "Naive", "Drift", "LinearRegression"} <= set(table.index)
    for column in ("rmse", "mae", "directional_accuracy", "skill", "train_seconds", "parameters"):
        assert np.isfinite(table[column]).all(), column
    assert table.loc["LSTM", "parameters"] == forecaster.model_.num_parameters() > 0
    assert table.loc["Naive", "skill"] == 0.0


def test_test_predictions_line_up_with_the_series(fitted):
    series, forecaster = fitted
    frame = forecaster.test_predictions()
    # "actual" is the price at the time it is indexed by; Naive is the price one row before.
    np.testing.assert_array_equal(frame["actual"], series.loc[frame.index])
    previous = series.shift(1).loc[frame.index]
    np.testing.assert_allclose(frame["Naive"], previous, rtol=1e-12)
    # the test block is the last 15% of the series, in time order
    assert frame.index[-1] == series.index[-1]
    assert frame.index.is_monotonic_increasing
    assert len(frame) == pytest.approx(0.15 * (len(series) - 1), abs=2)


def test_the_test_block_never_reaches_the_fit():
    series = price_series()
    altered = series.copy()
    altered.iloc[-40:] *= 3.0  # a crash the model must not have seen
    a = Forecaster(**FAST).fit(series)
    b = Forecaster(**FAST).fit(altered)
    assert a.pipeline_.scaler.to_dict() == b.pipeline_.scaler.to_dict()
    for name, value in a.model_.state_dict().items():
        np.testing.assert_array_equal(value, b.model_.state_dict()[name], err_msg=name)


def test_predict_returns_prices_pandas_in_pandas_out(fitted):
    series, forecaster = fitted
    frame = forecaster.predict(series)
    assert list(frame.columns) == ["t+1"]
    assert frame.index[-1] == series.index[-1]  # the last row forecasts beyond the data
    assert len(frame) == len(series) - forecaster.lookback
    # a one-day forecast of a price stays near the last price
    np.testing.assert_allclose(frame["t+1"], series.loc[frame.index], rtol=0.2)
    array = forecaster.predict(series.to_numpy())
    np.testing.assert_array_equal(array[:, 0], frame["t+1"])


def test_multi_step_rnn_on_prices():
    series = price_series(seed=1)
    forecaster = Forecaster(cell="rnn", horizon=3, transform="none", scaler="minmax", **FAST)
    forecaster.fit(series.to_numpy())
    # prices themselves: every row starts a window, none is only the base of a return
    assert forecaster.predict(series.to_numpy()).shape == (len(series) - 10 + 1, 3)
    assert set(forecaster.test_predictions(step=3)) >= {"actual", "RNN", "Naive"}
    with pytest.raises(ValueError, match="step must be between 1 and horizon=3"):
        forecaster.test_predictions(step=4)


def test_backtest_refits_on_each_folds_past():
    series = price_series(600, seed=2)
    table = Forecaster(**FAST).backtest(series, folds=3)
    assert sorted(table["fold"].unique()) == [0, 1, 2]
    assert set(table["model"]) >= {"LSTM", "Naive"}
    assert np.isfinite(table["rmse"]).all()


def test_missing_values_must_be_handled_explicitly():
    series = price_series()
    series.iloc[100] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Forecaster(**FAST).fit(series)
    Forecaster(**FAST, missing="drop").fit(series)


@pytest.mark.parametrize(
    ("kwargs", "series", "message"),
    [
        ({"cell": "gru"}, None, "cell must be 'lstm' or 'rnn'"),
        ({"transform": "diff"}, None, "transform must be 'log_return', 'return' or 'none'"),
        ({"scaler": "robust"}, None, "scaler must be 'standard', 'minmax' or 'none'"),
        ({"lookback": 0}, None, "lookback must be an int >= 1"),
        ({}, np.linspace(1, 2, 12), "too short"),
        ({}, np.linspace(-1, 1, 400), "needs positive values"),
    ],
)
def test_bad_settings_and_series_are_named(kwargs, series, message):
    with pytest.raises(ValueError, match=message):
        Forecaster(**{**FAST, **kwargs}).fit(series)


def test_unfitted_forecaster_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        Forecaster().predict(np.ones(50))
