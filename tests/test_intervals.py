"""Prediction intervals: the pinball loss and quantile heads, split-conformal calibration
for every model, the interval metrics, and their round trip through a file."""

import math

import numpy as np
import pandas as pd
import pytest
from _problems import dated_prices, numerical_gradient

import rnnkit
from rnnkit import Forecaster, intervals, metrics
from rnnkit.train import PinballLoss

QUICK = {"epochs": 3, "hidden_size": 8, "lookback": 10, "verbose": 0, "seed": 0}


def random_walk(n, seed, scale=1.0):
    """Prices whose daily changes are independent: the naive forecast's errors are
    exchangeable, so a conformal interval's coverage guarantee holds."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2000-01-03", periods=n, freq="D")
    return pd.Series(100.0 + np.cumsum(scale * rng.standard_normal(n)), index=index)


# -- the metrics


def test_the_interval_metrics_by_hand():
    y, lower, upper = (
        np.array([1.0, 5.0, 10.0]),
        np.array([0.0, 0.0, 0.0]),
        np.array([2.0, 4.0, 8.0]),
    )
    assert metrics.coverage(y, lower, upper) == pytest.approx(1 / 3)
    assert metrics.width(lower, upper) == pytest.approx(14 / 3)
    # misses of 1 and 2 at level 0.9 cost 2 / 0.1 = 20 times their size
    assert metrics.winkler(y, lower, upper, 0.9) == pytest.approx((2 + 4 + 20 + 8 + 40) / 3)
    assert metrics.coverage([1.0], [1.0], [1.0]) == 1.0  # the ends belong to the interval


def test_the_pinball_loss_is_minimised_by_the_quantile():
    y = np.random.default_rng(0).standard_normal(20001)
    grid = np.linspace(-3, 3, 601)
    for q in (0.05, 0.5, 0.9):
        best = grid[np.argmin([metrics.pinball(y, np.full_like(y, c), q) for c in grid])]
        assert best == pytest.approx(np.quantile(y, q), abs=0.02)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: metrics.coverage([1.0, 2.0], [2.0, 0.0], [1.0, 3.0]), "lower must not exceed"),
        (lambda: metrics.winkler([1.0], [0.0], [2.0], 1.0), "level must be a level strictly"),
        (lambda: metrics.pinball([1.0], [0.0], 0.0), "quantile must be a level strictly"),
        (lambda: metrics.coverage([1.0], [0.0, 1.0], [2.0, 3.0]), "same shape"),
    ],
)
def test_the_interval_metrics_refuse_what_cannot_be_right(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- the training loss


def test_the_pinball_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    loss = PinballLoss([0.1, 0.5, 0.8])
    target = rng.standard_normal((5, 2))
    pred = rng.standard_normal((5, 6))
    value, grad = loss(pred, target)
    numeric = numerical_gradient(lambda: loss(pred, target)[0], pred)
    np.testing.assert_allclose(grad, numeric, atol=1e-7)
    layout = pred.reshape(5, 2, 3)  # target-major: the 3 levels of target 1, then target 2
    want = np.mean(
        [metrics.pinball(target[:, j], layout[:, j, k], q) for j in range(2)
         for k, q in enumerate([0.1, 0.5, 0.8])]
    )  # fmt: skip
    assert value == pytest.approx(want)


def test_a_quantile_head_learns_the_spread_of_the_noise():
    # returns with standard deviation 2 %: the 5 % and 95 % quantiles are near -+3.3 %
    series = random_walk(3000, seed=2, scale=0.02)
    series = np.exp(series - 100)
    f = Forecaster(quantiles=[0.05, 0.5, 0.95], epochs=8, hidden_size=8, lookback=10,
                   verbose=0, seed=0).fit(series)  # fmt: skip
    q = f.predict_quantiles(series)
    last = series.to_numpy()[f.pipeline_.lookback : f.pipeline_.lookback + len(q)]
    spread = np.log(q.to_numpy()[:, 2] / last) - np.log(q.to_numpy()[:, 0] / last)
    assert np.median(spread) == pytest.approx(2 * 1.645 * 0.02, rel=0.25)
    assert np.all(np.diff(q.to_numpy(), axis=1) >= 0)  # quantiles never cross


# -- conformal calibration


def test_the_margin_is_the_conformal_rank():
    scores = np.arange(1.0, 20.0)[:, None]  # n = 19: the 18th smallest for 90 %
    assert intervals.margins(scores, 0.9, "x")[0] == 18.0
    with pytest.raises(ValueError, match="needs at least 9 validation forecasts"):
        intervals.margins(scores[:8], 0.9, "the naive forecast")


def test_conformal_intervals_cover_exchangeable_errors_at_their_level():
    series = random_walk(6000, seed=3)
    # returns: the network's errors are stationary too (on levels they drift away)
    f = Forecaster(val=0.4, test=0.4, **QUICK, transform="return").fit(series)
    table = f.evaluate(interval=0.9)
    # 2,400 test windows: a binomial's standard deviation at 0.9 is 0.006
    assert table.loc["Naive", "coverage"] == pytest.approx(0.9, abs=0.025)
    for name in table.index:
        assert 0.85 < table.loc[name, "coverage"] < 0.95


def test_evaluate_scores_the_intervals_test_predictions_gives():
    series = dated_prices(700, seed=4)
    f = Forecaster(horizon=2, **QUICK).fit(series)
    table = f.evaluate(interval=0.8, as_frame=False)
    frames = [f.test_predictions(step=k, interval=0.8) for k in (1, 2)]
    for row in table:
        name = row["model"]
        parts = [np.stack([fr[c].to_numpy() for fr in frames], axis=1)
                 for c in ("actual", f"{name} lower", f"{name} upper")]  # fmt: skip
        assert row["coverage"] == metrics.coverage(*parts)
        assert row["winkler"] == metrics.winkler(*parts, 0.8)
        assert row["width"] > 0
    assert set(metrics.INTERVAL_SCORES) <= set(table[0])
    assert "coverage" not in f.evaluate(as_frame=False)[0]  # only when asked


@pytest.mark.parametrize("pandas_input", [True, False])
def test_predict_with_an_interval_gives_lower_point_upper(pandas_input):
    series = dated_prices(600, seed=5)
    f = Forecaster(horizon=3, **QUICK).fit(series)
    data = series if pandas_input else series.to_numpy()
    lower, point, upper = f.predict(data, interval=0.9)
    np.testing.assert_array_equal(np.asarray(point), np.asarray(f.predict(data)))
    assert np.all(np.asarray(lower) < np.asarray(point))
    assert np.all(np.asarray(point) < np.asarray(upper))
    if pandas_input:
        assert lower.index.equals(point.index)
        assert list(upper.columns) == ["t+1", "t+2", "t+3"]
    # a higher level is a wider interval, never a narrower one
    lower95, _, upper95 = f.predict(data, interval=0.95)
    assert np.all(np.asarray(lower95) <= np.asarray(lower))
    assert np.all(np.asarray(upper95) >= np.asarray(upper))


def test_a_quantile_model_is_conformalized_between_its_quantiles():
    series = dated_prices(900, seed=6)
    f = Forecaster(quantiles=[0.1, 0.25, 0.5, 0.75, 0.9], **QUICK).fit(series)
    q = f.predict_quantiles(series.to_numpy())
    lower, point, upper = f.predict(series.to_numpy(), interval=0.8)
    np.testing.assert_array_equal(point, q[..., 2])
    # CQR moves both quantiles by one margin
    np.testing.assert_allclose(q[..., 0] - lower, upper - q[..., 4], rtol=1e-12, atol=1e-12)
    f.predict(series, interval=0.5)  # 0.25 and 0.75
    with pytest.raises(ValueError, match=r"needs the quantiles 0.05 and 0.95; this model"):
        f.predict(series, interval=0.9)
    assert f.evaluate(interval=0.8).loc["LSTM", "coverage"] > 0.5


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"quantiles": [0.5, 1.0]}, ValueError, "every level of quantiles must be a level"),
        ({"quantiles": [0.0, 0.5]}, ValueError, "every level of quantiles must be a level"),
        ({"quantiles": [0.9, 0.5, 0.1]}, ValueError, "quantiles must be increasing"),
        ({"quantiles": [0.1, 0.5, 0.5]}, ValueError, "quantiles must be increasing"),
        ({"quantiles": [0.1, 0.9]}, ValueError, "quantiles must include 0.5"),
        ({"quantiles": "0.5"}, TypeError, "quantiles must be a list of levels"),
        ({"quantiles": [0.1, 0.5], "loss": "mae"}, ValueError, "cannot train quantiles"),
        ({"quantiles": [0.5], "horizon": 2}, ValueError, "quantiles with horizon=2 need"),
    ],
)
def test_bad_quantiles_are_refused_before_training(params, error, message, monkeypatch):
    monkeypatch.setattr(rnnkit.train, "fit", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(error, match=message):
        Forecaster(**{**QUICK, **params}).fit(dated_prices(300, seed=7))


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, "0.9", True, math.nan])
def test_an_interval_level_outside_zero_one_is_refused(level):
    series = dated_prices(400, seed=8)
    f = Forecaster(**QUICK).fit(series)
    for call in (
        lambda: f.predict(series, interval=level),
        lambda: f.evaluate(interval=level),
        lambda: f.test_predictions(interval=level),
    ):
        with pytest.raises(ValueError, match="interval must be a level strictly between 0 and 1"):
            call()


def test_intervals_need_a_validation_block_and_enough_of_it():
    series = dated_prices(400, seed=9)
    with pytest.raises(ValueError, match="fitted without one"):
        Forecaster(val=0, **QUICK).fit(series).predict(series, interval=0.9)
    f = Forecaster(val=0.05, **QUICK).fit(series)  # 19 validation windows
    f.predict(series, interval=0.9)
    with pytest.raises(ValueError, match=r"interval=0\.99 needs at least 99 validation forecasts"):
        f.predict(series, interval=0.99)
    with pytest.raises(ValueError, match="predict_quantiles needs a Forecaster fitted with"):
        f.predict_quantiles(series)


# -- files


@pytest.mark.parametrize("quantiles", [None, [0.05, 0.5, 0.95]])
def test_intervals_and_quantiles_round_trip_through_a_file(tmp_path, quantiles):
    series = dated_prices(600, seed=10)
    f = Forecaster(quantiles=quantiles, cell="gru", **QUICK).fit(series)
    f.save(tmp_path / "m.npz")
    g = rnnkit.load(tmp_path / "m.npz")
    for a, b in zip(f.predict(series, interval=0.9), g.predict(series, interval=0.9), strict=True):
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(f.evaluate(interval=0.9), g.evaluate(interval=0.9))
    if quantiles:
        pd.testing.assert_frame_equal(f.predict_quantiles(series), g.predict_quantiles(series))
    g.save(tmp_path / "again.npz")  # loaded, saved, loaded again
    h = rnnkit.load(tmp_path / "again.npz")
    pd.testing.assert_frame_equal(h.evaluate(interval=0.9), f.evaluate(interval=0.9))


def test_a_crafted_calibration_is_refused_on_load():
    f = Forecaster(**QUICK).fit(dated_prices(400, seed=11))
    meta, arrays = f.to_state()
    bad = dict(arrays)
    bad["calibration/network"] = arrays["calibration/network"][:, :0]
    with pytest.raises(ValueError, match="calibration/network must have shape"):
        Forecaster.from_state(meta, bad)
    bad = dict(arrays)
    bad["calibration/actual"] = np.full_like(arrays["calibration/actual"], np.nan)
    with pytest.raises(ValueError, match="calibration/actual must be finite"):
        Forecaster.from_state(meta, bad)
    bad = {k: v for k, v in arrays.items() if k != "calibration/baseline0"}
    with pytest.raises(ValueError, match="the calibration arrays must be"):
        Forecaster.from_state(meta, bad)


def test_the_prediction_plot_draws_the_band():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from rnnkit import plot

    f = Forecaster(**QUICK).fit(dated_prices(500, seed=12))
    fig = plot.predictions(f.test_predictions(interval=0.9), zoom=40)
    tail = fig.axes[2]
    assert [c.get_label() for c in tail.collections] == ["LSTM interval"]
    fig = plot.predictions(f.test_predictions(interval=0.9), zoom=40, band="Naive")
    assert [c.get_label() for c in fig.axes[2].collections] == ["Naive interval"]
    with pytest.raises(ValueError, match="band must be a drawn model whose interval"):
        plot.predictions(f.test_predictions(), band="LSTM")
    fig_without = plot.predictions(f.test_predictions(), zoom=40)
    assert not fig_without.axes[2].collections


def test_a_backtest_scores_intervals_calibrated_in_each_fold():
    series = dated_prices(900, seed=13)
    f = Forecaster(test=0.3, **QUICK)
    table = f.backtest(series, folds=2, interval=0.8)
    assert table["coverage"].between(0, 1).all()
    _, models = f.backtest(series, folds=2, interval=0.8, return_models=True)
    for k, model in enumerate(models):  # each fold's own calibration, its own test block
        want = model.evaluate(interval=0.8).loc["Naive", "coverage"]
        assert table[(table["fold"] == k) & (table["model"] == "Naive")]["coverage"].item() == want
    assert "coverage" not in f.backtest(series, folds=2)
    with pytest.raises(ValueError, match="interval must be a level"):
        f.backtest(series, folds=2, interval=1.0)


@pytest.mark.parametrize("quantiles", [None, [0.05, 0.5, 0.95]])
def test_a_stateful_network_is_calibrated_on_what_its_carried_state_forecasts(quantiles):
    series = dated_prices(700, seed=14)
    params = {**QUICK, "stateful": True, "tbptt": 20, "batch_size": 4, "quantiles": quantiles}
    f = Forecaster(**params).fit(series)
    split = rnnkit.data.split_windows(series, f.lookback, f.horizon)
    start, n_val = len(split.train.X), len(split.val.X)
    # predict reads the series from its first row: through the training rows into the
    # validation rows, as the calibration did
    forecast = f._predict_levels(series)[1][start : start + n_val]
    np.testing.assert_allclose(f.calibration_["LSTM"], forecast, rtol=1e-6)
    np.testing.assert_array_equal(f.calibration_["actual"], split.val.y_raw)
    assert 0 < f.evaluate(interval=0.9).loc["LSTM", "coverage"] <= 1
