"""Cross-check forward and backward against torch.nn.RNN, LSTM and GRU (optional)."""

import numpy as np
import pytest
from _problems import (
    CELLS,
    IMPLEMENTATIONS,
    assert_close,
    backward,
    forward,
    make_output_grads,
    make_problem,
)

torch = pytest.importorskip("torch")

SHAPES = [(1, 1, 1, 1), (5, 3, 4, 6), (3, 2, 5, 2)]  # (T, B, I, H)
STATES = {"rnn_tanh": ("h0",), "rnn_relu": ("h0",), "lstm": ("h0", "c0"), "gru": ("h0",)}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_run(cell, problem, grads):
    """Forward and autograd backward in torch; (outputs, gradients) as dicts of NumPy arrays."""
    p = problem
    x = p["x"]
    _, B, I = x.shape
    H = p["w_hh"].shape[1]
    dtype = torch.float64 if x.dtype == np.float64 else torch.float32
    if cell == "lstm":
        layer = torch.nn.LSTM(I, H, dtype=dtype)
    elif cell == "gru":
        layer = torch.nn.GRU(I, H, dtype=dtype)
    else:
        layer = torch.nn.RNN(I, H, nonlinearity=cell.removeprefix("rnn_"), dtype=dtype)
    weights = {
        "w_ih": layer.weight_ih_l0,
        "w_hh": layer.weight_hh_l0,
        "b_ih": layer.bias_ih_l0,
        "b_hh": layer.bias_hh_l0,
    }
    with torch.no_grad():
        for name, w in weights.items():
            w.copy_(torch.from_numpy(p[name]))

    # a None state is zeros; torch's states have a leading layer axis: (1, B, H)
    leaves = {"x": torch.tensor(x, requires_grad=True)}
    for s in STATES[cell]:
        s0 = np.zeros((B, H), x.dtype) if p[s] is None else p[s]
        leaves[s] = torch.tensor(s0[None], requires_grad=True)
    if cell == "lstm":
        y, (h_n, c_n) = layer(leaves["x"], (leaves["h0"], leaves["c0"]))
        out = {"y": y, "h_n": h_n[0], "c_n": c_n[0]}
    else:
        y, h_n = layer(leaves["x"], leaves["h0"])
        out = {"y": y, "h_n": h_n[0]}

    # L = sum(dy * y) + sum(dh_n * h_n) (+ sum(dc_n * c_n)), as in _problems.loss
    terms = [(grads["d" + k], v) for k, v in out.items()]
    L = sum((torch.from_numpy(g) * v).sum() for g, v in terms if g is not None)
    wrt = {**leaves, **weights}
    dL = torch.autograd.grad(L, list(wrt.values()))
    return (
        {k: v.detach().numpy() for k, v in out.items()},
        {k: (g[0] if k in STATES[cell] else g).numpy() for k, g in zip(wrt, dL, strict=True)},
    )


@pytest.mark.parametrize(
    "impl", [m for _, m in IMPLEMENTATIONS], ids=[n for n, _ in IMPLEMENTATIONS]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("optional", ["given", "none"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("cell", CELLS)
def test_matches_torch(impl, cell, shape, optional, dtype):
    """Outputs and all gradients equal torch's; optional="none": h0, c0 and dy are None."""
    T, B, _, H = shape
    rng = np.random.default_rng(list(shape))
    given = optional == "given"
    p = make_problem(rng, cell, *shape, dtype, with_state=given)
    grads = make_output_grads(rng, cell, T, B, H, dtype, with_dy=given)
    want_out, want_grad = torch_run(cell, p, grads)

    out = forward(impl, cell, p)
    for name, want in want_out.items():
        assert_close(out[name], want, dtype, name=name)
    got_grad = backward(impl, cell, p, out, grads)
    assert set(got_grad) == set(want_grad)
    for name, want in want_grad.items():
        assert got_grad[name].dtype == dtype, f"d{name}"
        assert_close(got_grad[name], want, dtype, name=f"d{name}")
