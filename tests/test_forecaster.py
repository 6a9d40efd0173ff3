"""The Forecaster pipeline: honest splits, units, alignment, walk-forward backtest."""

import numpy as np
import pandas as pd
import pytest
from _problems import dated_prices

import rnnkit
from rnnkit import Forecaster
from rnnkit.datasets import garch_series

FAST = {"hidden_size": 8, "epochs": 3, "lookback": 10, "verbose": 0, "batch_size": 32}


def price_series(n=400, seed=0):
    return dated_prices(n, seed)


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


def test_backtest_dates_its_folds_returns_their_models_and_leaves_self_alone():
    series = price_series(600, seed=2)
    forecaster = Forecaster(**FAST)
    table, models = forecaster.backtest(series, folds=3, return_models=True)
    assert not hasattr(forecaster, "model_")  # still unfitted
    assert len(models) == 3
    dates = table.groupby("fold")[["test_start", "test_end"]].first()
    assert dates["test_end"].iloc[-1] == series.index[-1]
    assert (dates["test_start"].iloc[1:].to_numpy() > dates["test_end"].iloc[:-1].to_numpy()).all()
    for k, model in enumerate(models):
        scored = model.test_predictions().index
        assert (scored[0], scored[-1]) == tuple(dates.iloc[k])
        assert (
            model.evaluate().loc["LSTM", "rmse"]
            == table.query(f"fold == {k}").set_index("model").loc["LSTM", "rmse"]
        )


def test_missing_values_must_be_handled_explicitly():
    series = price_series()
    series.iloc[100] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Forecaster(**FAST).fit(series)
    Forecaster(**FAST, missing="drop").fit(series)


@pytest.mark.parametrize(
    ("kwargs", "series", "message"),
    [
        ({"cell": "cnn"}, None, "cell must be 'lstm', 'gru' or 'rnn'"),
        (
            {"transform": "diff"},
            None,
            "transform must be 'log_return', 'return', 'none' or 'volatility'",
        ),
        ({"scaler": "robust"}, None, "scaler must be 'standard', 'minmax' or 'none'"),
        ({"lookback": 0}, None, "lookback must be an int >= 1"),
        ({}, np.linspace(1, 2, 12), "too short"),
        ({}, np.linspace(-1, 1, 400), "needs positive prices"),
    ],
)
def test_bad_settings_and_series_are_named(kwargs, series, message):
    with pytest.raises(ValueError, match=message):
        Forecaster(**{**FAST, **kwargs}).fit(series)


def test_unfitted_forecaster_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        Forecaster().predict(np.ones(50))


# -- scikit-learn's conventions, without scikit-learn ---------------------------------------


def test_the_constructor_stores_its_arguments_unchanged():
    odd = {"cell": "cnn", "lookback": 0, "lr": "fast", "target": ["a"]}
    forecaster = Forecaster(**odd)  # checked in fit, as scikit-learn's estimators do
    params = forecaster.get_params()
    assert all(params[k] is v for k, v in odd.items())
    assert not hasattr(forecaster, "model_")
    assert forecaster.get_params(deep=True) == params


def test_defaults_are_taken_from_fit_and_the_model_not_copied():
    import inspect

    from rnnkit import data, train
    from rnnkit.models import SequenceRegressor

    own = inspect.signature(Forecaster).parameters
    # deliberately the Forecaster's own: an LSTM forget bias that keeps memory open, a
    # lookback, and one seed (fit's) for the weights and the batch order alike
    chosen = {"forget_bias", "lookback", "seed"}
    for source in (train.fit, SequenceRegressor, data.split_windows):
        for name, p in inspect.signature(source).parameters.items():
            if name in own and name not in chosen:
                assert own[name].default == p.default, (source.__name__, name)
    assert own["seed"].default == inspect.signature(train.fit).parameters["seed"].default


def test_set_params_returns_self_and_names_the_valid_parameters():
    forecaster = Forecaster()
    assert forecaster.set_params(hidden_size=4, lr=0.01) is forecaster
    assert repr(forecaster) == "Forecaster(hidden_size=4, lr=0.01)"
    with pytest.raises(ValueError, match=r"'hiden_size' is not a parameter of Forecaster; valid "
                                         r"parameters are \['batch_size', 'cell'"):  # fmt: skip
        forecaster.set_params(hiden_size=8)


@pytest.mark.parametrize(
    ("bad", "error", "words"),
    [
        ({"hidden_size": 0}, ValueError, "hidden_size must be an int >= 1, got 0"),
        ({"dropout": 1.5}, ValueError, r"dropout must be a probability in \[0, 1\)"),
        ({"cell": "cnn"}, ValueError, "cell must be 'lstm', 'gru' or 'rnn', got 'cnn'"),
        ({"optimizer": "adagrad"}, ValueError, "optimizer must be 'sgd', 'adam' or 'rmsprop'"),
        ({"epochs": 0}, ValueError, "epochs must be an int >= 1, got 0"),
        ({"lr": -1.0}, ValueError, "lr must be a positive finite number"),
        ({"dtype": "float16"}, TypeError, "dtype must be float32 or float64, got float16"),
        ({"seed": -1}, ValueError, "seed must be"),
        ({"val": 2}, ValueError, r"val must be a fraction in \[0, 1\)"),
    ],
)
def test_an_invalid_parameter_set_later_is_refused_by_fit_before_training(
    bad, error, words, monkeypatch
):
    from rnnkit import train

    series = price_series()
    forecaster = Forecaster(**FAST).fit(series)
    before = dict(vars(forecaster))
    forecaster.set_params(**bad)
    started = []
    real_step = train.Adam.step
    monkeypatch.setattr(train.Adam, "step", lambda *a, **k: started.append(1) or real_step(*a, **k))
    with pytest.raises(error, match=words):
        forecaster.fit(series)
    assert not started  # refused before any training step
    after = vars(forecaster)
    assert all(after[k] is v for k, v in before.items() if k.endswith("_"))  # as it was


def test_clone_gives_an_unfitted_copy_with_the_same_parameters():
    clone = pytest.importorskip("sklearn.base").clone
    fitted = Forecaster(cell="rnn", **FAST).fit(price_series())
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "model_")
    assert repr(copy) == "Forecaster(cell='rnn', lookback=10, hidden_size=8, epochs=3, verbose=0)"


def test_a_forecaster_is_judged_on_a_test_block():
    with pytest.raises(ValueError, match="test must be above 0"):
        Forecaster(**FAST, test=0.0).fit(price_series())


def test_after_fit_the_model_speaks_for_itself_not_the_live_parameters():
    series = price_series()
    forecaster = Forecaster(**FAST).fit(series)
    forecaster.set_params(cell="rnn", missing="ffill")  # effective at the next fit only
    assert "LSTM" in forecaster.evaluate().index
    holey = series.copy()
    holey.iloc[-3] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        forecaster.predict(holey)  # fitted with missing="raise"


def test_names_steps_and_nested_parameters_are_read_as_a_user_means_them():
    forecaster = Forecaster(**FAST, optimizer="Adam").fit(price_series())
    frame = forecaster.test_predictions(step=np.int64(1))
    assert "LSTM" in frame
    with pytest.raises(TypeError, match="step must be an int"):
        forecaster.test_predictions(step=True)
    with pytest.raises(ValueError, match="cell of Forecaster is 'lstm', not an estimator"):
        forecaster.set_params(cell__x=1)


def test_a_series_a_file_cannot_describe_is_refused_before_training():
    series = price_series()
    dated_names = pd.DataFrame({pd.Timestamp("2020-01-01"): series.to_numpy()})
    with pytest.raises(TypeError, match="column names must be strings or integers"):
        Forecaster(**FAST).fit(dated_names)
    periods = series.copy()
    periods.index = periods.index.to_period("D")
    with pytest.raises(TypeError, match="index must hold dates, numbers or strings"):
        Forecaster(**FAST).fit(periods)


def test_backtest_scores_every_row_of_the_test_share(monkeypatch):
    series = price_series(250, seed=3)
    seen = []
    real_fit = Forecaster.fit

    def recording_fit(self, past):
        seen.append((len(past), self.test))
        return real_fit(self, past)

    monkeypatch.setattr(Forecaster, "fit", recording_fit)
    Forecaster(**FAST).backtest(series, folds=3)
    ends = [n for n, _ in seen]
    assert ends[-1] == len(series)  # the most recent rows are scored too
    assert sum(round(n * test) for n, test in seen) == round(len(series) * 0.15)
    with pytest.raises(ValueError, match=r"test must be a fraction in \[0, 1\)"):
        Forecaster(**FAST, test="x").backtest(series)


def test_dropout_acts_with_one_layer_and_never_when_predicting():
    """The course's model is one layer with dropout: the rate must change the training.
    (When dropout acted only between layers, a one-layer model trained bit for bit as
    without it.)"""
    series = garch_series(400, seed=2)
    plain = Forecaster(**FAST).fit(series)
    dropped = Forecaster(dropout=0.5, **FAST).fit(series)
    assert dropped.num_layers == 1
    assert not np.array_equal(dropped.predict(series), plain.predict(series))
    assert dropped.history_.train_loss != plain.history_.train_loss
    # predicting twice draws nothing: the same forecasts, bit for bit
    np.testing.assert_array_equal(dropped.predict(series), dropped.predict(series))


def test_gates_read_the_window_behind_a_forecast_in_the_fitted_units(fitted):
    series, fitted = fitted
    from rnnkit import inspect

    forecasts = fitted.predict(series)
    at = forecasts.index[-40]
    layers = fitted.gates(series, at=at)
    assert len(layers) == 1
    cell = layers[0]["cell"]
    # the window's times: lookback rows ending where the forecast was made
    assert len(cell) == fitted.lookback
    assert cell.index[-1] == at
    expected = series.index.get_loc(at) - np.arange(fitted.lookback)[::-1]
    assert (cell.index == series.index[expected]).all()
    # the same windows predict reads, through the fitted transform and scaler
    window = fitted.pipeline_.windows(series).X[len(forecasts) - 40]
    direct = inspect.gates(fitted.model_, window)
    for name, value in layers[0].items():
        np.testing.assert_array_equal(value.to_numpy(), direct[0][name], err_msg=name)
    by_position = fitted.gates(series, at=len(forecasts) - 40)
    pd.testing.assert_frame_equal(by_position[0]["hidden"], layers[0]["hidden"])
    assert fitted.gates(series)[0]["hidden"].index[-1] == series.index[-1]
    assert fitted.scaler_ is fitted.pipeline_.scaler


@pytest.mark.parametrize(
    ("at", "error", "message"),
    [
        (10**6, ValueError, r"at must be a forecast position in \[-\d+, \d+\), got 1000000"),
        ("1900-01-01", ValueError, r"at='1900-01-01' is not the time of a forecast: they run "),
        (2.5, ValueError, r"at=2.5 is not the time of a forecast"),
    ],
)
def test_gates_name_a_forecast_that_does_not_exist(fitted, at, error, message):
    series, fitted = fitted
    with pytest.raises(error, match=message):
        fitted.gates(series, at=at)


def test_gates_of_numpy_input_take_positions_and_the_heatmap_names_the_time(fitted):
    series, fitted = fitted
    hidden = fitted.gates(series.to_numpy(), at=0)[0]["hidden"]
    assert hidden.shape == (fitted.lookback, fitted.hidden_size)
    with pytest.raises(TypeError, match="at must be an int position for a series without"):
        fitted.gates(series.to_numpy(), at=series.index[-1])
    figure = fitted.gate_heatmap(series)
    assert f"made at {series.index[-1]:%Y-%m-%d}" in figure._suptitle.get_text()


def test_thin_data_is_said_with_the_numbers_and_the_rule_of_thumb():
    from rnnkit import ThinDataWarning
    from rnnkit.forecaster import RULE_OF_THUMB, THIN_DATA

    short = price_series(120)
    with pytest.warns(ThinDataWarning) as caught:
        Forecaster(**FAST).fit(short)
    (message,) = [str(w.message) for w in caught]
    # 120 rows: 119 returns, 70% of them train, 10 each window reads: 73 windows
    assert message.startswith("LSTM: only 73 training windows (lookback 10), fewer than the ")
    assert f"network's 361 parameters and under {THIN_DATA}" in message
    assert message.endswith(RULE_OF_THUMB)


def test_enough_data_trains_without_a_word():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Forecaster(**{**FAST, "epochs": 1}).fit(price_series(1000))


def test_volatility_is_forecast_in_percent_against_volatility_baselines(tmp_path):
    import rnnkit

    series = price_series(600, seed=4)
    fitted = Forecaster(transform="volatility", **FAST).fit(series)
    table = fitted.evaluate()
    assert list(table.index[:5]) == [
        "LSTM", "Naive", "MovingAverage(10)", "RiskMetrics(0.94)", "LinearRegression"
    ]  # fmt: skip
    frame = fitted.test_predictions()
    absolute = 100 * np.abs(np.diff(np.log(series.to_numpy())))
    np.testing.assert_allclose(frame["actual"].to_numpy(), absolute[-len(frame) :], rtol=1e-12)
    forecasts = fitted.predict(series)
    assert (forecasts.to_numpy() >= 0).all()
    np.testing.assert_allclose(
        frame["LSTM"].to_numpy(), forecasts["t+1"].to_numpy()[-len(frame) - 1 : -1]
    )
    fitted.save(tmp_path / "vol.npz")
    loaded = rnnkit.load(tmp_path / "vol.npz")
    pd.testing.assert_frame_equal(loaded.evaluate(), table)


def test_volatility_needs_positive_prices():
    series = price_series(300) - 200.0
    with pytest.raises(ValueError, match=r"transform='volatility' needs positive prices"):
        Forecaster(transform="volatility", **FAST).fit(series)


def test_an_lstm_variant_is_named_in_the_table_and_saved(tmp_path):
    series = dated_prices(400, seed=3)
    f = Forecaster(variant="cifg", hidden_size=4, epochs=2, lookback=10, verbose=0).fit(series)
    assert f.name == "LSTM-CIFG"
    assert "LSTM-CIFG" in f.evaluate().index
    f.save(tmp_path / "m.npz")
    again = rnnkit.load(tmp_path / "m.npz")
    assert again.model_.variant == "cifg"
    np.testing.assert_array_equal(again.predict(series), f.predict(series))
    # a variant is the LSTM's: another cell refuses one before any training
    with pytest.raises(ValueError, match="variant='cifg' is a variant of the LSTM; cell='gru'"):
        Forecaster(cell="gru", variant="cifg", verbose=0).fit(series)
