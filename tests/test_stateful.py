"""Stateful training with truncated BPTT: the model's sequences, the trainer's streams and
chunks, the Forecaster's blocks, save/load, and a dependency longer than the lookback."""

import pickle

import numpy as np
import pytest

import rnnkit
from rnnkit import Forecaster, core, train
from rnnkit.data import split_rows
from rnnkit.models import SequenceRegressor
from rnnkit.train import fit

CELLS = ("lstm", "gru", "rnn")
# A Forecaster small enough for many fits in a test (horizon 2: targets are not only the next row)
FAST = {"lookback": 6, "horizon": 2, "hidden_size": 5, "epochs": 3, "batch_size": 4,
        "transform": "none", "verbose": 0, "stateful": True, "tbptt": 7}  # fmt: skip


def flips(n, period, noise=0.1, seed=0):
    """A level that flips between +1 and -1 every period / 2 steps, plus Gaussian noise: a
    window shorter than period / 2 mostly sees a flat level and cannot know when the next
    flip comes; a network that counts the steps since the last flip can."""
    t = np.arange(n)
    level = np.where(t % period < period // 2, 1.0, -1.0)
    return level + noise * np.random.default_rng(seed).standard_normal(n)


@pytest.fixture(scope="module")
def series():
    return flips(300, 20)


@pytest.fixture(scope="module")
def fitted(series):
    return Forecaster(**FAST, seed=0).fit(series)


# ---------------------------------------------------------------------------- the model


@pytest.mark.parametrize("cell", CELLS)
def test_a_sequence_read_in_pieces_is_the_sequence_read_at_once(cell):
    model = SequenceRegressor(cell, input_size=2, hidden_size=4, output_size=3, num_layers=2,
                              dtype="float64", seed=0)  # fmt: skip
    x = np.random.default_rng(0).standard_normal((3, 11, 2))
    whole, state = model.predict_sequence(x)
    first, middle = model.predict_sequence(x[:, :4])
    second, end = model.predict_sequence(x[:, 4:], middle)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-13)
    for got, want in zip(end, state, strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13)
    # from zeros, the last step is the windowed forecast; forward_sequence agrees too
    np.testing.assert_allclose(whole[:, -1], model.predict(x), rtol=1e-13)
    np.testing.assert_array_equal(model.forward_sequence(x)[0], whole)
    assert [len(layer) for layer in state] == [2 if cell == "lstm" else 1] * 2
    assert all(a.shape == (3, 4) for layer in state for a in layer)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_backward_sequence_is_the_gradient_with_the_initial_state_held_fixed(cell, dropout):
    """Central differences of sum(pred * d) for a chunk read from a fixed, non-zero state:
    the gradient stops at the chunk edge, and dropout's masks are those of the forward."""
    model = SequenceRegressor(cell, input_size=2, hidden_size=3, output_size=2, num_layers=2,
                              dropout=dropout, dtype="float64", seed=1)  # fmt: skip
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 2))
    d = rng.standard_normal((2, 5, 2))
    _, state = model.predict_sequence(rng.standard_normal((2, 4, 2)))  # a state to start from

    def loss():
        model.recurrent.rng = np.random.default_rng(7)  # the same masks every time
        return float((model.forward_sequence(x, state, training=True)[0] * d).sum())

    loss()
    grads = model.backward_sequence(d)
    for name, p in model.params.items():
        numerical = np.zeros_like(p)
        for i in range(p.size):
            kept = p.flat[i]
            p.flat[i] = kept + 1e-6
            up = loss()
            p.flat[i] = kept - 1e-6
            numerical.flat[i] = (up - loss()) / 2e-6
            p.flat[i] = kept
        np.testing.assert_allclose(grads[name], numerical, rtol=1e-5, atol=1e-8, err_msg=name)


def test_dropout_never_touches_the_carried_state():
    model = SequenceRegressor("lstm", input_size=1, hidden_size=4, dropout=0.5, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 6, 1))
    _, dropped = model.forward_sequence(x, training=True)
    # the masks changed the inputs, so the state differs, but it is what the layer computed:
    # no zeroed units scaled by 1 / (1 - rate) as a dropped-out array would have
    layer = model.recurrent.activations[0]
    np.testing.assert_array_equal(dropped[0][0], layer["outputs"][:, -1])
    np.testing.assert_array_equal(dropped[0][1], layer["cells"][:, -1])


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ([], r"state must be a list of 1 per-layer tuples \('h', 'c'\), got list of 0"),
        ([(np.zeros((2, 4)),)], r"state\[0\] must be a tuple \('h', 'c'\)"),
        ([(np.zeros((2, 4)), np.zeros((3, 4)))], r"state\[0\]'s c must have shape \(2, 4\)"),
        ([(np.zeros((2, 5)), np.zeros((2, 4)))], r"state\[0\]'s h must have shape \(2, 4\)"),
    ],
)
def test_a_state_that_does_not_fit_is_refused_by_name(state, words):
    model = SequenceRegressor("lstm", input_size=1, hidden_size=4, seed=0)
    with pytest.raises(ValueError, match=words):
        model.forward_sequence(np.zeros((2, 3, 1)), state)


def test_backward_and_backward_sequence_need_their_own_forward():
    model = SequenceRegressor("gru", input_size=1, hidden_size=3, seed=0)
    model.forward(np.zeros((2, 4, 1)))
    with pytest.raises(RuntimeError, match="backward_sequence needs a forward_sequence call"):
        model.backward_sequence(np.zeros((2, 4, 1)))
    model.forward_sequence(np.zeros((2, 4, 1)))
    with pytest.raises(RuntimeError, match="backward needs a forward call"):
        model.backward(np.zeros((2, 1)))
    model.release_activations()
    with pytest.raises(RuntimeError, match="backward_sequence needs"):
        model.backward_sequence(np.zeros((2, 4, 1)))


# ---------------------------------------------------------------------------- the trainer


def hand_rolled_fit(params, X, y, streams, tbptt, epochs, lr):
    """Stateful training of a one-layer LSTM and a linear head, written out with the core's
    functions and plain SGD: the rows cut into ``streams`` contiguous streams (the oldest
    n mod streams rows left out), read in order in chunks of ``tbptt`` steps, each chunk
    from the previous one's final state, zeros at the start of every epoch."""
    p = {k: v.copy() for k, v in params.items()}
    per_stream = len(X) // streams
    kept = slice(len(X) - streams * per_stream, None)
    xs = X[kept].reshape(streams, per_stream, -1)
    ys = y[kept].reshape(streams, per_stream, -1)
    H = p["weight_hh_l0"].shape[1]
    for _ in range(epochs):
        h = c = np.zeros((streams, H))
        for start in range(0, per_stream, tbptt):
            x = np.ascontiguousarray(xs[:, start : start + tbptt].transpose(1, 0, 2))
            target = ys[:, start : start + tbptt].transpose(1, 0, 2)
            w = p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"]
            out, h_n, c_n, gates, cells = core.lstm_forward(x, h, c, *w)
            pred = out @ p["head.weight"].T + p["head.bias"]
            d_pred = 2.0 * (pred - target) / pred.size
            _, _, _, dw_ih, dw_hh, db_ih, db_hh = core.lstm_backward(
                x, h, c, w[0], w[1], out, gates, cells, d_pred @ p["head.weight"], None, None
            )
            grads = {"weight_ih_l0": dw_ih, "weight_hh_l0": dw_hh, "bias_ih_l0": db_ih,
                     "bias_hh_l0": db_hh, "head.bias": d_pred.sum(axis=(0, 1)),
                     "head.weight": np.tensordot(d_pred, out, axes=([0, 1], [0, 1]))}  # fmt: skip
            for name, g in grads.items():
                p[name] -= lr * g
            h, c = h_n, c_n  # carried on, with no gradient through it
    return p


@pytest.mark.parametrize(("n", "streams", "tbptt"), [(29, 3, 4), (24, 2, 12), (10, 1, 3)])
def test_streams_chunks_and_carried_state_match_a_hand_rolled_loop(n, streams, tbptt):
    """29 rows in 3 streams leave the oldest 2 out and 9 rows a stream: chunks of 4, 4, 1."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n, 2)), rng.standard_normal((n, 1))
    model = SequenceRegressor("lstm", input_size=2, hidden_size=3, dtype="float64", seed=0)
    want = hand_rolled_fit(model.params, X, y, streams, tbptt, epochs=3, lr=0.1)
    history = fit(model, X, y, epochs=3, batch_size=streams, optimizer="sgd", lr=0.1,
                  clip_norm=None, patience=None, verbose=0, stateful=True, tbptt=tbptt)  # fmt: skip
    assert history.stop_reason.startswith("completed 3 epochs")
    for name, p in model.params.items():
        np.testing.assert_allclose(p, want[name], rtol=1e-12, atol=1e-14, err_msg=name)


def test_the_state_is_carried_between_chunks_and_reset_every_epoch(monkeypatch):
    """What each chunk starts from, seen from inside the trainer."""
    starts = []
    forward = SequenceRegressor.forward_sequence

    def recorded(self, X, state=None, training=False):
        starts.append(state)
        pred, final = forward(self, X, state, training)
        starts.append(final)
        return pred, final

    monkeypatch.setattr(SequenceRegressor, "forward_sequence", recorded)
    rng = np.random.default_rng(0)
    model = SequenceRegressor("gru", input_size=1, hidden_size=2, seed=0)
    fit(model, rng.standard_normal((12, 1)), rng.standard_normal(12), epochs=2, batch_size=2,
        patience=None, verbose=0, stateful=True, tbptt=2)  # fmt: skip
    assert len(starts) == 2 * 2 * 3  # 2 epochs of 3 chunks, each a start and an end
    for epoch in range(2):
        chunks = starts[6 * epoch : 6 * epoch + 6]
        assert chunks[0] is None  # zeros at the start of every epoch
        for end, start in zip(chunks[1:-1:2], chunks[2::2], strict=True):
            assert start is end  # the next chunk starts where the last ended


def test_validation_continues_the_state_from_the_end_of_the_training_rows():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 1)), rng.standard_normal((40, 1))
    model = SequenceRegressor("lstm", input_size=1, hidden_size=3, dtype="float64", seed=0)
    history = fit(model, X[:30], y[:30], validation_data=(X[30:], y[30:]), epochs=2,
                  batch_size=3, patience=None, restore_best_weights=False, verbose=0,
                  stateful=True, tbptt=5)  # fmt: skip
    pred = model.predict_sequence(X[None])[0][0]  # all 40 rows, one stream from zeros
    assert history.val_loss[-1] == pytest.approx(np.mean((pred[30:] - y[30:]) ** 2), rel=1e-12)
    # and not from zeros at the first validation row
    fresh = model.predict_sequence(X[None, 30:])[0][0]
    assert history.val_loss[-1] != pytest.approx(np.mean((fresh - y[30:]) ** 2), rel=1e-6)


def test_a_nan_stops_stateful_training_with_the_best_weights():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 1)), rng.standard_normal((40, 1))
    y[-1] = np.nan  # in the last chunk of the last stream
    model = SequenceRegressor("lstm", input_size=1, hidden_size=3, seed=0)
    initial = model.state_dict()
    history = fit(model, X, y, epochs=3, batch_size=2, verbose=0, stateful=True, tbptt=5)
    assert history.stop_reason.startswith("non-finite training loss nan in batch 4 at epoch 1")
    for name, p in initial.items():
        np.testing.assert_array_equal(model.params[name], p)


def test_ctrl_c_in_stateful_training_keeps_the_best_weights():
    rng = np.random.default_rng(0)
    X = np.cumsum(rng.standard_normal((60, 1)), axis=0) / 5
    model = SequenceRegressor("lstm", input_size=1, hidden_size=4, seed=0)
    snapshots = {}

    def snapshot(epoch, history):
        snapshots[epoch] = model.state_dict()
        if epoch == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as caught:
        fit(model, X[:-1][:40], X[1:][:40], validation_data=(X[:-1][40:], X[1:][40:]),
            epochs=10, batch_size=2, lr=0.02, verbose=0, callbacks=[snapshot], stateful=True,
            tbptt=5)  # fmt: skip
    history = caught.value.history
    assert history.stop_reason.startswith("interrupted at epoch 4 by KeyboardInterrupt")
    assert 1 <= history.best_epoch <= 4
    for name, p in snapshots[history.best_epoch].items():
        np.testing.assert_array_equal(model.params[name], p, err_msg=name)


# ---------------------------------------------------------------------------- bad input


@pytest.fixture
def no_training(monkeypatch):
    """Any epoch that starts fails the test: errors must come before training."""

    def refuse(*args, **kwargs):
        raise AssertionError("an epoch began")

    monkeypatch.setattr(train, "_epoch", refuse)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"stateful": True, "tbptt": 0}, ValueError, "tbptt must be an int >= 1, got 0"),
        ({"stateful": True, "tbptt": -3}, ValueError, "tbptt must be an int >= 1, got -3"),
        ({"stateful": True, "tbptt": 2.5}, TypeError, "tbptt must be an int >= 1, got float"),
        ({"stateful": True, "tbptt": True}, TypeError, "tbptt must be an int >= 1, got bool"),
        ({"stateful": True}, ValueError, "tbptt must be an int >= 1, .* stateful=True; got None"),
        ({"stateful": True, "tbptt": 11}, ValueError,
         (r"tbptt must be at most 10, the rows per stream \(40 training rows cut into "
          r"batch_size=4 streams\), got 11")),
        ({"stateful": True, "tbptt": 2, "batch_size": 41}, ValueError,
         "batch_size must be at most 40, the training rows, with stateful=True"),
        ({"tbptt": 5}, ValueError, "tbptt=5 applies to stateful training only"),
        ({"stateful": "yes", "tbptt": 5}, TypeError, "stateful must be True or False"),
    ],
)  # fmt: skip
def test_bad_stateful_settings_are_refused_by_name_before_training(
    kwargs, error, words, no_training
):
    model = SequenceRegressor("lstm", input_size=1, hidden_size=3, seed=0)
    before = model.state_dict()
    rng = np.random.default_rng(0)
    with pytest.raises(error, match=words):
        fit(model, rng.standard_normal((40, 1)), rng.standard_normal(40),
            **{"batch_size": 4, **kwargs})  # fmt: skip
    for name, p in before.items():
        np.testing.assert_array_equal(model.params[name], p)


@pytest.mark.parametrize(
    ("X", "y", "validation", "words"),
    [
        (np.zeros((40, 5, 1)), np.zeros(40), None,
         r"X must be rows of shape \(n, F\) in time order .* got shape \(40, 5, 1\)"),
        (np.zeros((40, 1)), np.zeros(39), None,
         r"y must have shape \(40, outputs\) or \(40,\), the targets of each row of X; got"),
        (np.zeros((40, 1)), np.zeros(40), (np.zeros((5, 1)), np.zeros((6, 1))),
         r"validation_data\[1\] must have shape \(5, outputs\)"),
    ],
)  # fmt: skip
def test_stateful_data_of_the_wrong_shape_is_refused(X, y, validation, words, no_training):
    model = SequenceRegressor("lstm", input_size=1, hidden_size=3, seed=0)
    with pytest.raises(ValueError, match=words):
        fit(model, X, y, validation_data=validation, batch_size=2, stateful=True, tbptt=3)


@pytest.mark.parametrize(
    ("params", "error", "words"),
    [
        ({"tbptt": 0}, ValueError, "tbptt must be an int >= 1, got 0"),
        ({"tbptt": 10**6}, ValueError, r"tbptt must be at most \d+, the rows per stream"),
        ({"tbptt": 3.0}, TypeError, "tbptt must be an int"),
        ({"stateful": False}, ValueError, "tbptt=7 applies to stateful training only"),
        ({"tbptt": None}, ValueError, "tbptt must be an int >= 1, .* got None"),
        ({"batch_size": 10**4}, ValueError, "batch_size must be at most"),
    ],
)  # fmt: skip
def test_a_forecaster_refuses_bad_stateful_settings_before_training(
    params, error, words, series, no_training
):
    forecaster = Forecaster(**{**FAST, **params})
    with pytest.raises(error, match=words):
        forecaster.fit(series)
    assert not hasattr(forecaster, "model_")


# ---------------------------------------------------------------------------- the Forecaster


def test_stateful_parameters_are_the_estimators_own(fitted):
    from sklearn.base import clone

    assert Forecaster().get_params()["stateful"] is False
    assert Forecaster().get_params()["tbptt"] is None
    params = clone(fitted).get_params()
    assert (params["stateful"], params["tbptt"]) == (True, 7)
    assert Forecaster().set_params(stateful=True, tbptt=3).tbptt == 3
    assert "stateful=True, tbptt=7" in repr(fitted)
    assert pickle.loads(pickle.dumps(fitted)).evaluate().equals(fitted.evaluate())


def test_the_rows_are_cut_into_the_blocks_of_the_windows(series):
    rows = split_rows(series, 6, horizon=2, transform="none")
    windows = rows.windows
    train_end, val_end = windows.bounds
    # every block's rows are the forecast origins of its windows, and they follow on
    assert len(rows.train.X) == train_end - 2
    assert len(rows.val.X) == val_end - train_end
    np.testing.assert_array_equal(rows.train.X[5:], windows.train.origin_rows)
    np.testing.assert_array_equal(rows.train.y[5:], windows.train.y)
    np.testing.assert_array_equal(rows.val.X, windows.val.origin_rows)
    np.testing.assert_array_equal(rows.val.y, windows.val.y)
    every = windows.pipeline.sequence(windows.pipeline.table(series)[0], targets=True)
    np.testing.assert_array_equal(np.concatenate([r.X for r in rows[:3]]), every.X)
    np.testing.assert_array_equal(np.concatenate([r.y for r in rows[:3]]), every.y)
    # row j's targets are the target column's rows j + 1 .. j + horizon
    scaled = windows.pipeline.sequence(windows.pipeline.table(series)[0]).X[:, 0]
    np.testing.assert_array_equal(every.y[:, 1], scaled[2:])
    with pytest.raises(TypeError, match="split_rows takes no warmup"):
        split_rows(series, 6, warmup=10)


def test_evaluate_scores_the_network_on_the_baselines_targets_and_origins(fitted, series):
    windowed = Forecaster(**{**FAST, "stateful": False, "tbptt": None}, seed=0).fit(series)
    table, other = fitted.test_predictions(step=2), windowed.test_predictions(step=2)
    np.testing.assert_array_equal(table["actual"], other["actual"])
    np.testing.assert_array_equal(table["Naive"], other["Naive"])
    assert list(fitted.evaluate().index) == list(windowed.evaluate().index)
    # the forecasts are the network's on the test rows, read on from test_state_
    block = fitted._test_block()
    pred = fitted.model_.predict_sequence(block.origin_rows[None], fitted.test_state_)[0][0]
    np.testing.assert_allclose(table["LSTM"], fitted.pipeline_.to_levels(pred, block.last)[:, 1])
    # test_state_ is what reading the training and validation rows from zeros leaves
    rows = split_rows(series, 6, horizon=2, transform="none")
    before_test = np.concatenate([rows.train.X, rows.val.X])
    for got, want in zip(fitted.test_state_, fitted.model_.state_after(before_test), strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_predict_reads_from_the_first_row_and_gives_the_windowed_shape(fitted, series):
    windowed = Forecaster(**{**FAST, "stateful": False, "tbptt": None, "epochs": 1}).fit(series)
    forecast = fitted.predict(series)
    assert forecast.shape == windowed.predict(series).shape == (len(series) - 5, 2)
    # on the fitted series, its test rows are the test forecasts (up to float rounding:
    # there the state came through the blocks one call each)
    test = fitted.test_predictions(step=1)["LSTM"]
    np.testing.assert_allclose(forecast[-len(test) - 2 : -2, 0], test, rtol=1e-5, atol=1e-5)
    # state_after continues: the rest of the series read on from a prefix's state
    rows = fitted.pipeline_.sequence(fitted.pipeline_.table(series)[0]).X
    state = fitted.state_after(series[:100])
    rest = fitted.model_.predict_sequence(rows[None, 100:], state)[0][0]
    whole = fitted.model_.predict_sequence(rows[None])[0][0]
    np.testing.assert_allclose(rest, whole[100:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(forecast[:, :], fitted.pipeline_.to_levels(whole[5:], series[5:]))


def test_validation_and_training_never_see_the_test_rows(series):
    changed = series.copy()
    changed[-40:] = 10 * np.random.default_rng(1).standard_normal(40)  # inside the test block
    a = Forecaster(**FAST, seed=0).fit(series)
    b = Forecaster(**FAST, seed=0).fit(changed)
    assert a.history_.val_loss == b.history_.val_loss
    assert a.history_.train_loss == b.history_.train_loss
    for name, p in a.model_.params.items():
        np.testing.assert_array_equal(b.model_.params[name], p, err_msg=name)
    for got, want in zip(a.test_state_, b.test_state_, strict=True):
        for x, y in zip(got, want, strict=True):
            np.testing.assert_array_equal(x, y)
    assert not a.evaluate().equals(b.evaluate())


def test_ctrl_c_in_a_stateful_forecaster_leaves_it_fitted_with_a_test_state(series, monkeypatch):
    epochs = []
    one_epoch = train._epoch

    def interrupted(*args, **kwargs):
        epochs.append(1)
        if len(epochs) == 3:
            raise KeyboardInterrupt
        return one_epoch(*args, **kwargs)

    monkeypatch.setattr(train, "_epoch", interrupted)
    forecaster = Forecaster(**FAST, seed=0)
    with pytest.raises(KeyboardInterrupt):
        forecaster.fit(series)
    assert forecaster.history_.stop_reason.startswith("interrupted at epoch 3")
    assert len(forecaster.test_state_) == 1
    assert np.isfinite(forecaster.evaluate().loc["LSTM", "rmse"])


@pytest.mark.parametrize("cell", CELLS)
def test_a_stateful_forecaster_round_trips_bit_identically(cell, series, tmp_path):
    forecaster = Forecaster(**{**FAST, "cell": cell, "num_layers": 2}, seed=0).fit(series)
    path = tmp_path / "model.npz"
    forecaster.save(path)
    loaded = rnnkit.load(path)
    assert loaded.get_params() == forecaster.get_params()
    assert loaded.evaluate(as_frame=False) == forecaster.evaluate(as_frame=False)
    np.testing.assert_array_equal(loaded.predict(series), forecaster.predict(series))
    for got, want in zip(loaded.state_after(series), forecaster.state_after(series), strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


def crafted(forecaster, change):
    meta, arrays = forecaster.to_state()
    arrays = dict(arrays)
    change(meta, arrays)
    return meta, arrays


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda m, a: a.update({"state/l0/c": np.full((1, 5), np.nan, np.float32)}),
         "state array 'l0/c' has NaN or inf values"),
        (lambda m, a: a.update({"state/l0/h": np.zeros((2, 5), np.float32)}),
         r"state array 'l0/h' must have shape \(1, 5\), got \(2, 5\)"),
        (lambda m, a: a.pop("state/l0/c"), "the state arrays do not fit this LSTM model"),
        (lambda m, a: m["params"].update(stateful=False), "a windowed model's file holds state"),
        (lambda m, a: m["params"].update(stateful="yes"), "stateful must be True or False"),
    ],
)  # fmt: skip
def test_a_crafted_carried_state_is_refused_on_load(fitted, change, words):
    with pytest.raises((ValueError, TypeError), match=words):
        Forecaster.from_state(*crafted(fitted, change))


def test_backtest_fits_stateful_folds(series):
    table = Forecaster(**FAST, seed=0).backtest(series, folds=2)
    assert sorted(set(table["fold"])) == [0, 1]
    assert np.isfinite(table["rmse"]).all()


def test_what_a_stateful_forecaster_cannot_do_is_refused(fitted, series):
    with pytest.raises(ValueError, match="gates shows the window behind a windowed forecast"):
        fitted.gates(series)
    windowed = Forecaster(**{**FAST, "stateful": False, "tbptt": None, "epochs": 1}).fit(series)
    with pytest.raises(ValueError, match="state_after needs a stateful Forecaster"):
        windowed.state_after(series)


# ---------------------------------------------------------------------------- learning

# Flips every 20 steps seen through a lookback of 8, chunks of 20 steps: no chunk holds a
# flip and the next one, so without the state carried across chunks nothing tells the
# network when a flip comes, in training as in a window.
LONG = {"cell": "lstm", "lookback": 8, "transform": "none", "hidden_size": 32, "lr": 0.01,
        "verbose": 0, "seed": 0}  # fmt: skip
STATEFUL = {"stateful": True, "tbptt": 20, "batch_size": 2, "epochs": 600, "patience": 150}


def stateful_test_rmse():
    return Forecaster(**LONG, **STATEFUL).fit(flips(2000, 40)).evaluate().loc["LSTM", "rmse"]


def test_a_stateful_lstm_learns_a_dependency_longer_than_its_lookback(one_thread):
    series = flips(2000, 40)
    windowed = Forecaster(**LONG, epochs=100, patience=10).fit(series).evaluate()
    # a window sees a flat level: it cannot beat the naive forecast by much
    assert windowed.loc["LSTM", "rmse"] > 0.9 * windowed.loc["Naive", "rmse"]
    # the stateful network counts the steps since the last flip: near the noise's 0.1
    # (0.108 here, against the windowed one's 0.44)
    assert stateful_test_rmse() < 0.4 * windowed.loc["LSTM", "rmse"]


def test_the_learning_test_fails_without_the_carried_state(one_thread, monkeypatch):
    """The same test with every training chunk started from zeros: no better than a window."""
    forward = SequenceRegressor.forward_sequence
    monkeypatch.setattr(
        SequenceRegressor,
        "forward_sequence",
        lambda self, X, state=None, training=False: forward(self, X, None, training),
    )
    naive = Forecaster(**LONG, epochs=1).fit(flips(2000, 40)).evaluate().loc["Naive", "rmse"]
    assert stateful_test_rmse() > 0.9 * naive
