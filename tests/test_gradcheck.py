"""Central finite-difference checks of every gradient that backward returns (float64)."""

import numpy as np
import pytest
from _problems import (
    CELLS,
    IMPLEMENTATIONS,
    assert_close,
    backward,
    forward,
    loss,
    make_output_grads,
    make_problem,
    numerical_gradient,
    rnn_preactivations,
)

SHAPES = [(4, 3, 2, 3), (1, 2, 3, 2)]  # (T, B, I, H)
EPS = 1e-6
RTOL_FD = 1e-6
RELU_MARGIN = 1e-3  # keep every relu pre-activation this far from the kink

impls = pytest.mark.parametrize(
    "impl", [m for _, m in IMPLEMENTATIONS], ids=[n for n, _ in IMPLEMENTATIONS]
)


def _problem(impl, cell, shape, with_state, seed=0):
    """A float64 problem; for relu re-drawn until no pre-activation is near the kink."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        p = make_problem(rng, cell, *shape, with_state=with_state)
        if cell != "rnn_relu":
            return p
        y = forward(impl, cell, p)["y"]
        if np.min(np.abs(rnn_preactivations(p, y))) > RELU_MARGIN:
            return p
    raise AssertionError("no relu problem away from the kink in 100 draws")


@impls
@pytest.mark.parametrize("with_dy", [True, False], ids=["dy", "no_dy"])
@pytest.mark.parametrize("with_state", [True, False], ids=["state", "no_state"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("cell", CELLS)
def test_gradients_match_finite_differences(impl, cell, shape, with_state, with_dy):
    T, B, _, H = shape
    p = _problem(impl, cell, shape, with_state)
    grads = make_output_grads(np.random.default_rng(1), cell, T, B, H, with_dy=with_dy)
    analytic = backward(impl, cell, p, forward(impl, cell, p), grads)

    # a None initial state is zeros: differentiate there
    probe = {k: np.zeros((B, H)) if v is None else v.copy() for k, v in p.items()}
    assert set(analytic) == set(probe)
    for name, a in probe.items():
        numeric = numerical_gradient(lambda: loss(forward(impl, cell, probe), grads), a, EPS)
        assert analytic[name].dtype == np.float64, name
        assert_close(analytic[name], numeric, np.float64, name=f"d{name}", rtol=RTOL_FD)


@impls
@pytest.mark.parametrize("cell", CELLS)
def test_none_means_zeros(impl, cell):
    """h0, c0, dy, dh_n, dc_n given as None give the results of zero arrays."""
    T, B, I, H = 3, 2, 2, 3
    rng = np.random.default_rng(2)
    p = make_problem(rng, cell, T, B, I, H, with_state=False)
    grads = {k: None for k in make_output_grads(rng, cell, T, B, H)}
    p0 = {k: np.zeros((B, H)) if v is None else v for k, v in p.items()}
    g0 = {k: np.zeros_like(v) for k, v in make_output_grads(rng, cell, T, B, H).items()}
    out, out0 = forward(impl, cell, p), forward(impl, cell, p0)
    for name in out:
        assert_close(out[name], out0[name], np.float64, name=name)
    back, back0 = backward(impl, cell, p, out, grads), backward(impl, cell, p0, out0, g0)
    for name in back:
        assert back[name].shape == back0[name].shape, f"d{name}"
        np.testing.assert_array_equal(back[name], 0.0, err_msg=f"d{name}")


@impls
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cell", CELLS)
def test_outputs_keep_dtype_and_do_not_alias(impl, cell, dtype):
    T, B, I, H = 3, 2, 2, 3
    rng = np.random.default_rng(3)
    p = make_problem(rng, cell, T, B, I, H, dtype)
    out = forward(impl, cell, p)
    back = backward(impl, cell, p, out, make_output_grads(rng, cell, T, B, H, dtype))
    for name, arr in [*out.items(), *(("d" + k, v) for k, v in back.items())]:
        assert arr.dtype == dtype, name
    for a, b in [("y", "h_n"), ("cells", "c_n")]:
        if b in out:
            assert not np.shares_memory(out[a], out[b]), f"{b} aliases {a}"
    assert not np.shares_memory(back["b_ih"], back["b_hh"]), "db_hh aliases db_ih"


@impls
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_saturated_lstm_stays_finite(impl, dtype):
    """Pre-activations of +-1e4 saturate the gates without overflow (warnings are errors)."""
    T, B, I, H = 3, 2, 2, 3
    rng = np.random.default_rng(5)
    p = make_problem(rng, "lstm", T, B, I, H, dtype)
    p["x"] *= 1e4
    out = forward(impl, "lstm", p)
    back = backward(impl, "lstm", p, out, make_output_grads(rng, "lstm", T, B, H, dtype))
    assert np.all((out["gates"] >= -1) & (out["gates"] <= 1))
    for name, arr in [*out.items(), *back.items()]:
        assert np.all(np.isfinite(arr)), name


@impls
@pytest.mark.parametrize(
    ("bad", "error"), [("sigmoid", ValueError), ("Tanh", ValueError), (None, TypeError)]
)
def test_unknown_nonlinearity_is_rejected(impl, bad, error):
    p = make_problem(np.random.default_rng(4), "rnn_tanh", 2, 1, 1, 2)
    with pytest.raises(error, match="nonlinearity"):
        impl.rnn_forward(**p, nonlinearity=bad)
    y = np.zeros((2, 1, 2))
    with pytest.raises(error, match="nonlinearity"):
        impl.rnn_backward(p["x"], p["h0"], p["w_ih"], p["w_hh"], y, None, None, bad)
