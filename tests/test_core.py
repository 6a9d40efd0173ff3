"""rnnkit.core against the NumPy reference: shapes, dtypes, layouts, aliasing.

float64 core is compared with float64 reference (rtol 1e-10); float32 core
with the float64 reference run on the same float32-rounded inputs (rtol 1e-4),
so the float32 tolerance measures the core's own rounding, nothing else.
"""

import numpy as np
import pytest
from _problems import (
    CELLS,
    LSTM_VARIANT_CELLS,
    assert_close,
    backward,
    check_against_reference,
    forward,
    make_output_grads,
    make_problem,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit import core, reference


@settings(max_examples=80, deadline=None)
@given(
    cell=st.sampled_from(CELLS),
    T=st.integers(1, 12),
    B=st.integers(1, 9),
    I=st.integers(1, 6),
    H=st.integers(1, 20),
    dtype=st.sampled_from([np.float32, np.float64]),
    with_state=st.booleans(),
    with_dy=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_reference_on_random_shapes(cell, T, B, I, H, dtype, with_state, with_dy, seed):
    check_against_reference(cell, T, B, I, H, dtype, with_state, with_dy, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(
    ("T", "B", "I", "H"),
    [
        (1, 1, 1, 1),
        (200, 2, 3, 8),  # long sequence: errors must not grow along time
        # Rows so few that the fused step runs its tiles two at a time (one row; two for
        # the GRU's three gates); 70 units are an odd number of tiles of 8 or 16 lanes.
        (5, 1, 2, 70),
        (5, 2, 2, 70),
        # The backward takes the gradients of dg a chunk of steps at a time (sequence.hpp's
        # chunk_steps): here 4 to 32 steps by cell and dtype, two to eleven chunks, and for
        # the LSTM and the GRU a last chunk of one step, with the h0 term.
        (41, 64, 2, 64),
        # More rows, columns and depth than one cache block of the matrix
        # product (128 x 1024 x 256), so every edge of its blocking is crossed.
        (3, 130, 5, 300),
    ],
)
def test_matches_reference_on_edge_shapes(simd_path, cell, T, B, I, H, dtype):
    check_against_reference(cell, T, B, I, H, dtype, with_state=True, with_dy=True, seed=1)


# What each keep level returns of a forward's results (the rest is None).
KEPT = {
    "all": {"y", "h_n", "c_n", "gates", "cells"},
    "outputs": {"y", "h_n", "c_n"},
    "state": {"h_n", "c_n"},
}


@pytest.mark.parametrize("keep", ["outputs", "state"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS + LSTM_VARIANT_CELLS)
@pytest.mark.parametrize(
    ("T", "B", "I", "H"), [(1, 1, 1, 1), (7, 13, 3, 37), (4, 70, 2, 130), (18, 5, 33, 20)]
)
def test_inference_keeps_less_and_computes_the_same_to_the_last_bit(
    simd_path, cell, T, B, I, H, dtype, keep
):
    # The forward-only path takes turns between two steps' states instead of writing every
    # step's: its results are those of the training forward exactly, on every path.
    rng = np.random.default_rng(3)
    problem = make_problem(rng, cell, T, B, I, H, dtype)
    full = forward(core, cell, problem)
    kept = forward(core, cell, problem, keep=keep)
    ref = forward(reference, cell, problem, keep=keep)
    for name, value in kept.items():
        if name in KEPT[keep]:
            np.testing.assert_array_equal(value, full[name], err_msg=name)
            assert_close(value, ref[name], dtype, name)
        else:
            assert value is None, name
            assert ref[name] is None, name


@pytest.mark.parametrize("impl", [core, reference])
@pytest.mark.parametrize(
    ("keep", "error", "message"),
    [
        ("gates", ValueError, "keep must be .*'all'.*'outputs'.*'state'.*got 'gates'"),
        (None, TypeError, "keep must be a str"),
    ],
)
def test_an_unknown_keep_is_refused_by_name(impl, keep, error, message):
    problem = make_problem(np.random.default_rng(0), "lstm", 2, 3, 1, 4, np.float32)
    with pytest.raises(error, match=message):
        impl.lstm_forward(**problem, keep=keep)


def strided_copies(problem):
    """Same values as problem, none of them C-contiguous: transposed, reversed, broadcast."""

    def reversed_rows(a):
        return np.ascontiguousarray(a[::-1])[::-1]

    def fortran(a):
        return np.asfortranarray(a)

    out = {}
    for name, a in problem.items():
        if a is None:
            out[name] = None
        elif name == "x":
            # a batch-first array seen time-major, the usual way to get here
            out[name] = np.ascontiguousarray(a.transpose(1, 0, 2)).transpose(1, 0, 2)
        elif a.ndim == 2:
            out[name] = fortran(a) if a.shape[0] != a.shape[1] else reversed_rows(a)
        else:
            out[name] = np.repeat(a, 2)[::2]
        assert out[name] is None or not out[name].flags.c_contiguous, name
    return out


@pytest.mark.parametrize("cell", CELLS)
def test_non_contiguous_inputs_are_copied_not_modified(cell):
    rng = np.random.default_rng(2)
    problem = make_problem(rng, cell, 6, 4, 3, 5)
    strided = strided_copies(problem)
    before = {k: None if v is None else v.copy() for k, v in strided.items()}

    want = forward(core, cell, problem)
    got = forward(core, cell, strided)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)

    grads = make_output_grads(rng, cell, 6, 4, 5)
    want_grads = backward(core, cell, problem, want, grads)
    got_grads = backward(core, cell, strided, got, grads)
    for name in want_grads:
        np.testing.assert_array_equal(got_grads[name], want_grads[name], err_msg=f"d{name}")
    for name, a in strided.items():
        if a is not None:
            np.testing.assert_array_equal(a, before[name], err_msg=f"{name} was modified")


def test_broadcast_initial_state_is_accepted():
    rng = np.random.default_rng(3)
    problem = make_problem(rng, "lstm", 4, 3, 2, 5)
    problem["h0"] = np.broadcast_to(problem["h0"][0], problem["h0"].shape)
    problem["c0"] = np.broadcast_to(problem["c0"][0], problem["c0"].shape)
    got = forward(core, "lstm", problem)
    want = forward(core, "lstm", {k: np.array(v) for k, v in problem.items()})
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_read_only_inputs_work_and_outputs_are_fresh(cell):
    rng = np.random.default_rng(4)
    problem = make_problem(rng, cell, 5, 2, 3, 4)
    for a in problem.values():
        a.flags.writeable = False
    out = forward(core, cell, problem)
    grads = make_output_grads(rng, cell, 5, 2, 4)
    result = {**out, **backward(core, cell, problem, out, grads)}
    for name, a in result.items():
        assert a.flags.c_contiguous, name
        assert a.flags.writeable, name
        assert a.flags.owndata, name
    # the final states are copies, not views of the sequences they end
    assert not np.shares_memory(out["h_n"], out["y"])
    if cell == "lstm":
        assert not np.shares_memory(out["c_n"], out["cells"])


@pytest.mark.parametrize("cell", CELLS)
def test_none_state_is_zero_state(cell):
    rng = np.random.default_rng(5)
    problem = make_problem(rng, cell, 4, 3, 2, 6, with_state=False)
    zeros = dict(problem)
    for name in ("h0", "c0"):
        if name in zeros:
            zeros[name] = np.zeros((3, 6))
    got, want = forward(core, cell, problem), forward(core, cell, zeros)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    grads = make_output_grads(rng, cell, 4, 3, 6)
    got_grads = backward(core, cell, problem, got, grads)
    want_grads = backward(core, cell, zeros, want, grads)
    for name in want_grads:
        np.testing.assert_allclose(got_grads[name], want_grads[name], rtol=0, atol=1e-15)


@pytest.mark.parametrize("cell", CELLS)
def test_repeated_calls_are_bitwise_identical(cell):
    rng = np.random.default_rng(6)
    problem = make_problem(rng, cell, 20, 16, 4, 32, np.float32)
    grads = make_output_grads(rng, cell, 20, 16, 32, np.float32)
    first = forward(core, cell, problem)
    first_grads = backward(core, cell, problem, first, grads)
    for _ in range(3):
        again = forward(core, cell, problem)
        again_grads = backward(core, cell, problem, again, grads)
        for name in first:
            np.testing.assert_array_equal(again[name], first[name], err_msg=name)
        for name in first_grads:
            np.testing.assert_array_equal(again_grads[name], first_grads[name], err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_backward_scratch_reused_across_sizes_holds_no_stale_values(cell):
    # each thread keeps the backward's scratch between calls: a call after a larger one
    # runs in space that still holds the larger call's values, and must not read them
    for T, B, H in [(9, 8, 12), (3, 2, 5), (9, 8, 12), (12, 9, 16), (1, 1, 1)]:
        check_against_reference(cell, T, B, 3, H, np.float64, True, True, seed=T * B * H)


def test_backward_scratch_above_the_kept_size_is_allocated_per_call():
    # 4 * H * T * B doubles = 69 MB of scratch, above the 64 MB a thread keeps: H = 1
    # keeps the work small while the sequence is long and the batch wide
    rng = np.random.default_rng(9)
    problem = make_problem(rng, "lstm", 1024, 2100, 1, 1, np.float64)
    grads = make_output_grads(rng, "lstm", 1024, 2100, 1, np.float64)
    out = forward(core, "lstm", problem)
    got = backward(core, "lstm", problem, out, grads)
    want = backward(reference, "lstm", problem, forward(reference, "lstm", problem), grads)
    for name, value in got.items():
        np.testing.assert_allclose(value, want[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_denormals_are_flushed_inside_the_kernels_and_only_there(dtype):
    # h = relu(1 * x) for a denormal x: the kernel reads it as zero. NumPy, after the
    # call, on the same thread, still computes with denormals.
    tiny = np.finfo(dtype).smallest_subnormal * 1000
    x = np.full((2, 3, 1), tiny, dtype)
    w_ih = np.ones((1, 1), dtype)
    w_hh = np.zeros((1, 1), dtype)
    b = np.zeros(1, dtype)
    y, _ = core.rnn_forward(x, None, w_ih, w_hh, b, b, nonlinearity="relu")
    assert np.all(y == 0)
    assert reference.rnn_forward(x, None, w_ih, w_hh, b, b, nonlinearity="relu")[0].max() == tiny
    assert x[0, 0, 0] * dtype(1.5) > 0


def test_the_grus_bias_gradients_are_equal_in_r_and_z_and_differ_in_n():
    # db_hh = db_ih in the rows of r and z, bit for bit, as the reference has them
    rng = np.random.default_rng(12)
    T, B, I, H = 40, 32, 3, 8
    p = make_problem(rng, "gru", T, B, I, H, np.float32)
    grads = make_output_grads(rng, "gru", T, B, H, np.float32)
    back = backward(core, "gru", p, forward(core, "gru", p), grads)
    np.testing.assert_array_equal(back["b_hh"][: 2 * H], back["b_ih"][: 2 * H])
    assert not np.allclose(back["b_hh"][2 * H :], back["b_ih"][2 * H :])
