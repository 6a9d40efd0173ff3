"""The experiments on price series: cost, lookback sweep and volatility, on tiny settings."""

import sys

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from matplotlib.figure import Figure

from rnnkit.data import split_by_time, split_windows
from rnnkit.datasets import garch_series, random_walk
from rnnkit.experiments import cost, lookback_sweep, volatility
from rnnkit.experiments._result import Result
from rnnkit.experiments.volatility import _ewma_variance, _rolling_mean, _volatility_forecasts

TINY = {"hidden_size": 4, "epochs": 2, "seed": 0}


def _has_arch():
    try:
        import arch  # noqa: F401
    except ImportError:
        return False
    return True


def _expected_counts(cell, inputs, hidden, outputs=1):
    """Parameters by formula: RNN H(I+H)+2H, GRU 3H(I+H)+6H, LSTM 4H(I+H)+8H, head
    H*out+out."""
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    recurrent = gates * hidden * (inputs + hidden) + 2 * gates * hidden
    return recurrent, recurrent + hidden * outputs + outputs


# ---------------------------------------------------------------------------- cost


def test_cost_counts_parameters_exactly_and_times_every_cell():
    result = cost(hidden_size=6, lookback=4, batch_size=16, n_windows=48, epochs=2)
    assert isinstance(result, Result)
    assert result.name == "cost"
    assert isinstance(result.figure, Figure)
    table = result.table.set_index("cell")
    assert {"parameters", "seconds_per_epoch"} <= set(table.columns)
    rnn_rec, rnn_total = _expected_counts("rnn", 1, 6)
    lstm_rec, lstm_total = _expected_counts("lstm", 1, 6)
    assert table.loc["RNN", "parameters"] == rnn_total
    assert table.loc["LSTM", "parameters"] == lstm_total
    assert table.loc["LSTM", "recurrent_parameters"] == 4 * rnn_rec == lstm_rec
    assert result.numbers["param_ratio"] == lstm_total / rnn_total
    assert result.numbers["recurrent_param_ratio"] == 4.0
    assert (table["seconds_per_epoch"] > 0).all()
    ratio = table.loc["LSTM", "seconds_per_epoch"] / table.loc["RNN", "seconds_per_epoch"]
    assert result.numbers["time_ratio"] == pytest.approx(ratio)
    assert "2-3x" in result.caption
    gru_rec, gru_total = _expected_counts("gru", 1, 6)
    assert table.loc["GRU", "recurrent_parameters"] == 3 * rnn_rec == gru_rec
    assert result.numbers["gru_recurrent_param_ratio"] == 3.0
    assert result.numbers["gru_param_ratio"] == gru_total / rnn_total
    gru_ratio = table.loc["GRU", "seconds_per_epoch"] / table.loc["RNN", "seconds_per_epoch"]
    assert result.numbers["gru_time_ratio"] == pytest.approx(gru_ratio)
    assert list(table.index) == ["RNN", "GRU", "LSTM"]
    assert "The GRU, three gate blocks, has 3x the RNN's recurrent parameters" in result.caption


def test_cost_without_plot_has_no_figure():
    result = cost(hidden_size=3, lookback=3, n_windows=20, epochs=1, plot=False)
    assert result.figure is None
    assert result.numbers["param_ratio"] == pytest.approx(
        _expected_counts("lstm", 1, 3)[1] / _expected_counts("rnn", 1, 3)[1]
    )


# ---------------------------------------------------------------------------- lookback


def test_lookback_sweep_scores_every_lookback_on_the_same_targets():
    series = garch_series(400, seed=1)
    result = lookback_sweep(lookbacks=(12, 3), series=series, **TINY)
    assert result.name == "lookback"
    assert isinstance(result.figure, Figure)
    table = result.table
    assert {"lookback", "val_mse", "train_seconds", "epochs"} <= set(table.columns)
    assert list(table["lookback"]) == [3, 12]
    assert table["val_targets"].nunique() == 1
    assert table["train_targets"].nunique() == 1
    assert result.numbers["best_lookback"] in (3.0, 12.0)
    assert result.numbers["best_val_mse"] == table["val_mse"].min()
    assert (table["train_seconds"] > 0).all()


def test_lookback_windows_share_targets_and_read_only_the_past():
    # the sweep's windows come from split_windows with the longest lookback as warmup
    prices = np.exp(np.cumsum(np.full(301, 0.001)))  # log returns 0.001: rows are numbered below
    returns_row = np.arange(300.0)
    blocks = {}
    for lookback in (3, 40):
        split = split_windows(prices, lookback, val=0.15, test=0.15, warmup=40)
        blocks[lookback] = split
        # a window's inputs are the returns right before its target, and only those
        X_rows = split.train.X_raw[:, :, 0]  # price rows 1.., one per return row
        target_rows = np.log(split.train.y_raw[:, 0] / prices[0]) / 0.001 - 1
        np.testing.assert_allclose(np.log(X_rows[:, -1] / prices[0]) / 0.001 - 1,
                                   target_rows - 1, atol=1e-6)  # fmt: skip
    train_end = len(split_by_time(returns_row, 0.15, 0.15)[0])
    for name in ("train", "val"):
        a, b = getattr(blocks[3], name), getattr(blocks[40], name)
        np.testing.assert_array_equal(a.y_raw, b.y_raw, err_msg=name)
    first_train = np.log(blocks[3].train.y_raw[0, 0] / prices[0]) / 0.001 - 1
    first_val = np.log(blocks[3].val.y_raw[0, 0] / prices[0]) / 0.001 - 1
    assert round(first_train) == 40  # training starts after the longest lookback
    assert round(first_val) == train_end


def test_lookback_sweep_refuses_a_series_too_short_for_the_longest_lookback():
    with pytest.raises(ValueError, match="too short"):
        lookback_sweep(lookbacks=(5, 200), series=random_walk(200, seed=0), **TINY)


# ---------------------------------------------------------------------------- volatility


@pytest.mark.parametrize("target", ["abs_return", "squared_return"])
def test_volatility_compares_the_lstm_with_the_baselines(target):
    series = garch_series(500, seed=2, return_components=True)
    result = volatility(lookback=5, series=series, target=target, **TINY)
    assert result.name == "volatility"
    assert isinstance(result.figure, Figure)
    assert {"model", "rmse", "mae"} <= set(result.table.columns)
    expected = {"rmse_lstm", "rmse_ewma", "rmse_rolling"}
    if _has_arch():
        expected.add("rmse_garch")
        assert "GARCH(1,1) fitted on the training block" in result.caption
    assert set(result.numbers) == expected
    assert (result.table[["rmse", "mae"]] > 0).all().all()


def test_volatility_skips_garch_cleanly_without_arch(monkeypatch):
    monkeypatch.setitem(sys.modules, "arch", None)  # `import arch` now raises ImportError
    result = volatility(lookback=5, series=garch_series(400, seed=3), plot=False, **TINY)
    assert result.figure is None
    assert "rmse_garch" not in result.numbers
    assert not result.table["model"].str.startswith("GARCH").any()
    assert "arch package is not installed" in result.caption


def test_volatility_forecasts_never_look_ahead():
    returns = 100 * garch_series(400, seed=4, return_components=True).returns
    n = len(returns)
    train_end = len(split_by_time(np.arange(n), 0.15, 0.15)[0])
    val_end = n - round(0.15 * n)
    changed = returns.copy()
    k = val_end + 10
    changed[k:] *= 3.0  # a different test block from day k on
    runs = [
        _volatility_forecasts(r, 5, 4, 2, 0, "abs_return", patience=2) for r in (returns, changed)
    ]
    names = set(runs[0]["forecasts"])
    assert {"LSTM", "EWMA(0.94)", "Rolling mean(5)"} <= names
    assert ("GARCH(1,1)" in names) == _has_arch()
    for name in names:
        before, after = runs[0]["forecasts"][name], runs[1]["forecasts"][name]
        # the forecast of day t reads days before t only: up to day k nothing may move
        np.testing.assert_array_equal(before[: k + 1], after[: k + 1], err_msg=name)
        assert not np.allclose(before[k + 2 :], after[k + 2 :]), name
    # the LSTM's input scaler saw the training block and nothing after it
    for run in runs:
        scaler = run["scaler"]
        train = returns[:train_end]
        np.testing.assert_allclose(scaler.mean_[:2], [train.mean(), np.abs(train).mean()])
        np.testing.assert_allclose(scaler.std_[:2], [train.std(), np.abs(train).std()])
        assert run["train_end"] == train_end
    if _has_arch():
        assert runs[0]["garch"][0] == runs[1]["garch"][0]  # parameters from training only


def test_volatility_baselines_are_causal_recursions():
    rng = np.random.default_rng(5)
    r = rng.standard_normal(50)
    rolling = _rolling_mean(np.abs(r), 4)
    assert np.isnan(rolling[:4]).all()
    for t in range(4, 50):
        assert rolling[t] == pytest.approx(np.abs(r[t - 4 : t]).mean())
    ewma = _ewma_variance(r, train_end=30)
    assert ewma[0] == pytest.approx(np.mean(r[:30] ** 2))
    assert ewma[10] == pytest.approx(0.94 * ewma[9] + 0.06 * r[9] ** 2)


def test_volatility_rejects_an_unknown_target():
    with pytest.raises(ValueError, match="target must be 'abs_return' or 'squared_return'"):
        volatility(series=garch_series(300, seed=0), target="range", **TINY)
