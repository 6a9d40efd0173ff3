"""rnnkit.sklearn: scikit-learn's estimator checks, a search over time-series folds, windows."""

import inspect
import re
import subprocess
import sys

import numpy as np
import pytest

# Only a guard for an environment without the extra: CI installs scikit-learn with [test].
pytest.importorskip("sklearn", minversion="1.6")

from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from rnnkit import datasets, train
from rnnkit.data import make_windows
from rnnkit.sklearn import GRURegressor, LSTMRegressor, RNNRegressor

# The networks here are too small to gain from a second core thread, and OpenMP threads
# spinning on a busy machine make them several times slower (see the README).
pytestmark = pytest.mark.usefixtures("one_thread")

ESTIMATORS = [RNNRegressor, GRURegressor, LSTMRegressor]
# Small and quick: enough to test the plumbing, not to learn much.
QUICK = {"hidden_size": 4, "epochs": 3}


# Every check at the default parameters, each its own test. scikit-learn < 1.9 hands pytest
# a generator of checks, which pytest 9 deprecates (an error here): the same, as a list.
with_checks = parametrize_with_checks([cls() for cls in ESTIMATORS])
argnames, checks = with_checks.args
estimator_checks = pytest.mark.parametrize(argnames, list(checks), **with_checks.kwargs)


@estimator_checks
def test_scikit_learn_estimator_checks(estimator, check, monkeypatch):
    # scikit-learn runs its array API check only with SCIPY_ARRAY_API set (scipy reads it
    # at import, which does not matter here: the estimators only call NumPy).
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


def ar_lags(n=300, lookback=8):
    """2-D lags of an AR(1) series (one feature per step) and the next value."""
    series = datasets.ar_series(n, phi=(0.9,), sigma=1.0, seed=0)
    windows = make_windows(series, lookback)
    return windows.X[:, :, 0], windows.y[:, 0]


def test_grid_search_over_time_series_folds_in_a_pipeline():
    X, y = ar_lags()
    test = slice(-60, None)  # the latest windows, after every one the search sees
    pipeline = make_pipeline(StandardScaler(), LSTMRegressor(epochs=15, random_state=0))
    grid = {"lstmregressor__hidden_size": [4, 8], "lstmregressor__lr": [3e-3, 1e-2]}
    search = GridSearchCV(pipeline, grid, cv=TimeSeriesSplit(n_splits=3))
    search.fit(X[:-60], y[:-60])

    results = search.cv_results_
    assert len(results["params"]) == 4
    assert [key for key in results if re.fullmatch(r"split\d+_test_score", key)] == [
        "split0_test_score",
        "split1_test_score",
        "split2_test_score",
    ]
    assert np.isfinite(results["mean_test_score"]).all()
    best = search.best_estimator_[-1]
    assert {"lstmregressor__hidden_size": best.hidden_size, "lstmregressor__lr": best.lr} == (
        search.best_params_
    )
    # An AR(1) with phi = 0.9 leaves R^2 = phi^2 = 0.81 to the best forecast.
    assert search.score(X[test], y[test]) > 0.5
    assert search.predict(X[test]).shape == y[test].shape


def test_windows_from_make_windows():
    rng = np.random.default_rng(0)
    series = rng.normal(size=(60, 2)).cumsum(axis=0)
    X, y, _ = make_windows(series, lookback=6, horizon=3, target=0)
    assert X.shape == (52, 6, 2)
    assert y.shape == (52, 3)

    est = LSTMRegressor(**QUICK, random_state=0).fit(X, y)
    assert est.n_features_in_ == 6  # time steps, X.shape[1]
    assert est.model_.input_size == 2
    assert est.n_outputs_ == 3
    assert est.n_iter_ == len(est.history_.train_loss) == 3
    pred = est.predict(X)
    assert pred.shape == (52, 3)
    assert pred.dtype == np.float64

    # a 1-D y gives 1-D predictions; a (n, 1) y keeps its column
    assert est.fit(X, y[:, 0]).predict(X).shape == (52,)
    assert est.fit(X, y[:, :1]).predict(X).shape == (52, 1)

    with pytest.raises(ValueError, match="X has 1 features per time step, but LSTMRegressor"):
        est.predict(X[:, :, :1])
    with pytest.raises(ValueError, match="X has 5 features, but LSTMRegressor is expecting 6"):
        est.predict(X[:, 1:])
    with pytest.raises(ValueError, match=re.escape("(n_samples, n_steps, n_features)")):
        est.fit(X[:, :, :, None], y)


def test_2d_x_is_one_feature_per_step():
    X, y = ar_lags(80)
    est = RNNRegressor(**QUICK, random_state=0).fit(X, y)
    assert est.model_.input_size == 1
    np.testing.assert_array_equal(est.predict(X), est.predict(X[:, :, None]))


def test_early_stopping_validates_on_the_last_samples_in_order(monkeypatch):
    X, y = ar_lags(40)
    seen = {}
    fit = train.fit

    def spy(model, X, y, validation_data=None, **kwargs):
        seen.update(X=X, validation_data=validation_data, shuffle=kwargs["shuffle"])
        return fit(model, X, y, validation_data=validation_data, **kwargs)

    monkeypatch.setattr(train, "fit", spy)
    est = LSTMRegressor(**QUICK, early_stopping=True, validation_fraction=0.25, random_state=0)
    est.fit(X, y)
    n_val = int(np.ceil(0.25 * len(X)))
    X_val, y_val = seen["validation_data"]
    np.testing.assert_array_equal(X_val[:, :, 0], X[-n_val:])
    np.testing.assert_array_equal(y_val[:, 0], y[-n_val:])
    np.testing.assert_array_equal(seen["X"][:, :, 0], X[:-n_val])
    assert seen["shuffle"] is True  # within the training block only
    assert est.history_.monitor == "val_loss"
    assert len(est.history_.val_loss) == est.n_iter_

    est.set_params(validation_fraction=0.0)
    message = f"validation_fraction=0.0 of {len(X)} samples gives {len(X)} and 0"
    with pytest.raises(ValueError, match=re.escape(message)):
        est.fit(X, y)
    # without early stopping every sample trains and the training loss is monitored
    est.set_params(early_stopping=False).fit(X, y)
    assert seen["validation_data"] is None
    assert est.history_.monitor == "train_loss"


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_parameters_follow_scikit_learn(cls):
    names = list(inspect.signature(cls).parameters)
    # both cells' options, as SequenceRegressor takes them: one signature for both classes
    assert names.index("forget_bias") == names.index("nonlinearity") + 1
    assert set(cls().get_params()) == set(names)

    # __init__ stores what it is given, unchecked
    est = cls(hidden_size=0, lr="fast")
    assert (est.hidden_size, est.lr) == (0, "fast")
    assert repr(est) == f"{cls.__name__}(hidden_size=0, lr='fast')"
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'bogus'"):
        cls(bogus=1)
    with pytest.raises(TypeError, match="positional argument"):  # keyword-only, as sklearn's
        cls(8)

    est = cls(**QUICK, random_state=0)
    assert est.set_params(hidden_size=3) is est
    assert est.get_params()["hidden_size"] == 3
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        est.set_params(bogus=1)

    X, y = ar_lags(40)
    est.fit(X, y)
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()
    assert not hasattr(fresh, "model_")
    np.testing.assert_array_equal(fresh.fit(X, y).predict(X), est.predict(X))


BAD_PARAMETERS = [
    (ESTIMATORS, "hidden_size", 0, ValueError),
    (ESTIMATORS, "hidden_size", 2.5, TypeError),
    (ESTIMATORS, "num_layers", 0, ValueError),
    (ESTIMATORS, "dropout", 1.5, ValueError),
    (ESTIMATORS, "dtype", "float16", TypeError),
    (ESTIMATORS, "epochs", 0, ValueError),
    (ESTIMATORS, "batch_size", 0, ValueError),
    (ESTIMATORS, "optimizer", "adagrad", ValueError),
    (ESTIMATORS, "lr", -1.0, ValueError),
    (ESTIMATORS, "loss", "huber", ValueError),
    (ESTIMATORS, "clip_norm", -1.0, ValueError),
    (ESTIMATORS, "patience", 0, ValueError),
    (ESTIMATORS, "shuffle", "no", TypeError),
    (ESTIMATORS, "restore_best_weights", 1, TypeError),
    (ESTIMATORS, "early_stopping", "yes", TypeError),
    (ESTIMATORS, "validation_fraction", 1.0, ValueError),
    (ESTIMATORS, "random_state", -1, ValueError),
    (ESTIMATORS, "random_state", np.random.default_rng(0), TypeError),
    (ESTIMATORS, "verbose", "loud", TypeError),
    (ESTIMATORS, "nonlinearity", "sigmoid", ValueError),
    (ESTIMATORS, "forget_bias", float("inf"), ValueError),
    (ESTIMATORS, "forget_bias", "1", TypeError),
]


@pytest.mark.parametrize(
    ("cls", "name", "value", "error"),
    [
        pytest.param(cls, name, value, error, id=f"{cls.__name__}-{name}-{type(value).__name__}")
        for classes, name, value, error in BAD_PARAMETERS
        for cls in classes
    ],
)
def test_bad_parameters_are_refused_by_fit_naming_them(cls, name, value, error):
    est = cls(**{**QUICK, name: value})  # accepted as it is: scikit-learn checks in fit
    X, y = ar_lags(30)
    with pytest.raises(error, match=rf"^{name} .*\bgot\b"):
        est.fit(X, y)
    assert not any(attribute.endswith("_") for attribute in vars(est))  # still unfitted


def test_a_failed_fit_leaves_the_fitted_estimator_as_it_was():
    X, y = ar_lags(40)
    est = LSTMRegressor(**QUICK, random_state=0).fit(X, y)
    model, pred = est.model_, est.predict(X)
    with pytest.raises(ValueError, match=r"^hidden_size "):
        est.set_params(hidden_size=0).fit(X[:, 1:], y)
    assert est.model_ is model
    assert est.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(est.predict(X), pred)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_random_state_makes_fit_reproducible(cls):
    X, y = ar_lags(60)
    # two layers with dropout: random_state seeds the weights, the masks and the batches
    params = {**QUICK, "num_layers": 2, "dropout": 0.3, "batch_size": 8}
    first = cls(**params, random_state=7).fit(X, y).predict(X)
    np.testing.assert_array_equal(cls(**params, random_state=7).fit(X, y).predict(X), first)
    assert not np.array_equal(cls(**params, random_state=8).fit(X, y).predict(X), first)
    # a RandomState is advanced by each fit (scikit-learn's convention), so refits differ
    est = cls(**params, random_state=np.random.RandomState(7))
    assert not np.array_equal(est.fit(X, y).predict(X), est.fit(X, y).predict(X))


def test_import_rnnkit_does_not_import_sklearn():
    code = "import sys, rnnkit; sys.exit('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_without_scikit_learn_the_error_says_how_to_install_it(monkeypatch):
    for name in list(sys.modules):
        if name == "sklearn" or name.startswith("sklearn."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn fails
    monkeypatch.delitem(sys.modules, "rnnkit.sklearn")
    with pytest.raises(ImportError, match=re.escape('pip install "rnnkit[sklearn]"')):
        import rnnkit.sklearn  # noqa: F401


def test_the_lstm_regressor_takes_a_variant_and_the_others_refuse_one():
    X, y = ar_lags()
    est = LSTMRegressor(**QUICK, variant="cifg", random_state=0).fit(X, y)
    assert est.model_.variant == "cifg"
    with pytest.raises(ValueError, match="variant='cifg' is a variant of the LSTM"):
        GRURegressor(**QUICK, variant="cifg").fit(X, y)
