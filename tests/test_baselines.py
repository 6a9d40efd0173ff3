"""Baselines: each against numbers worked out by hand, the y layout, least squares, bad input."""

import json

import numpy as np
import pytest

from rnnkit import baselines
from rnnkit.baselines import (
    EWMA,
    Drift,
    LinearRegression,
    MovingAverage,
    Naive,
    default_baselines,
)

# Two windows of lookback 4 with two features; feature 0 is the default target.
#   window 0: feature 0 = 1, 2, 4, 7     feature 1 = 100, 200, 300, 400
#   window 1: feature 0 = 10, 8, 9, 5    feature 1 = 0, 0, 0, 0
X = np.array(
    [
        [[1.0, 100.0], [2.0, 200.0], [4.0, 300.0], [7.0, 400.0]],
        [[10.0, 0.0], [8.0, 0.0], [9.0, 0.0], [5.0, 0.0]],
    ]
)


def fitted(baseline, horizon=3, n_targets=1):
    """The baseline fitted on X with a y of the given horizon (its values do not matter)."""
    return baseline.fit(X, np.zeros((len(X), horizon * n_targets)))


def test_naive_repeats_the_last_value():
    expected = [[7, 7, 7], [5, 5, 5]]
    np.testing.assert_array_equal(fitted(Naive()).predict(X), expected)


def test_drift_extends_the_average_change():
    # slopes: (7 - 1) / 3 = 2 and (5 - 10) / 3 = -5/3
    expected = [[9, 11, 13], [5 - 5 / 3, 5 - 10 / 3, 0]]
    np.testing.assert_allclose(fitted(Drift()).predict(X), expected, rtol=0, atol=1e-12)


def test_drift_with_lookback_one_is_naive():
    last = X[:, -1:, :]
    np.testing.assert_array_equal(fitted(Drift()).predict(last), fitted(Naive()).predict(last))


@pytest.mark.parametrize(
    ("window", "expected"),
    [(1, [7, 5]), (2, [(4 + 7) / 2, (9 + 5) / 2]), (4, [14 / 4, 32 / 4])],
)
def test_moving_average_of_the_last_values(window, expected):
    forecast = fitted(MovingAverage(window), horizon=2).predict(X)
    np.testing.assert_allclose(forecast, np.repeat(np.array(expected)[:, None], 2, axis=1))


def test_ewma_runs_the_recursion_from_the_first_value():
    # alpha 0.5, window 0: 1 -> 1.5 -> 2.75 -> 4.875; window 1: 10 -> 9 -> 9 -> 7
    expected = [[4.875, 4.875], [7.0, 7.0]]
    np.testing.assert_allclose(fitted(EWMA(0.5), horizon=2).predict(X), expected)


def test_ewma_with_alpha_one_is_naive():
    np.testing.assert_array_equal(fitted(EWMA(1.0)).predict(X), fitted(Naive()).predict(X))


def test_several_targets_come_out_step_major():
    # row = [target 1 at t+1, target 0 at t+1, target 1 at t+2, target 0 at t+2]
    naive = fitted(Naive(target=[1, 0]), horizon=2, n_targets=2).predict(X)
    np.testing.assert_array_equal(naive, [[400, 7, 400, 7], [0, 5, 0, 5]])
    # feature 1 drifts by (400 - 100) / 3 = 100 a step in window 0 and stays at 0 in window 1
    drift = fitted(Drift(target=[0, 1]), horizon=2, n_targets=2).predict(X)
    np.testing.assert_allclose(drift, [[9, 500, 11, 600], [5 - 5 / 3, 0, 5 - 10 / 3, 0]])


def test_negative_target_counts_from_the_end():
    np.testing.assert_array_equal(fitted(Naive(target=-1), horizon=1).predict(X), [[400], [0]])


def test_fit_records_horizon_and_shapes():
    model = fitted(MovingAverage(2, target=[0, 1]), horizon=3, n_targets=2)
    assert (model.horizon_, model.lookback_, model.n_features_) == (3, 4, 2)
    assert model.targets_ == [0, 1]
    assert model.predict(X[:1]).shape == (1, 6)


def test_fit_accepts_pandas_y():
    pd = pytest.importorskip("pandas")
    model = Naive().fit(X, pd.DataFrame(np.zeros((2, 2)), columns=["t+1", "t+2"]))
    assert model.horizon_ == 2


# y = 1.5 + 0.6 x_t - 0.2 x_{t-1} at t+1; iterating once more gives
# x_{t+2} = 0.6 (1.5 + 0.6 x_t - 0.2 x_{t-1}) - 0.2 x_t + 1.5 = 2.4 + 0.16 x_t - 0.12 x_{t-1}
AR_COEF = np.array([[0.0, -0.2, 0.6], [0.0, -0.12, 0.16]])  # on lags x_{t-2}, x_{t-1}, x_t
AR_INTERCEPT = np.array([1.5, 2.4])


def ar_windows(n=40, seed=0):
    """Random windows of lookback 3 and their exact two-step AR(2) futures."""
    windows = np.random.default_rng(seed).standard_normal((n, 3, 1))
    return windows, windows[:, :, 0] @ AR_COEF.T + AR_INTERCEPT


def test_linear_regression_recovers_an_exact_ar_relation():
    windows, y = ar_windows()
    model = LinearRegression().fit(windows, y)
    np.testing.assert_allclose(model.coef_, AR_COEF, atol=1e-12)
    np.testing.assert_allclose(model.intercept_, AR_INTERCEPT, atol=1e-12)
    new, new_y = ar_windows(seed=1)
    np.testing.assert_allclose(model.predict(new), new_y, atol=1e-12)


def test_linear_regression_without_intercept_goes_through_the_origin():
    windows, y = ar_windows()
    model = LinearRegression(fit_intercept=False).fit(windows, y - AR_INTERCEPT)
    np.testing.assert_allclose(model.coef_, AR_COEF, atol=1e-12)
    np.testing.assert_array_equal(model.intercept_, [0.0, 0.0])


def test_ridge_matches_the_normal_equations_and_shrinks():
    windows, y = ar_windows()
    y = y + 0.1 * np.random.default_rng(2).standard_normal(y.shape)
    inputs = windows[:, :, 0]
    centred_in, centred_out = inputs - inputs.mean(axis=0), y - y.mean(axis=0)
    norms = []
    for ridge in (0.0, 1.0, 10.0, 100.0):
        model = LinearRegression(ridge=ridge).fit(windows, y)
        gram = centred_in.T @ centred_in + ridge * np.eye(3)
        expected = np.linalg.solve(gram, centred_in.T @ centred_out).T
        np.testing.assert_allclose(model.coef_, expected, atol=1e-12)
        norms.append(np.linalg.norm(model.coef_))
    assert norms == sorted(norms, reverse=True)
    assert norms[-1] < norms[0] / 2
    # The intercept is not penalised: a huge ridge leaves the mean of y.
    flat = LinearRegression(ridge=1e12).fit(windows, y)
    np.testing.assert_allclose(flat.coef_, 0.0, atol=1e-9)
    np.testing.assert_allclose(flat.intercept_, y.mean(axis=0), atol=1e-9)


def test_linear_regression_on_all_features():
    # y = 2 * (feature 1 at the last step) - (feature 0 at the first step): needs both columns
    windows = np.random.default_rng(3).standard_normal((30, 2, 2))
    y = 2 * windows[:, -1, 1:] - windows[:, 0, :1]
    model = LinearRegression(features="all").fit(windows, y)
    # inputs oldest step first: [f0 at t-1, f1 at t-1, f0 at t, f1 at t]
    np.testing.assert_allclose(model.coef_, [[-1, 0, 0, 2]], atol=1e-12)
    np.testing.assert_allclose(model.predict(windows), y, atol=1e-12)
    target_only = LinearRegression().fit(windows, y)
    assert target_only.coef_.shape == (1, 2)
    assert not np.allclose(target_only.predict(windows), y)


def test_names_and_params():
    assert [b.name for b in default_baselines(30)] == [
        "Naive",
        "Drift",
        "MovingAverage(5)",
        "EWMA(0.3)",
        "LinearRegression",
    ]
    assert default_baselines(3)[2].window == 3
    assert LinearRegression(ridge=0.5, features="all").name == (
        "LinearRegression(ridge=0.5, all features)"
    )
    assert MovingAverage(7, target=[0, 2]).get_params() == {"window": 7, "target": [0, 2]}
    assert LinearRegression().get_params() == {
        "ridge": 0.0,
        "fit_intercept": True,
        "features": "target",
        "target": 0,
    }
    assert Naive().get_params() == {"target": 0}
    assert repr(EWMA(0.5)) == "EWMA(alpha=0.5)"  # scikit-learn's repr: what is not default
    assert repr(Naive()) == "Naive()"
    assert all(b.target == [1, 2] for b in default_baselines(10, target=[1, 2]))


def test_predict_before_fit_asks_for_fit():
    with pytest.raises(RuntimeError, match=r"Naive is not fitted: call fit\(X, y\)"):
        Naive().predict(X)


@pytest.mark.parametrize(
    ("X_bad", "words"),
    [
        (X[0], r"X must be windows of shape \(N, lookback, n_features\).*got shape \(4, 2\)"),
        (X[:0], r"got shape \(0, 4, 2\)"),
        (np.where(X == 9, np.nan, X), "X must be finite, got 1 NaN"),
    ],
)
def test_bad_windows(X_bad, words):
    with pytest.raises(ValueError, match=words):
        Naive().fit(X_bad, np.zeros((len(X_bad), 1)))
    with pytest.raises(ValueError, match=words):
        fitted(Naive()).predict(X_bad)


def test_non_numeric_windows():
    with pytest.raises(TypeError, match="X must be an array of numbers"):
        Naive().fit(np.full((2, 3, 1), "a"), np.zeros((2, 1)))


@pytest.mark.parametrize(
    ("target", "y_shape", "words"),
    [
        (0, (3, 1), r"y must have shape \(N, horizon \* n_targets\) = \(2, h \* 1\).*\(3, 1\)"),
        (0, (2,), r"got shape \(2,\)"),
        (0, (2, 0), r"got shape \(2, 0\)"),
        ([0, 1], (2, 3), r"= \(2, h \* 2\) for X of shape \(2, 4, 2\) and target=\[0, 1\]"),
    ],
)
def test_bad_y(target, y_shape, words):
    with pytest.raises(ValueError, match=words):
        Naive(target=target).fit(X, np.zeros(y_shape))


@pytest.mark.parametrize(
    ("target", "error", "words"),
    [
        (True, TypeError, "target must be an integer column index"),
        (1.0, TypeError, "target must be an integer column index"),
        ("price", TypeError, "got 'price'"),
        ([], ValueError, "empty list"),
    ],
)
def test_bad_target_type(target, error, words):
    baseline = Naive(target=target)  # stored as given: scikit-learn checks in fit
    assert baseline.target is target
    with pytest.raises(error, match=words):
        baseline.fit(X, np.zeros((2, 1)))


@pytest.mark.parametrize("target", [2, -3, [0, 5]])
def test_target_out_of_range(target):
    with pytest.raises(ValueError, match=r"target index -?\d is out of range for X with 2"):
        Naive(target=target).fit(X, np.zeros((2, 2)))


def test_predict_needs_the_fitted_features():
    with pytest.raises(ValueError, match="X has 1 features but Naive was fitted on 2"):
        fitted(Naive()).predict(X[:, :, :1])


def test_moving_average_window_longer_than_lookback():
    words = r"MovingAverage\(3\) needs windows of at least 3 steps, but X has lookback 2"
    with pytest.raises(ValueError, match=words):
        fitted(MovingAverage(3)).predict(X[:, -2:])
    with pytest.raises(ValueError, match=words):
        MovingAverage(3).fit(X[:, -2:], np.zeros((2, 1)))


def test_linear_regression_needs_the_fitted_lookback():
    with pytest.raises(ValueError, match="fitted on windows of lookback 4, but X has lookback 3"):
        fitted(LinearRegression()).predict(X[:, 1:])


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: MovingAverage(0), ValueError, "window must be an int >= 1, got 0"),
        (lambda: MovingAverage(2.5), TypeError, "window must be an int >= 1"),
        (lambda: EWMA(0.0), ValueError, r"alpha must be in \(0, 1\], got 0.0"),
        (lambda: EWMA(1.5), ValueError, r"alpha must be in \(0, 1\]"),
        (lambda: EWMA(float("nan")), ValueError, "alpha must be a finite real number"),
        (lambda: EWMA("0.3"), TypeError, "alpha must be a finite real number"),
        (lambda: LinearRegression(ridge=-1), ValueError, "ridge must be >= 0, got -1"),
        (lambda: LinearRegression(ridge=np.inf), ValueError, "ridge must be a finite real"),
        (lambda: LinearRegression(fit_intercept="yes"), TypeError, "fit_intercept must be"),
        (lambda: LinearRegression(features="some"), ValueError, "features must be 'target'"),
        (lambda: Naive().set_params(target="close"), TypeError, "target must be an integer"),
    ],
)
def test_bad_parameters_are_refused_by_fit(make, error, words):
    baseline = make()
    with pytest.raises(error, match=words):
        baseline.fit(X, np.zeros((2, 1)))
    assert not hasattr(baseline, "horizon_")


def test_default_baselines_check_the_lookback():
    with pytest.raises(ValueError, match="lookback must be an int >= 1"):
        default_baselines(0)


@pytest.mark.parametrize("make", [Naive, Drift, lambda: MovingAverage(3), lambda: EWMA(0.5),
                                  lambda: LinearRegression(ridge=0.1, features="all"),
                                  lambda: baselines.RiskMetrics(0.8)])  # fmt: skip
def test_a_baseline_round_trips_its_state_bit_identically(make):
    original = fitted(make())
    meta, arrays = original.to_state()
    meta = json.loads(json.dumps(meta))  # what a model file holds
    rebuilt = baselines.from_state(meta, arrays)
    assert rebuilt.get_params() == original.get_params()
    np.testing.assert_array_equal(rebuilt.predict(X), original.predict(X))


def test_a_crafted_baseline_state_is_refused():
    meta, arrays = fitted(Naive()).to_state()
    with pytest.raises(ValueError, match="unknown baseline 'Evil'"):
        baselines.from_state({**meta, "class": "Evil"}, arrays)
    with pytest.raises(ValueError, match="do not match"):
        baselines.from_state({**meta, "fitted": {**meta["fitted"], "targets_": [1]}}, arrays)


def test_set_params_and_clone():
    sklearn_base = pytest.importorskip("sklearn.base")
    baseline = LinearRegression(ridge=0.5)
    assert baseline.set_params(ridge=2.0, target=1) is baseline
    assert baseline.get_params() == {"ridge": 2.0, "fit_intercept": True, "features": "target",
                                     "target": 1}  # fmt: skip
    assert repr(sklearn_base.clone(baseline)) == "LinearRegression(ridge=2.0, target=1)"
    with pytest.raises(ValueError, match=r"'alpha' is not a parameter of LinearRegression; valid"):
        baseline.set_params(alpha=1)


@pytest.mark.parametrize("ridge", [0.0, 2.5])
def test_linear_regression_over_many_chunks_is_the_least_squares_solution(ridge):
    # more windows than one chunk: the QR built chunk by chunk must give lstsq's answer
    rng = np.random.default_rng(7)
    windows = rng.standard_normal((3 * baselines.CHUNK + 5, 4, 2))
    y = windows[:, -1, :1] - 0.5 * windows[:, 0, 1:] + 0.1 * rng.standard_normal((len(windows), 1))
    model = LinearRegression(ridge=ridge, features="all").fit(windows, y)
    inputs = windows.reshape(len(windows), -1)
    a, b = inputs - inputs.mean(axis=0), y - y.mean(axis=0)
    a = np.vstack([a, np.sqrt(ridge) * np.eye(a.shape[1])])
    b = np.vstack([b, np.zeros((a.shape[1], 1))])
    expected = np.linalg.lstsq(a, b, rcond=None)[0].T
    np.testing.assert_allclose(model.coef_, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.predict(windows), inputs @ expected.T + model.intercept_)
    bad = windows.copy()
    bad[-1, 0, 0] = np.nan  # in the last chunk
    with pytest.raises(ValueError, match="X must be finite, got 1 NaN"):
        LinearRegression().fit(bad, y)


# ---------------------------------------------------------------------------- volatility


def garch_returns(n=3000, omega=0.05, alpha=0.08, beta=0.9, seed=0):
    """Absolute returns of a simulated GARCH(1,1): what a volatility Forecaster's windows hold."""
    rng = np.random.default_rng(seed)
    variance, out = omega / (1 - alpha - beta), np.empty(n)
    for t in range(n):
        out[t] = np.sqrt(variance) * rng.standard_normal()
        variance = omega + alpha * out[t] ** 2 + beta * variance
    return np.abs(out)


def consecutive_windows(values, lookback, horizon):
    from numpy.lib.stride_tricks import sliding_window_view

    runs = sliding_window_view(values, lookback + horizon)
    return runs[:, :lookback, None], runs[:, lookback:]


def test_riskmetrics_is_the_recursion_over_each_window_scaled_by_least_squares():
    a = garch_returns(400)
    X, y = consecutive_windows(a, 20, 2)
    model = baselines.RiskMetrics(0.9).fit(X, y)
    variances = []
    for window in X[:, :, 0]:  # the recursion, step by step, from the window's mean square
        v = np.mean(window**2)
        for value in window:
            v = 0.9 * v + 0.1 * value**2
        variances.append(v)
    sigma = np.sqrt(np.repeat(np.array(variances)[:, None], 2, axis=1))
    scale = np.sum(sigma * y) / np.sum(sigma**2)
    np.testing.assert_allclose(model.scale_, [scale], rtol=1e-12)
    np.testing.assert_allclose(model.predict(X), scale * sigma, rtol=1e-12)
    assert model.name == "RiskMetrics(0.9)"
    assert model.num_fitted() == 1


def test_garch_filters_each_window_and_forecasts_steps_ahead():
    a = garch_returns(400)
    X, _ = consecutive_windows(a, 15, 3)
    model = baselines.GARCH()
    model.targets_, model.horizon_ = [0], 3
    model.params_ = np.array([[0.05, 0.08, 0.9]])
    unconditional = 0.05 / (1 - 0.98)
    expected = []
    for window in X[:, :, 0]:
        s2 = unconditional
        for value in window:
            s2 = 0.05 + 0.08 * value**2 + 0.9 * s2
        expected.append([unconditional + 0.98**k * (s2 - unconditional) for k in range(3)])
    np.testing.assert_allclose(model._variances(X)[:, :, 0], expected, rtol=1e-12)
    # integrated (alpha + beta = 1): from the window's mean square, growing by omega a step
    model.params_ = np.array([[0.05, 0.3, 0.7]])
    for window, got in zip(X[:3, :, 0], model._variances(X[:3])[:, :, 0], strict=True):
        s2 = np.mean(window**2)
        for value in window:
            s2 = 0.05 + 0.3 * value**2 + 0.7 * s2
        np.testing.assert_allclose(got, [s2, s2 + 0.05, s2 + 0.1], rtol=1e-12)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda arrays: arrays.update(scale_=np.array([-1.0])), "scale_ must be 1 numbers >= 0"),
        (lambda arrays: arrays.update(params_=np.array([[0.1, 5.0, 40.0]])), r"alpha \+ beta <= 1"),
        (
            lambda arrays: arrays.update(params_=np.array([[-0.1, 0.1, 0.8]])),
            "omega, alpha, beta >= 0",
        ),
    ],
)
def test_a_crafted_volatility_model_is_refused(change, words):
    model = baselines.GARCH()
    model.targets_, model.lookback_, model.n_features_, model.horizon_ = [0], 10, 1, 1
    model.scale_, model.params_ = np.array([0.8]), np.array([[0.05, 0.08, 0.9]])
    state, arrays = model.to_state()
    change(arrays)
    with pytest.raises(ValueError, match=words):
        baselines.from_state(json.loads(json.dumps(state)), arrays)


def test_garch_estimates_what_arch_estimates_on_the_training_series():
    arch = pytest.importorskip("arch")
    a = garch_returns(3000)
    X, y = consecutive_windows(a, 30, 1)
    model = baselines.GARCH().fit(X, y)
    reference = arch.arch_model(a[:-1], mean="Zero", p=1, q=1, rescale=False)
    params = reference.fit(disp="off", show_warning=False).params
    np.testing.assert_allclose(
        model.params_[0], params[["omega", "alpha[1]", "beta[1]"]], rtol=1e-6
    )
    assert abs(model.params_[0, 2] - 0.9) < 0.05  # close to the simulated beta
    # a forecast of |r| from sigma: near sqrt(2 / pi) for normal returns
    assert abs(model.scale_[0] - np.sqrt(2 / np.pi)) < 0.05
    state, arrays = model.to_state()
    loaded = baselines.from_state(json.loads(json.dumps(state)), arrays)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_volatility_baselines_and_their_bad_parameters():
    names = [b.name for b in baselines.volatility_baselines(20)]
    assert names[:4] == ["Naive", "MovingAverage(20)", "RiskMetrics(0.94)", "LinearRegression"]
    with pytest.raises(ValueError, match=r"lam must be in \(0, 1\), got 1"):
        baselines.RiskMetrics(lam=1).fit(X, np.zeros((2, 1)))
