"""rnnkit.train: optimizers, clipping, losses, and fit (learning, early stopping, NaN, seeds)."""

import json
import sys

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from rnnkit.models import SequenceRegressor
from rnnkit.train import (
    SGD,
    Adam,
    History,
    RMSprop,
    clip_grad_norm,
    evaluate,
    fit,
    mae_loss,
    make_optimizer,
    mse_loss,
)

# ---------------------------------------------------------------------------- optimizers

G1, G2 = np.array([0.5, 1.0]), np.array([0.25, 1.0])  # two steps' gradients of p = [1, -2]


def two_steps(optimizer):
    p = np.array([1.0, -2.0])
    params = {"p": p}
    optimizer.step(params, {"p": G1.copy()})
    first = p.copy()
    optimizer.step(params, {"p": G2.copy()})
    assert params["p"] is p  # updated in place, never reallocated
    return first, p


@pytest.mark.parametrize(
    ("optimizer", "first", "second"),
    [
        # p -= 0.1 g: [1 - 0.05, -2 - 0.1], then [0.95 - 0.025, -2.1 - 0.1]
        (SGD(lr=0.1), [0.95, -2.1], [0.925, -2.2]),
        # b = g; then b = 0.9 b + g = [0.7, 1.9]: p = [0.95 - 0.07, -2.1 - 0.19]
        (SGD(lr=0.1, momentum=0.9), [0.95, -2.1], [0.88, -2.29]),
        # Nesterov steps along g + 0.9 b: [0.95, 1.9], then [0.25 + 0.63, 1 + 1.71]
        (SGD(lr=0.1, momentum=0.9, nesterov=True), [0.905, -2.19], [0.817, -2.461]),
        # weight decay 0.1 adds 0.1 p: g = [0.6, 0.8]; then [0.25 + 0.094, 1 - 0.208]
        (SGD(lr=0.1, weight_decay=0.1), [0.94, -2.08], [0.9056, -2.1592]),
        # step 1: m_hat = g, v_hat = g^2: p -= 0.1 sign(g) (eps aside);
        # step 2: m = [0.07, 0.19], v = [0.00031225, 0.001999], corrections 0.19 and 0.001999:
        # p -= 0.1 * (0.07 / 0.19) / sqrt(0.00031225 / 0.001999) = 0.0932180, and 0.1 exactly
        (Adam(lr=0.1), [0.9, -2.1], [0.8067820, -2.2]),
        # s = 0.01 g^2: p -= 0.01 g / (0.1 |g|) = 0.1 sign(g)
        (RMSprop(lr=0.01), [0.9, -2.1], None),
        # s = [0.0031, 0.0199]; b = 0.9 [10, 10] + g / sqrt(s) = [13.4901, 16.0888]
        (RMSprop(lr=0.01, momentum=0.9), [0.9, -2.1], [0.7650987, -2.2608881]),
    ],
    ids=["sgd", "momentum", "nesterov", "weight_decay", "adam", "rmsprop", "rmsprop_momentum"],
)
def test_optimizer_steps_by_hand(optimizer, first, second):
    got_first, got_second = two_steps(optimizer)
    np.testing.assert_allclose(got_first, first, rtol=1e-7)
    if second is not None:
        np.testing.assert_allclose(got_second, second, rtol=1e-7)


TORCH_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "nesterov": True}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5}),
    ("RMSprop", {"lr": 0.01}),
]


@pytest.mark.parametrize(("name", "kwargs"), TORCH_CASES)
def test_optimizers_match_torch_optim_over_several_steps(name, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ours = {"SGD": SGD, "Adam": Adam, "RMSprop": RMSprop}[name](**kwargs)
    theirs = getattr(torch.optim, name)(list(tparams.values()), **kwargs)
    for _ in range(6):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        for k, t in tparams.items():
            t.grad = torch.tensor(grads[k])
        theirs.step()
        ours.step(params, grads)
    for k, v in params.items():
        np.testing.assert_allclose(v, tparams[k].detach().numpy(), rtol=1e-12, atol=1e-14)


def test_make_optimizer():
    assert isinstance(make_optimizer("Adam", 0.5), Adam)
    assert make_optimizer("sgd", 0.5).lr == 0.5
    mine = RMSprop(lr=0.1)
    assert make_optimizer(mine, 0.5) is mine  # an instance keeps its own lr
    assert mine.lr == 0.1
    with pytest.raises(ValueError, match=r"optimizer must be one of \['adam', 'rmsprop', 'sgd'\]"):
        make_optimizer("adagrad", 0.1)
    with pytest.raises(ValueError, match="nesterov"):
        SGD(nesterov=True)
    with pytest.raises(ValueError, match="lr must be"):
        Adam(lr=-1)
    with pytest.raises(ValueError, match="betas"):
        Adam(betas=(0.9, 1.0))


# ---------------------------------------------------------------------------- clipping, losses


def test_clip_grad_norm_scales_globally_in_place():
    grads = {"a": np.array([3.0, 0.0], np.float32), "b": np.array([[4.0]], np.float32)}
    arrays = dict(grads)
    assert clip_grad_norm(grads, 10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(grads["a"], [3.0, 0.0])  # under the limit: unchanged
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    scale = 1.0 / (5.0 + 1e-6)  # torch.nn.utils.clip_grad_norm_'s coefficient
    np.testing.assert_allclose(grads["a"], [3 * scale, 0.0], rtol=1e-6)
    np.testing.assert_allclose(grads["b"], [[4 * scale]], rtol=1e-6)
    assert all(grads[k] is arrays[k] for k in grads)
    assert grads["a"].dtype == np.float32
    assert clip_grad_norm(grads, 1.0) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_leaves_non_finite_gradients_alone():
    grads = {"a": np.array([np.inf, 1.0])}
    assert clip_grad_norm(grads, 1.0) == np.inf
    np.testing.assert_array_equal(grads["a"], [np.inf, 1.0])
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(grads, -1.0)


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = {"w": rng.standard_normal((5, 3)), "b": rng.standard_normal(7)}
    tensors = [
        torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads.values()
    ]
    for t, g in zip(tensors, grads.values(), strict=True):
        t.grad = torch.tensor(g)
    want = float(torch.nn.utils.clip_grad_norm_(tensors, 0.5))
    assert clip_grad_norm(grads, 0.5) == pytest.approx(want, rel=1e-12)
    for t, g in zip(tensors, grads.values(), strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)


def test_losses_by_hand():
    pred, target = np.array([[1.0], [3.0], [2.0]]), np.array([[0.0], [1.0], [2.0]])
    value, grad = mse_loss(pred, target)
    assert value == pytest.approx(5.0 / 3)  # (1 + 4 + 0) / 3
    np.testing.assert_allclose(grad, [[2 / 3], [4 / 3], [0.0]])
    value, grad = mae_loss(pred, target)
    assert value == pytest.approx(1.0)  # (1 + 2 + 0) / 3
    np.testing.assert_allclose(grad, [[1 / 3], [1 / 3], [0.0]])
    value, grad = mse_loss(pred.astype(np.float32), target.astype(np.float32))
    assert isinstance(value, float)
    assert grad.dtype == np.float32


# ---------------------------------------------------------------------------- fit: learning


def sine_windows(n=400, lookback=20, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n + lookback)
    series = np.sin(2 * np.pi * t / 20) + 0.05 * rng.standard_normal(t.size)
    w = sliding_window_view(series, lookback + 1)
    return w[:, :lookback, None], w[:, lookback:]


def test_training_reduces_the_loss_on_a_sine():
    X, y = sine_windows()
    model = SequenceRegressor(hidden_size=12, seed=0)
    before = evaluate(model, X[300:], y[300:])
    history = fit(
        model, X[:300], y[:300], validation_data=(X[300:], y[300:]),
        epochs=8, batch_size=32, lr=0.02, verbose=0,
    )  # fmt: skip
    assert len(history.train_loss) == len(history.val_loss) == 8
    assert history.val_loss[-1] < 0.1 * before
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]
    assert evaluate(model, X[300:], y[300:]) == pytest.approx(history.best_loss, rel=1e-6)


def test_beats_the_naive_forecast_on_a_planted_ar1_series():
    # x_t = 0.6 x_{t-1} + e_t: the best forecast 0.6 x_{t-1} has MSE 1 (the noise), while
    # tomorrow = today has MSE 2 (1 - 0.6) / (1 - 0.36) = 1.25.
    rng = np.random.default_rng(0)
    e = rng.standard_normal(3000)
    x = np.zeros_like(e)
    for t in range(1, len(x)):
        x[t] = 0.6 * x[t - 1] + e[t]
    w = sliding_window_view(x, 11)
    X, y = w[:, :10, None], w[:, 10:]
    train, val = slice(0, 2000), slice(2000, 2500)
    test = slice(2500, None)
    model = SequenceRegressor(cell="rnn", hidden_size=8, seed=0)
    fit(model, X[train], y[train], validation_data=(X[val], y[val]), epochs=15, batch_size=64,
        lr=0.01, verbose=0)  # fmt: skip
    mse_model = float(np.mean((model.predict(X[test]) - y[test]) ** 2))
    mse_naive = float(np.mean((X[test, -1] - y[test]) ** 2))
    assert mse_model < 0.9 * mse_naive
    assert mse_model < 1.1 * float(np.mean(e[2510:] ** 2))


# ---------------------------------------------------------------------------- fit: stopping


class Constant:
    """A duck-typed model, predicting its one parameter b: the trainer's whole contract.

    Trained by SGD on targets 1 with one batch per epoch, b_k = 1 - (1 - 2 lr)^k; with
    lr = 0.05 that is 0.1, 0.19, 0.271, 0.344, ...: validation targets 0.3 are passed
    at epoch 3, the validation loss falls until then and rises after.
    """

    def __init__(self):
        self.params = {"b": np.zeros(1)}

    def forward(self, X, training=False):
        return np.full((len(X), 1), self.params["b"][0])

    def backward(self, d_pred):
        return {"b": d_pred.sum(axis=0)}


def constant_fit(**kwargs):
    model = Constant()
    X = np.zeros((8, 2, 1))
    kwargs = {
        "validation_data": (X, np.full(8, 0.3)), "epochs": 12, "batch_size": 8,
        "optimizer": SGD(lr=0.05), "clip_norm": None, "verbose": 0,
    } | kwargs  # fmt: skip
    return model, fit(model, X, np.ones(8), **kwargs)


def test_early_stopping_on_a_duck_typed_model():
    model, history = constant_fit(patience=3)
    assert history.best_epoch == 3
    assert history.stopped_epoch == 6
    assert history.stop_reason.startswith("early stopping")
    assert "best val_loss" in history.stop_reason
    assert model.params["b"][0] == pytest.approx(1 - 0.9**3)
    model, history = constant_fit(patience=3, restore_best_weights=False)
    assert model.params["b"][0] == pytest.approx(1 - 0.9**6)


def test_reduce_lr_on_plateau():
    _, history = constant_fit(
        patience=None, reduce_lr_on_plateau={"factor": 0.5, "patience": 2, "min_lr": 0.01}
    )
    # the best epoch is 3 and nothing improves after it: halve after epochs 5, 7, 9, 11
    want = [0.05] * 5 + [0.025] * 2 + [0.0125] * 2 + [0.01] * 3
    np.testing.assert_allclose(history.lr, want)
    assert history.stop_reason.startswith("completed 12 epochs")


def test_early_stopping_restores_the_best_epoch_of_a_network():
    # the network learns targets 1 and is judged on targets 0: validation gets worse with
    # training after the head's random start
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5, 1))
    model = SequenceRegressor(cell="rnn", hidden_size=4, seed=0, dtype=np.float64)
    snapshots = {}

    def snapshot(epoch, history):
        snapshots[epoch] = model.state_dict()

    history = fit(
        model, X, np.ones(64), validation_data=(X, np.zeros(64)), epochs=30, batch_size=16,
        optimizer="sgd", lr=0.02, patience=4, callbacks=[snapshot], verbose=0,
    )  # fmt: skip
    assert history.stop_reason.startswith("early stopping")
    assert history.stopped_epoch == history.best_epoch + 4
    assert history.val_loss[history.best_epoch - 1] == min(history.val_loss)
    assert history.val_loss[-1] > history.val_loss[history.best_epoch - 1]
    for name, p in snapshots[history.best_epoch].items():
        np.testing.assert_array_equal(model.params[name], p, err_msg=name)


def test_callback_can_stop_training():
    _, history = constant_fit(callbacks=[lambda epoch, history: epoch == 2])
    assert history.stopped_epoch == 2
    assert history.stop_reason.startswith("callback")


@pytest.mark.parametrize("stop", ["end", "callback raises"])
def test_a_trained_model_holds_no_activations(stop):
    """Its last batch's activations are tens of MB at the course's sizes; a sweep keeps
    hundreds of fitted models."""

    def boom(epoch, history):
        raise ValueError("from a callback")

    callbacks = [boom] if stop == "callback raises" else []
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6, 1))
    model = SequenceRegressor(cell="lstm", hidden_size=3, num_layers=2, seed=0)
    try:
        fit(
            model,
            X,
            X[:, -1],
            validation_data=(X, X[:, -1]),
            epochs=2,
            callbacks=callbacks,
            verbose=0,
        )
    except ValueError:
        assert stop == "callback raises"
    assert model.recurrent.activations == []
    with pytest.raises(RuntimeError, match="needs a forward call first"):
        model.backward(np.ones((40, 1)))


def test_nan_loss_stops_and_restores_the_initial_weights(capsys):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 5, 1)), rng.standard_normal((64, 1))
    y[-1] = np.nan  # in the 4th batch of the first epoch
    model = SequenceRegressor(cell="lstm", hidden_size=4, seed=0)
    initial = model.state_dict()
    history = fit(model, X, y, epochs=5, batch_size=16, shuffle=False, verbose=1)
    assert history.stop_reason.startswith("non-finite training loss nan in batch 4 at epoch 1")
    assert "initial weights restored" in history.stop_reason
    assert history.stopped_epoch == 1
    assert history.best_epoch == 0
    for name, p in initial.items():
        np.testing.assert_array_equal(model.params[name], p)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "non-finite training loss" in captured.err


def test_divergence_stops_with_finite_weights_and_no_warnings():
    # a huge learning rate without clipping overflows: no numpy warning may escape
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 5, 1)), rng.standard_normal((64, 1))
    model = SequenceRegressor(cell="rnn", nonlinearity="relu", hidden_size=8, seed=0)
    history = fit(model, X, y, epochs=5, optimizer=SGD(lr=1e6), clip_norm=None, verbose=0)
    assert history.stop_reason.startswith("non-finite")
    assert all(np.all(np.isfinite(p)) for p in model.params.values())


def test_nan_validation_loss_stops():
    _, history = constant_fit(validation_data=(np.zeros((3, 2, 1)), [0.0, np.nan, 0.0]))
    assert history.stop_reason.startswith("non-finite val_loss nan at epoch 1")
    assert history.val_loss == [pytest.approx(np.nan, nan_ok=True)]


# ---------------------------------------------------------------------------- fit: the rest


def test_a_seeded_run_is_bit_reproducible(one_thread):
    X, y = sine_windows(n=200, lookback=10)

    def run(seed):
        model = SequenceRegressor(hidden_size=6, num_layers=2, dropout=0.3, seed=1)
        history = fit(model, X[:150], y[:150], validation_data=(X[150:], y[150:]), epochs=3,
                      batch_size=16, lr=0.01, seed=seed, verbose=0)  # fmt: skip
        return model.state_dict(), history

    (params_a, hist_a), (params_b, hist_b), (params_c, _) = run(0), run(0), run(1)
    for name, p in params_a.items():
        np.testing.assert_array_equal(params_b[name], p, err_msg=name)
    assert hist_a.train_loss == hist_b.train_loss
    assert hist_a.val_loss == hist_b.val_loss
    assert not np.array_equal(params_c["head.weight"], params_a["head.weight"])


def test_params_stay_the_same_arrays_through_fit():
    model = SequenceRegressor(hidden_size=4, seed=0)
    arrays = dict(model.params)
    X, y = sine_windows(n=40, lookback=5)
    fit(model, X, y, epochs=2, verbose=0)
    assert all(model.params[k] is arrays[k] for k in arrays)
    assert model.params["weight_hh_l0"] is model.recurrent.params["weight_hh_l0"]


def test_evaluate_in_batches_equals_the_loss_of_all_predictions():
    X, y = sine_windows(n=50, lookback=5)
    model = SequenceRegressor(hidden_size=4, seed=0, dtype=np.float64)
    whole = float(np.mean((model.predict(X) - y) ** 2))
    assert evaluate(model, X, y, batch_size=7) == pytest.approx(whole, rel=1e-12)
    assert evaluate(model, X, y[:, 0], loss="mae") == pytest.approx(
        float(np.mean(np.abs(model.predict(X) - y)))
    )


def test_evaluate_runs_the_forward_only_path_and_leaves_a_backward_to_come():
    # Validation between a forward and its backward must not replace what the forward
    # kept: evaluate predicts, keeping nothing, where the old path ran forward again.
    X, y = sine_windows(n=50, lookback=5)
    model = SequenceRegressor(cell="lstm", hidden_size=4, seed=0, dtype=np.float64)
    d_pred = np.ones((20, 1))
    model.forward(X[:20], training=True)
    want = model.backward(d_pred)
    model.forward(X[:20], training=True)
    evaluate(model, X[20:], y[20:])
    got = model.backward(d_pred)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_history_state_and_frame(monkeypatch):
    _, history = constant_fit(epochs=3)
    record = json.loads(json.dumps(history.to_state()))
    assert record["best_epoch"] == 3
    assert record["stopped_epoch"] == 3
    assert len(record["epoch_time"]) == 3
    frame = history.as_frame()
    assert list(frame.columns) == ["train_loss", "val_loss", "lr", "epoch_time"]
    assert list(frame.index) == [1, 2, 3]
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"rnnkit\[pandas\]"):
        history.as_frame()
    assert isinstance(History().to_state(), dict)
    rebuilt = History.from_state(record)
    assert rebuilt.to_state() == history.to_state()
    assert repr(rebuilt) == repr(history)


def test_verbose_zero_is_silent_and_progress_goes_to_stderr(capsys):
    constant_fit(epochs=3, verbose=0)
    assert capsys.readouterr() == ("", "")
    constant_fit(epochs=3, verbose=1)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "3/3" in captured.err  # the tqdm bar
    assert "completed 3 epochs" in captured.err


def test_without_tqdm_one_line_per_epoch(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    constant_fit(epochs=3, verbose=1)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [f"fit epoch {e}/3" for e in (1, 2, 3)]
    assert "val=" in lines[0]
    assert len(lines) == 4


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"y": np.ones(7)}, ValueError, r"y must have shape \(8, outputs\)"),
        ({"y": np.ones((8, 3))}, ValueError, r"y must have 1 column\(s\)"),
        ({"X": np.ones((8, 2))}, ValueError, r"X must be windows of shape \(N, T, F\)"),
        ({"validation_data": np.ones(3)}, TypeError, "validation_data must be a pair"),
        (
            {"validation_data": (np.ones((3, 2, 1)), np.ones(4))},
            ValueError,
            r"validation_data\[1\]",
        ),
        ({"optimizer": "lbfgs"}, ValueError, "optimizer must be one of"),
        ({"loss": "huber"}, ValueError, "loss must be one of"),
        ({"epochs": 0}, ValueError, "epochs must be an int >= 1"),
        ({"patience": 0}, ValueError, "patience"),
        ({"reduce_lr_on_plateau": {"factor": 0.5, "cooldown": 1}}, ValueError, "cooldown"),
        ({"reduce_lr_on_plateau": 0.5}, TypeError, "reduce_lr_on_plateau"),
        ({"callbacks": [1]}, TypeError, "callbacks"),
    ],
)
def test_fit_refuses_bad_arguments(kwargs, error, match):
    args = {"X": np.zeros((8, 2, 1)), "y": np.ones(8)} | kwargs
    with pytest.raises(error, match=match):
        fit(Constant(), args.pop("X"), args.pop("y"), verbose=0, **args)
