"""core.Inference, a trained network compiled for a batch of one: against its NumPy twin
(reference.Inference) and SequenceRegressor.predict for every cell, variant, dtype and SIMD
path; step against window; its carried state; a snapshot of the weights; bad arguments."""

import threading

import numpy as np
import pytest
from _problems import CELLS, LSTM_VARIANT_CELLS, assert_close, lstm_variant

from rnnkit import core, reference
from rnnkit.models import SequenceRegressor

# the house's bounds: float64 to the reference's rounding, float32 to its rational tanh's
TOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def regressor(cell, dtype, num_layers=1, input_size=3, hidden_size=37, output_size=2, seed=0):
    """A SequenceRegressor of a cell of _problems' CELLS (rnn_tanh, lstm_cifg, ...)."""
    variant = lstm_variant(cell)
    return SequenceRegressor(
        "lstm" if variant else cell.split("_")[0],
        input_size=input_size,
        hidden_size=hidden_size,
        output_size=output_size,
        num_layers=num_layers,
        nonlinearity="relu" if cell == "rnn_relu" else "tanh",
        variant=variant or "vanilla",
        forget_bias=1.0,
        dtype=dtype,
        seed=seed,
    )


def twins(model):
    """The model's compiled snapshot and its NumPy twin, from the same arrays."""
    weights = [model.recurrent._weights(k) for k in range(model.num_layers)]
    head = model.params["head.weight"], model.params["head.bias"]
    args = {"variant": model.variant, "nonlinearity": model.nonlinearity}
    return model.inference(), reference.Inference(model.cell, weights, *head, **args)


def windows(model, n=4, T=11, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, T, model.input_size)).astype(model.dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS + LSTM_VARIANT_CELLS)
def test_a_window_equals_the_reference_and_predict(simd_path, cell, num_layers, dtype):
    model = regressor(cell, dtype, num_layers)
    compiled, twin = twins(model)
    X = windows(model)
    got = np.array([compiled.window(x) for x in X])
    assert got.dtype == model.dtype
    assert got.shape == (len(X), model.output_size)
    assert_close(got, np.array([twin.window(x) for x in X]), dtype, "vs reference", TOL[dtype])
    assert_close(got, model.predict(X), dtype, "vs predict", TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", CELLS + LSTM_VARIANT_CELLS)
def test_steps_from_a_zero_state_end_where_the_window_does(simd_path, cell, dtype):
    model = regressor(cell, dtype, num_layers=2)
    compiled, twin = twins(model)
    x = windows(model, n=1)[0]
    for step in range(len(x)):
        out, twin_out = compiled.step(x[step]), twin.step(x[step])
        assert_close(out, twin_out, dtype, f"step {step}", TOL[dtype])
    # the products of a zero state add exact zeros: the same numbers, not only close ones
    np.testing.assert_array_equal(out, compiled.window(x))
    for got, want in zip(compiled.get_state(), twin.get_state(), strict=True):
        assert_close(got, want, dtype, "state", TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ["rnn_tanh", "gru", "lstm"])
def test_wide_and_narrow_layers_cross_every_block_of_the_product(cell, dtype):
    # G*H from 4 to 1,200 columns: one vector, a block of several, blocks of nearly equal size
    for hidden_size, output_size in [(1, 1), (50, 1), (97, 3), (300, 20)]:
        model = regressor(cell, dtype, 2, 5, hidden_size, output_size, seed=hidden_size)
        compiled, twin = twins(model)
        x = windows(model, n=1, T=6)[0]
        assert_close(compiled.window(x), twin.window(x), dtype, f"H={hidden_size}", TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_width_of_a_block_of_sums_on_every_path(simd_path, dtype):
    # An RNN's product has H columns: H = 1 .. 260 gives every count of vectors a block
    # of sums holds on every path (1 to 16 of 2 to 16 lanes), and blocks side by side.
    # GCC 12 once miscompiled one width alone (matvec_impl.hpp).
    rng = np.random.default_rng(5)
    for hidden_size in range(1, 261):
        model = regressor("rnn_tanh", dtype, 1, 2, hidden_size, 1, seed=hidden_size)
        x = rng.standard_normal((2, 2)).astype(dtype)
        got, want = model.inference().window(x), model.predict(x[None])[0]
        assert_close(got, want, dtype, f"H={hidden_size}", TOL[dtype])


@pytest.mark.parametrize("cell", ["rnn_relu", "gru", "lstm"])
def test_the_carried_state_round_trips_and_a_window_leaves_it_alone(cell):
    model = regressor(cell, np.float64, num_layers=2)
    compiled, _ = twins(model)
    X = windows(model, n=2)
    for row in X[0]:
        compiled.step(row)
    state = compiled.get_state()
    assert len(state) == (2 if cell == "lstm" else 1)
    assert all(s.shape == (2, model.hidden_size) and s.dtype == np.float64 for s in state)
    compiled.window(X[1])  # runs on its own scratch state
    np.testing.assert_array_equal(compiled.get_state()[0], state[0])
    ahead = compiled.step(X[1][0])
    other = model.inference()
    other.set_state(*state)
    np.testing.assert_array_equal(other.step(X[1][0]), ahead)
    other.reset()
    assert not np.any(other.get_state()[0])
    np.testing.assert_array_equal(other.step(X[0][0]), model.inference().step(X[0][0]))


def test_an_lstm_state_without_c_has_zero_cells():
    model = regressor("lstm", np.float32)
    compiled, _ = twins(model)
    h = np.full((1, model.hidden_size), 0.3, np.float32)
    compiled.set_state(h)
    np.testing.assert_array_equal(compiled.get_state()[0], h)
    assert not np.any(compiled.get_state()[1])


def test_it_holds_a_snapshot_of_the_weights():
    model = regressor("lstm", np.float64)
    compiled = model.inference()
    x = windows(model, n=1)[0]
    before = compiled.window(x)
    for p in model.params.values():
        p *= 0.5  # as an optimizer's step does, in place
    np.testing.assert_array_equal(compiled.window(x), before)
    assert_close(model.inference().window(x), model.predict(x[None])[0], np.float64, "new")
    assert not np.allclose(model.inference().window(x), before)


def test_its_attributes_describe_the_model():
    model = regressor("lstm_nig", np.float32, num_layers=2)
    compiled = model.inference()
    assert (compiled.cell, compiled.variant, compiled.nonlinearity) == ("lstm", "nig", "tanh")
    assert compiled.dtype == np.float32
    assert (compiled.input_size, compiled.hidden_size) == (3, 37)
    assert (compiled.num_layers, compiled.output_size) == (2, 2)


@pytest.mark.parametrize("cell", CELLS + LSTM_VARIANT_CELLS)
def test_nan_or_inf_in_gives_what_the_batched_layers_give(cell):
    # NaN in, NaN out; but relu maps a NaN to 0 in every kernel, so that an inf, which
    # makes inf - inf inside, passes on without a NaN (tests/test_hardening.py)
    model = regressor(cell, np.float32, num_layers=2)
    x = windows(model, n=1)[0]
    for value in (np.nan, np.inf, -np.inf):
        x[4, 1] = value
        got, want = model.inference().window(x), model.predict(x[None])[0]
        np.testing.assert_allclose(got, want, rtol=TOL[np.float32], atol=TOL[np.float32])
        if np.isnan(value) and cell != "rnn_relu":
            assert np.all(np.isnan(got))


def test_a_non_contiguous_window_is_read_as_its_values():
    model = regressor("gru", np.float64)
    compiled = model.inference()
    wide = windows(model, n=1, T=22)[0]
    np.testing.assert_array_equal(compiled.window(wide[::2]), compiled.window(wide[::2].copy()))
    np.testing.assert_array_equal(
        compiled.step(wide[0, ::-1]), model.inference().step(wide[0, ::-1].copy())
    )


def test_threads_on_one_object_take_turns():
    model = regressor("lstm", np.float32, hidden_size=200)  # windows that release the GIL
    compiled = model.inference()
    X = windows(model, n=8, T=30)
    want = np.array([compiled.window(x) for x in X])
    got = {}

    def run(k):
        got[k] = np.array([compiled.window(x) for x in X for _ in range(20)])[::20]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        np.testing.assert_array_equal(got[k], want)


# ---------------------------------------------------------------- bad arguments


def arrays(cell="lstm", H=4, I=3, O=2, layers=1, dtype=np.float32):
    G = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    rng = np.random.default_rng(0)
    weights = [
        tuple(
            rng.standard_normal(shape).astype(dtype)
            for shape in [(G * H, I if k == 0 else H), (G * H, H), (G * H,), (G * H,)]
        )
        for k in range(layers)
    ]
    return weights, rng.standard_normal((O, H)).astype(dtype), np.zeros(O, dtype)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"cell": "lsmt"}, ValueError, r"^Inference: cell must be 'rnn', 'gru' or 'lstm', got 'lsmt'$"),
        ({"cell": 4}, TypeError, r"^Inference: cell must be a str .*, got int$"),
        ({"variant": "peephole"}, ValueError, r"^Inference: variant must be one of vanilla, .*, got 'peephole'$"),
        ({"nonlinearity": "gelu"}, ValueError, r"^Inference: nonlinearity must be 'tanh' or 'relu', got 'gelu'$"),
        ({"weights": "w"}, TypeError, r"^Inference: weights must be a list of \(w_ih, w_hh, b_ih, b_hh\), one per layer, got str$"),
        ({"weights": []}, ValueError, r"^Inference: weights must hold at least one layer"),
        ({"weights": [(1, 2, 3)]}, TypeError, r"^Inference: weights\[0\] must be a tuple \(w_ih, w_hh, b_ih, b_hh\), got a tuple of 3$"),
        ({"head_bias": np.zeros(3, np.float32)}, ValueError, r"^Inference: head_bias must have shape \(O,\) = \(2,\), got \(3,\)$"),
        ({"head_weight": np.zeros((2, 5), np.float32)}, ValueError, r"^Inference: head_weight must have shape \(O, H\) = \(2, 4\), got \(2, 5\)$"),
        ({"head_weight": [[1.0]]}, TypeError, r"^Inference: head_weight must be a numpy.ndarray, got list$"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(change, error, message):
    weights, head_weight, head_bias = arrays()
    args = {"cell": "lstm", "weights": weights, "head_weight": head_weight, "head_bias": head_bias}
    with pytest.raises(error, match=message):
        core.Inference(**{**args, **change})


def test_a_variant_of_another_cell_is_refused():
    weights, head_weight, head_bias = arrays("gru")
    with pytest.raises(ValueError, match=r"variant='cifg' is a variant of the LSTM; cell='gru'"):
        core.Inference("gru", weights, head_weight, head_bias, variant="CIFG")
    with pytest.raises(ValueError, match=r"variant='cifg' is a variant of the LSTM; cell='gru'"):
        reference.Inference("gru", weights, head_weight, head_bias, variant="cifg")


def test_weights_of_mixed_dtypes_or_shapes_are_refused():
    weights, head_weight, head_bias = arrays(layers=2)
    mixed = [weights[0], (*weights[1][:2], weights[1][2].astype(np.float64), weights[1][3])]
    with pytest.raises(
        TypeError,
        match=r"^Inference: weights\[1\]\[2\] \(b_ih\) has dtype float64 but weights\[0\]\[0\] "
        r"has float32: all arrays must share one float dtype$",
    ):
        core.Inference("lstm", mixed, head_weight, head_bias)
    with pytest.raises(TypeError, match=r"^Inference: head_bias has dtype float64 but"):
        core.Inference("lstm", weights, head_weight, head_bias.astype(np.float64))
    with pytest.raises(TypeError, match=r"must have dtype float32 or float64, got int64"):
        core.Inference("lstm", [(np.ones((16, 3), int), *weights[0][1:])], head_weight, head_bias)
    wrong = [weights[0], (weights[1][0][:, :3], *weights[1][1:])]  # layer 1 reads H = 4
    with pytest.raises(
        ValueError,
        match=r"^Inference: weights\[1\]\[0\] \(w_ih\) must have shape \(4\*H, H\) = \(16, 4\), "
        r"got \(16, 3\)$",
    ):
        core.Inference("lstm", wrong, head_weight, head_bias)
    with pytest.raises(ValueError, match=r"weights\[0\]\[1\] \(w_hh\) must have shape \(3\*H, H\)"):
        core.Inference("gru", weights, head_weight, head_bias)  # an LSTM's 4H rows
    with pytest.raises(
        ValueError, match=r"weights\[0\]\[0\] \(w_ih\) must be a 2-D array \(4\*H, I\)"
    ):
        core.Inference("lstm", [(weights[0][0][:, 0], *weights[0][1:])], head_weight, head_bias)


def test_bad_windows_rows_and_states_are_named():
    weights, head_weight, head_bias = arrays(layers=2)
    compiled = core.Inference("lstm", weights, head_weight, head_bias)
    with pytest.raises(
        TypeError, match=r"^Inference.window: x must have the weights' dtype float32, got float64$"
    ):
        compiled.window(np.zeros((5, 3)))
    with pytest.raises(
        ValueError,
        match=r"^Inference.window: x must be a 2-D array of shape \(T, I\) with T >= 1 and I = 3, "
        r"got a 2-D array of shape \(5, 2\)$",
    ):
        compiled.window(np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match=r"got a 2-D array of shape \(0, 3\)$"):
        compiled.window(np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match=r"got a 3-D array of shape \(1, 5, 3\)$"):
        compiled.window(np.zeros((1, 5, 3), np.float32))
    with pytest.raises(TypeError, match=r"^Inference.window: x must be a numpy.ndarray, got list$"):
        compiled.window([[0.0, 0.0, 0.0]])
    with pytest.raises(
        ValueError,
        match=r"^Inference.step: row must be a 1-D array of shape \(I,\) with I = 3, got a 2-D",
    ):
        compiled.step(np.zeros((1, 3), np.float32))
    with pytest.raises(
        ValueError, match=r"^Inference.set_state: h must have shape \(num_layers, H\) = \(2, 4\)"
    ):
        compiled.set_state(np.zeros((1, 4), np.float32))
    with pytest.raises(TypeError, match=r"^Inference.set_state: c must have the weights' dtype"):
        compiled.set_state(np.zeros((2, 4), np.float32), np.zeros((2, 4)))
    gru = core.Inference("gru", *arrays("gru"))
    with pytest.raises(ValueError, match=r"^Inference.set_state: c must be None: the gru has no"):
        gru.set_state(np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32))
    compiled.step(np.ones(3, np.float32))
    state = compiled.get_state()
    with pytest.raises(ValueError, match=r"h must have shape"):
        compiled.set_state(np.zeros((2, 5), np.float32))
    for kept, before in zip(compiled.get_state(), state, strict=True):  # a refused state: no change
        np.testing.assert_array_equal(kept, before)
