"""Greff et al.'s LSTM variants in the core: each against its NumPy twin, finite differences
in float64, zero gradients for the gate a variant does not use, and bad names. (Every SIMD
path and the bitwise agreement of thread counts: test_simd.py and test_threads.py, with
_problems.LSTM_VARIANT_CELLS.)

Each variant is one change to the vanilla cell ("LSTM: A Search Space Odyssey", 2017):
NIG i = 1, NFG f = 1, NOG o = 1, NIAF g without its tanh, NOAF h = o * c, CIFG f = 1 - i.
"""

import numpy as np
import pytest
from _problems import (
    IMPLEMENTATIONS,
    LSTM_VARIANT_CELLS,
    assert_close,
    backward,
    check_against_reference,
    forward,
    loss,
    make_output_grads,
    make_problem,
    numerical_gradient,
)

from rnnkit import core, reference

variant_cells = pytest.mark.parametrize("cell", LSTM_VARIANT_CELLS)
# the gate rows (PyTorch's order i, f, g, o) a variant leaves without effect
UNUSED = {"lstm_nig": 0, "lstm_nfg": 1, "lstm_nog": 3, "lstm_cifg": 1}


@variant_cells
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("with_state", [True, False], ids=["state", "no_state"])
def test_core_matches_the_reference(cell, dtype, with_state):
    check_against_reference(cell, 5, 3, 4, 6, dtype, with_state, with_dy=True, seed=7)


@pytest.mark.parametrize(
    "impl", [m for _, m in IMPLEMENTATIONS], ids=[n for n, _ in IMPLEMENTATIONS]
)
@variant_cells
def test_gradients_match_finite_differences(impl, cell):
    T, B, I, H = 4, 3, 2, 3
    rng = np.random.default_rng(0)
    p = make_problem(rng, cell, T, B, I, H)
    grads = make_output_grads(rng, cell, T, B, H)
    analytic = backward(impl, cell, p, forward(impl, cell, p), grads)
    for name, a in p.items():
        numeric = numerical_gradient(lambda: loss(forward(impl, cell, p), grads), a)
        assert_close(analytic[name], numeric, np.float64, name=f"d{name}", rtol=1e-6)


@pytest.mark.parametrize("cell", list(UNUSED))
def test_the_rows_of_an_unused_gate_have_zero_gradients_and_no_effect(cell):
    T, B, I, H = 4, 3, 2, 5
    rng = np.random.default_rng(1)
    p = make_problem(rng, cell, T, B, I, H)
    out = forward(core, cell, p)
    back = backward(core, cell, p, out, make_output_grads(rng, cell, T, B, H))
    rows = slice(UNUSED[cell] * H, (UNUSED[cell] + 1) * H)
    for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
        assert np.all(back[name][rows] == 0.0), f"d{name}"
        assert np.any(back[name] != 0.0), f"d{name}"
    # and changing those rows changes nothing
    moved = {k: v.copy() if v is not None else None for k, v in p.items()}
    for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
        moved[name][rows] += 3.0
    np.testing.assert_array_equal(forward(core, cell, moved)["y"], out["y"])


def test_each_variant_changes_the_cell_as_documented():
    T, B, I, H = 3, 2, 2, 4
    p = make_problem(np.random.default_rng(2), "lstm", T, B, I, H)
    gates = {v: core.lstm_forward(**p, variant=v)[3] for v in reference.LSTM_VARIANTS}
    i, f, g, o = (slice(k * H, (k + 1) * H) for k in range(4))
    assert np.all(gates["nig"][..., i] == 1.0)
    assert np.all(gates["nfg"][..., f] == 1.0)
    assert np.all(gates["nog"][..., o] == 1.0)
    np.testing.assert_array_equal(gates["cifg"][..., f], 1.0 - gates["cifg"][..., i])
    assert np.abs(gates["niaf"][..., g]).max() > 1.0  # no tanh: beyond (-1, 1)
    y, _, _, _, cells = core.lstm_forward(**p, variant="noaf")
    assert_close(y, gates["noaf"][..., o] * cells, np.float64, name="h = o * c")
    # the default is the vanilla cell, bit for bit
    for a, b in zip(core.lstm_forward(**p), core.lstm_forward(**p, variant="vanilla"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_names_are_taken_in_any_case_and_a_wrong_one_lists_the_valid():
    p = make_problem(np.random.default_rng(5), "lstm", 2, 1, 1, 2)
    np.testing.assert_array_equal(
        core.lstm_forward(**p, variant="CIFG")[0], core.lstm_forward(**p, variant="cifg")[0]
    )
    valid = "vanilla, nig, nfg, nog, niaf, noaf, cifg"
    for impl in (core, reference):
        with pytest.raises(ValueError, match=f"variant must be one of {valid}.*got 'peephole'"):
            impl.lstm_forward(**p, variant="peephole")
        with pytest.raises(TypeError, match="variant must be a str"):
            impl.lstm_forward(**p, variant=1)
    out = core.lstm_forward(**p)
    with pytest.raises(ValueError, match=r"^lstm_backward: variant must be one of"):
        core.lstm_backward(
            p["x"], None, None, p["w_ih"], p["w_hh"], out[0], out[3], out[4], None, None, None,
            variant="NOPE",
        )  # fmt: skip
