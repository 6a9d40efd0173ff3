"""Fuzzing the compiled kernels' bindings with hypothesis.

Every generated call to the forward or backward of the RNN, the LSTM or the GRU
(``rnn_forward``, ``lstm_backward``, ``gru_forward``...) mixes:

* dtypes: float32 and float64, and one argument of a wrong dtype now and then (int64,
  float16, complex128, or the other float dtype);
* shapes: 0 to 4 steps, sequences, features and hidden units, and one argument now and
  then with a mismatched size or a missing or extra axis;
* layouts, per argument: C order, Fortran order, a transposed view, negative strides, a
  non-contiguous slice of a larger array;
* values: normal, tiny (1e-300 in float64, 1e-30 in float32), huge (1e30 in float64, 1e4
  in float32), or one NaN or inf somewhere.

The outcome is predicted from the input: a call with a wrong dtype must raise TypeError,
a shape problem (or an empty dimension) ValueError (either, when both are wrong), with a
message that starts with the function's name. A valid call must return the right shapes
and dtype and, on finite values, match ``rnnkit.reference`` run in float64 on the same
values: normwise relative error 1e-9 for float64, 1e-4 for float32. A call with NaN or
inf must simply return. No input array is ever modified.

``sum_of_squares`` is fuzzed the same way over lists of arrays. Examples run: 150 for
each of the two recurrent tests, 100 for ``sum_of_squares``, so 400 in total;
``test_examples_were_run`` checks and prints the count when the file runs whole.
"""

import os

import numpy as np
import pytest
from _problems import CELLS, make_output_grads, make_problem, normwise_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit import core, reference

RNG_SEED = st.integers(0, 2**32 - 1)
SIZE = st.sampled_from([0, *[1, 2, 3, 4] * 3])  # an empty dimension 1 time in 13
LAYOUTS = ("C", "F", "transposed", "negative", "strided")
WRONG_DTYPES = ("int64", "float16", "complex128", "other float")
VALUES = ("normal", "normal", "tiny", "huge", "nan", "inf")
TINY = {np.dtype(np.float64): 1e-300, np.dtype(np.float32): 1e-30}
HUGE = {np.dtype(np.float64): 1e30, np.dtype(np.float32): 1e4}
RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}
# RNNKIT_FUZZ_SCALE=20 runs twenty times as many examples (for a long fuzzing session)
_SCALE = int(os.environ.get("RNNKIT_FUZZ_SCALE", "1"))
EXAMPLES = {"recurrent": 150 * _SCALE, "sum_of_squares": 100 * _SCALE}

FUZZ = settings(
    max_examples=EXAMPLES["recurrent"],
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# examples run per test, for test_examples_were_run
COUNT = {"forward": 0, "backward": 0, "sum_of_squares": 0}
# what the recurrent calls came to: refused, compared with the reference, non-finite
OUTCOMES = {"refused": 0, "compared": 0, "non-finite": 0}

ARGUMENTS = {
    "rnn_forward": ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"),
    "lstm_forward": ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"),
    "rnn_backward": ("x", "h0", "w_ih", "w_hh", "y", "dy", "dh_n"),
    "lstm_backward": (
        "x",
        "h0",
        "c0",
        "w_ih",
        "w_hh",
        "y",
        "gates",
        "cells",
        "dy",
        "dh_n",
        "dc_n",
    ),
}
ARGUMENTS |= {
    "gru_forward": ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"),
    "gru_backward": ("x", "h0", "w_ih", "w_hh", "y", "gates", "dy", "dh_n"),
}
OPTIONAL = {"h0", "c0", "dy", "dh_n", "dc_n"}
# a _problems cell -> its functions' prefix, and its weights' gate blocks
PREFIX = {"lstm": "lstm_", "gru": "gru_", "rnn_tanh": "rnn_", "rnn_relu": "rnn_"}
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def nonlinearity(cell):
    """The nonlinearity argument of the cell's functions: only the RNN's take one."""
    return {"nonlinearity": cell.removeprefix("rnn_")} if cell.startswith("rnn_") else {}


def lay_out(a, layout):
    """The values of a in the given memory layout (a view or a copy; never a itself)."""
    if a.ndim == 0:
        return a.copy()
    if layout == "F":
        return np.asfortranarray(a).copy(order="F")
    if layout == "transposed":
        return np.ascontiguousarray(a.T).T
    if layout == "negative":
        return np.flip(np.flip(a).copy())
    if layout == "strided":
        big = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), a.dtype)
        big[..., 1::2] = a
        return big[..., 1::2]
    return a.copy()


def spoil_shape(a, how, axis):
    """a with one more row along axis ("grow"), one axis less ("drop": a NumPy scalar for a
    1-D a) or one more ("add")."""
    if how == "drop":
        if a.ndim == 0:
            return a.reshape(1)
        return a[0] if len(a) else np.zeros(a.shape[1:], a.dtype)
    if how == "add":
        return a[None]
    axis %= a.ndim
    pad = [(0, 0)] * a.ndim
    pad[axis] = (0, 1)
    return np.pad(a, pad)


def cast(a, wrong):
    with np.errstate(all="ignore"):  # NaN, inf and 1e30 have no int64 or float16 value
        return _cast(a, wrong)


def _cast(a, wrong):
    if wrong == "int64":
        return np.round(a).astype(np.int64)
    if wrong == "float16":
        return a.astype(np.float16)
    if wrong == "complex128":
        return a.astype(np.complex128)
    return a.astype(np.float32 if a.dtype == np.float64 else np.float64)


@st.composite
def recurrent_calls(draw, direction):
    cell = draw(st.sampled_from(CELLS))
    function = PREFIX[cell] + direction
    T, B, I, H = (draw(SIZE) for _ in range(4))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    names = ARGUMENTS[function]
    spec = {
        "cell": cell,
        "function": function,
        "sizes": (T, B, I, H),
        "dtype": dtype,
        "seed": draw(RNG_SEED),
        "none": {n for n in names if n in OPTIONAL and draw(st.integers(0, 3)) == 0},
        "layout": {n: draw(st.sampled_from(LAYOUTS)) for n in names},
        "values": draw(st.sampled_from(VALUES)),
        "wrong_dtype": None,
        "wrong_shape": None,
    }
    present = [n for n in names if n not in spec["none"]]
    spec["poisoned"] = draw(st.sampled_from(present))  # where a NaN or inf goes
    if draw(st.integers(0, 5)) == 0:
        spec["wrong_dtype"] = (draw(st.sampled_from(present)), draw(st.sampled_from(WRONG_DTYPES)))
    if draw(st.integers(0, 5)) == 0:
        how = draw(st.sampled_from(["grow", "grow", "drop", "add"]))
        # in forward, x's steps are tied to nothing: more of them is still a valid call
        choices = [n for n in present if not (direction == "forward" and n == "x")]
        name = draw(st.sampled_from(choices)) if how == "grow" else draw(st.sampled_from(present))
        spec["wrong_shape"] = (name, how, draw(st.integers(0, 2)))
    return spec


def build(spec):
    """(arguments in float64 with their final values, arguments as passed to the core)."""
    cell, dtype = spec["cell"], spec["dtype"]
    T, B, I, H = spec["sizes"]
    rng = np.random.default_rng(spec["seed"])
    sizes_ok = min(T, B, I, H) >= 1
    # a valid problem in float64 (sizes clamped to 1 so that one can be drawn, then cut)
    p = make_problem(rng, cell, max(T, 1), max(B, 1), max(I, 1), max(H, 1), np.float64)
    args = dict(p)
    if spec["function"].endswith("backward"):
        fwd = getattr(core, spec["function"].replace("backward", "forward"))
        saved = fwd(**{k: v.astype(dtype) for k, v in p.items()}, **nonlinearity(cell))
        args |= {"y": saved[0].astype(np.float64)}
        if cell == "lstm":
            args |= {"gates": saved[3].astype(np.float64), "cells": saved[4].astype(np.float64)}
        if cell == "gru":
            args |= {"gates": saved[2].astype(np.float64)}
        grads = make_output_grads(rng, cell, max(T, 1), max(B, 1), max(H, 1), np.float64)
        args |= grads
        for name in ("b_ih", "b_hh"):
            del args[name]
    if not sizes_ok:  # cut the empty dimensions out of every array
        G = GATES[cell]
        cut = {"T": T, "B": B, "I": I, "H": H, "K": 4}  # K: the GRU's four saved rows
        axes = {
            "x": "TBI",
            "h0": "BH",
            "c0": "BH",
            "w_ih": "GI",
            "w_hh": "GH",
            "b_ih": "G",
            "b_hh": "G",
            "y": "TBH",
            "gates": "TBKH" if cell == "gru" else "TBG",
            "cells": "TBH",
            "dy": "TBH",
            "dh_n": "BH",
            "dc_n": "BH",
        }
        for name, letters in axes.items():
            if name in args:
                index = tuple(slice(0, G * H if c == "G" else cut[c]) for c in letters)
                args[name] = args[name][index]
    args = {n: None if n in spec["none"] else args[n] for n in ARGUMENTS[spec["function"]]}

    scale = {"tiny": TINY[dtype], "huge": HUGE[dtype]}.get(spec["values"])
    if scale is not None and args["x"] is not None:
        args["x"] = args["x"] * scale
    poisoned = args[spec["poisoned"]]
    if spec["values"] in ("nan", "inf") and poisoned is not None and poisoned.size:
        poisoned = poisoned.copy()
        poisoned.flat[rng.integers(poisoned.size)] = np.nan if spec["values"] == "nan" else -np.inf
        args[spec["poisoned"]] = poisoned
    exact = {n: None if a is None else a.astype(dtype).astype(np.float64) for n, a in args.items()}

    passed = {}
    for name, a in args.items():
        if a is None:
            passed[name] = None
            continue
        a = a.astype(dtype)
        if spec["wrong_dtype"] and spec["wrong_dtype"][0] == name:
            a = cast(a, spec["wrong_dtype"][1])
        if spec["wrong_shape"] and spec["wrong_shape"][0] == name:
            a = spoil_shape(a, *spec["wrong_shape"][1:])
        passed[name] = lay_out(a, spec["layout"][name])
    return exact, passed, sizes_ok


def expected_error(spec, sizes_ok):
    """The exceptions the call may raise, () when it must succeed."""
    errors = ()
    if spec["wrong_dtype"] is not None:
        errors += (TypeError,)
    if spec["wrong_shape"] is not None or not sizes_ok:
        errors += (ValueError,)
    return errors


def check_call(spec):
    exact, passed, sizes_ok = build(spec)
    function = spec["function"]
    nl = nonlinearity(spec["cell"])
    before = {n: a.copy() for n, a in passed.items() if a is not None}
    errors = expected_error(spec, sizes_ok)
    if any(not isinstance(a, np.ndarray | None) for a in passed.values()):
        errors += (TypeError,)  # a spoiled 1-D argument became a NumPy scalar
    if errors:
        with pytest.raises(errors) as info:
            getattr(core, function)(**passed, **nl)
        assert str(info.value).startswith(f"{function}: "), str(info.value)
        OUTCOMES["refused"] += 1
    else:
        got = getattr(core, function)(**passed, **nl)
        finite = all(a is None or np.isfinite(a).all() for a in exact.values())
        if finite:
            with np.errstate(all="ignore"):
                want = getattr(reference, function)(**exact, **nl)
            finite = all(np.isfinite(w).all() for w in want)
        if finite:
            for k, (g, w) in enumerate(zip(got, want, strict=True)):
                assert g.dtype == spec["dtype"], k
                assert g.shape == w.shape, (k, g.shape, w.shape)
                err = normwise_error(g.astype(np.float64), w)
                assert err <= RTOL[spec["dtype"]], f"output {k}: normwise error {err:.2e}"
            OUTCOMES["compared"] += 1
        else:
            OUTCOMES["non-finite"] += 1
            for g in got:
                assert g.dtype == spec["dtype"]
    for name, a in before.items():
        np.testing.assert_array_equal(passed[name], a, err_msg=f"{name} was modified")
        assert passed[name].dtype == a.dtype


@FUZZ
@given(recurrent_calls("forward"))
def test_fuzz_forward(spec):
    COUNT["forward"] += 1
    check_call(spec)


@FUZZ
@given(recurrent_calls("backward"))
def test_fuzz_backward(spec):
    COUNT["backward"] += 1
    check_call(spec)


ARRAY_DTYPES = ("float32", "float64", "float32", "float64", "int64", "float16", "complex128")


@settings(FUZZ, max_examples=EXAMPLES["sum_of_squares"])
@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, 4), min_size=0, max_size=3),
            st.sampled_from(ARRAY_DTYPES),
            st.sampled_from(LAYOUTS),
            st.sampled_from(VALUES),
        ),
        max_size=4,
    ),
    RNG_SEED,
)
def test_fuzz_sum_of_squares(specs, seed):
    COUNT["sum_of_squares"] += 1
    rng = np.random.default_rng(seed)
    arrays, valid, finite = [], True, True
    for shape, dtype, layout, values in specs:
        a = np.asarray(rng.standard_normal(shape) * {"tiny": 1e-30, "huge": 1e4}.get(values, 1.0))
        if values in ("nan", "inf") and a.size:
            a.flat[0] = np.nan if values == "nan" else np.inf
            finite = False
        valid &= dtype in ("float32", "float64")
        with np.errstate(all="ignore"):
            arrays.append(lay_out(a.astype(dtype), layout))
    before = [a.copy() for a in arrays]
    if not valid:
        with pytest.raises(TypeError, match=r"^sum_of_squares: arrays\[\d\] must have dtype"):
            core.sum_of_squares(arrays)
    else:
        got = core.sum_of_squares(arrays)
        if finite:
            want = reference.sum_of_squares(arrays)
            assert got == pytest.approx(want, rel=1e-12, abs=1e-300)
        else:
            assert not np.isfinite(got)
    for a, b in zip(arrays, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_examples_were_run(capsys):
    if not all(COUNT.values()):
        pytest.skip("runs after the fuzz tests of this file, when the file runs whole")
    total = sum(COUNT.values())
    with capsys.disabled():
        print(f"\nfuzz examples run: {COUNT} = {total}; recurrent calls: {OUTCOMES}")
    assert COUNT["forward"] >= EXAMPLES["recurrent"] // 2
    assert COUNT["backward"] >= EXAMPLES["recurrent"] // 2
    assert COUNT["sum_of_squares"] >= EXAMPLES["sum_of_squares"] // 2
