"""Bad input to the core: a clear exception naming the argument, before any work.

Each case starts from a valid call, spoils one argument, and states the
exception type and the words its message must contain.
"""

import numpy as np
import pytest

from rnnkit import core

T, B, I, H = 5, 3, 2, 4


def valid_args(function):
    """Keyword arguments of a valid call to core.<function> in float64."""
    rng = np.random.default_rng(0)
    g = {"lstm": 4, "gru": 3, "rnn": 1}[function.split("_")[0]]

    def draw(*shape):
        return rng.standard_normal(shape)

    args = {"x": draw(T, B, I), "h0": draw(B, H), "w_ih": draw(g * H, I), "w_hh": draw(g * H, H)}
    if g == 4:
        args["c0"] = draw(B, H)
    if function.endswith("forward"):
        args |= {"b_ih": draw(g * H), "b_hh": draw(g * H)}
    else:
        args |= {"y": draw(T, B, H), "dy": draw(T, B, H), "dh_n": draw(B, H)}
        if g == 4:
            args |= {"gates": draw(T, B, 4 * H), "cells": draw(T, B, H), "dc_n": draw(B, H)}
        if g == 3:
            args |= {"gates": draw(T, B, 4, H)}
    return args


# (function, argument, bad value or a function of the valid value, exception, words)
CASES = [
    ("lstm_forward", "x", None, TypeError, ["x", "numpy.ndarray", "None"]),
    ("lstm_forward", "x", [[[1.0]]], TypeError, ["x", "numpy.ndarray", "list"]),
    (
        "lstm_forward",
        "x",
        lambda a: a.astype(np.int64),
        TypeError,
        ["x", "float32 or float64", "int64"],
    ),
    ("lstm_forward", "x", lambda a: a.astype(np.float16), TypeError, ["x", "float16"]),
    ("rnn_forward", "x", lambda a: a.astype(np.complex128), TypeError, ["x", "complex128"]),
    ("rnn_forward", "x", lambda a: a.astype(object), TypeError, ["x", "object"]),
    (
        "lstm_forward",
        "w_hh",
        lambda a: a.astype(np.float32),
        TypeError,
        ["w_hh", "float32", "float64"],
    ),
    (
        "rnn_backward",
        "dy",
        lambda a: a.astype(np.float32),
        TypeError,
        ["dy", "float32", "share one"],
    ),
    ("lstm_forward", "x", lambda a: a[0], ValueError, ["x", "3-D", "(T, B, I)", "2-D"]),
    ("lstm_forward", "x", lambda a: a[:0], ValueError, ["x", "at least one step", "(0, 3, 2)"]),
    ("rnn_forward", "x", lambda a: a[:, :0], ValueError, ["x", "(5, 0, 2)"]),
    ("lstm_forward", "x", lambda a: a[:, :, :0], ValueError, ["x", "(5, 3, 0)"]),
    ("lstm_forward", "w_hh", lambda a: a[:0, :0], ValueError, ["w_hh", "H >= 1"]),
    (
        "lstm_forward",
        "w_hh",
        lambda a: a[:-1],
        ValueError,
        ["w_hh", "(4*H, H)", "(16, 4)", "(15, 4)"],
    ),
    ("rnn_forward", "w_hh", lambda a: a[:, :-1], ValueError, ["w_hh", "(H, H)", "(4, 3)"]),
    ("lstm_forward", "w_hh", lambda a: a[None], ValueError, ["w_hh", "2-D", "3-D"]),
    (
        "lstm_forward",
        "w_ih",
        lambda a: a[:, :1],
        ValueError,
        ["w_ih", "(4*H, I)", "(16, 2)", "(16, 1)"],
    ),
    ("rnn_forward", "w_ih", lambda a: a.T, ValueError, ["w_ih", "(H, I)", "(4, 2)", "(2, 4)"]),
    ("lstm_forward", "b_ih", lambda a: a[:-1], ValueError, ["b_ih", "(4*H,)", "(16,)", "(15,)"]),
    ("rnn_forward", "b_hh", lambda a: a[:, None], ValueError, ["b_hh", "1-D", "2-D"]),
    ("lstm_forward", "h0", lambda a: a[:-1], ValueError, ["h0", "(B, H)", "(3, 4)", "(2, 4)"]),
    ("lstm_forward", "c0", lambda a: a[:, :-1], ValueError, ["c0", "(B, H)", "(3, 3)"]),
    (
        "lstm_backward",
        "gates",
        lambda a: a[..., :-1],
        ValueError,
        ["gates", "(T, B, 4*H)", "(5, 3, 15)"],
    ),
    ("lstm_backward", "cells", lambda a: a[1:], ValueError, ["cells", "(T, B, H)", "(4, 3, 4)"]),
    ("lstm_backward", "y", lambda a: a[:, :, :, None], ValueError, ["y", "3-D", "4-D"]),
    ("lstm_backward", "dy", lambda a: a[:-1], ValueError, ["dy", "(T, B, H)", "(4, 3, 4)"]),
    ("rnn_backward", "dh_n", lambda a: a[:-1], ValueError, ["dh_n", "(B, H)", "(2, 4)"]),
    ("lstm_backward", "dc_n", lambda a: a.T, ValueError, ["dc_n", "(B, H)", "(4, 3)"]),
    (
        "rnn_forward",
        "nonlinearity",
        "sigmoid",
        ValueError,
        ["nonlinearity", "'tanh' or 'relu'", "sigmoid"],
    ),
    ("rnn_backward", "nonlinearity", 1, TypeError, ["nonlinearity", "str", "int"]),
    # a weight of the other gated cell: the LSTM's 4H rows to the GRU, the GRU's 3H to the LSTM
    ("gru_forward", "w_hh", lambda a: np.zeros((4 * H, H)), ValueError,
     ["w_hh", "(3*H, H)", "(12, 4)", "(16, 4)"]),
    ("gru_forward", "w_ih", lambda a: np.zeros((4 * H, I)), ValueError,
     ["w_ih", "(3*H, I)", "(12, 2)", "(16, 2)"]),
    ("gru_forward", "b_ih", lambda a: np.zeros(4 * H), ValueError, ["b_ih", "(3*H,)", "(16,)"]),
    ("gru_forward", "b_hh", lambda a: a[:-1], ValueError, ["b_hh", "(3*H,)", "(11,)"]),
    ("gru_forward", "h0", lambda a: a[:, :-1], ValueError, ["h0", "(B, H)", "(3, 3)"]),
    ("lstm_forward", "w_hh", lambda a: np.zeros((3 * H, H)), ValueError,
     ["w_hh", "(4*H, H)", "(16, 4)", "(12, 4)"]),
    ("lstm_backward", "w_ih", lambda a: np.zeros((3 * H, I)), ValueError,
     ["w_ih", "(4*H, I)", "(16, 2)", "(12, 2)"]),
    ("gru_backward", "w_hh", lambda a: np.zeros((4 * H, H)), ValueError, ["w_hh", "(3*H, H)"]),
    # saved gates of the other cell: the LSTM's (T, B, 4*H) and the GRU's (T, B, 4, H)
    ("gru_backward", "gates", lambda a: a.reshape(T, B, 4 * H), ValueError,
     ["gates", "(T, B, 4, H)", "(5, 3, 4, 4)", "3-D", "(5, 3, 16)"]),
    ("lstm_backward", "gates", lambda a: a.reshape(T, B, 4, H), ValueError,
     ["gates", "(T, B, 4*H)", "(5, 3, 16)", "4-D", "(5, 3, 4, 4)"]),
    ("gru_backward", "gates", lambda a: a[:, :, :3], ValueError, ["gates", "(5, 3, 3, 4)"]),
    ("gru_backward", "y", lambda a: a[1:], ValueError, ["y", "(T, B, H)", "(4, 3, 4)"]),
    ("gru_backward", "dh_n", lambda a: a.T, ValueError, ["dh_n", "(B, H)", "(4, 3)"]),
    ("gru_backward", "x", lambda a: a.astype(np.float32), TypeError, ["x", "float32"]),
]  # fmt: skip
FUNCTIONS = [f"{cell}_{way}" for cell in ("rnn", "lstm", "gru") for way in ("forward", "backward")]


def spoil(case):
    function, name, bad, _, _ = case
    args = valid_args(function)
    args[name] = bad(args[name]) if callable(bad) else bad
    return function, args


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_bad_argument_is_named(case):
    function, name, _, error, words = case
    function, args = spoil(case)
    originals = {k: v.copy() for k, v in args.items() if isinstance(v, np.ndarray) and v.size < 1e6}
    with pytest.raises(error) as info:
        getattr(core, function)(**args)
    message = str(info.value)
    assert message.startswith(f"{function}: "), message
    for word in [name, *words]:
        assert word in message, f"{word!r} not in {message!r}"
    for k, v in originals.items():
        np.testing.assert_array_equal(args[k], v, err_msg=f"{k} was modified")


def test_the_catalogue_is_broad():
    distinct = {(c[0], c[1], c[3], c[4][-1]) for c in CASES}
    assert len(distinct) >= 15
    assert {c[0] for c in CASES} == set(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_valid_call_passes(function):
    # The spoiled calls above fail because of the one argument they spoil.
    getattr(core, function)(**valid_args(function))


def huge_call(T, B):
    """lstm_forward on a broadcast x of shape (T, B, 2): a view that costs no memory."""
    args = valid_args("lstm_forward")
    args |= {"x": np.broadcast_to(np.zeros((1, 1, I)), (T, B, I)), "h0": None, "c0": None}
    return args


def test_sizes_that_overflow_an_index_are_rejected():
    # gates (T, B, 4*H) would take 2**65 bytes, x only 2**62
    with pytest.raises(ValueError, match=r"^lstm_forward: sizes too large: gates \(T, B, 4\*H\)"):
        core.lstm_forward(**huge_call(2**38, 2**20))


def test_sizes_beyond_memory_raise_memory_error():
    # 2**50 elements can be counted, not stored
    with pytest.raises(MemoryError):
        core.lstm_forward(**huge_call(2**30, 2**20))


@pytest.mark.parametrize(
    ("n", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError)],
)
def test_set_num_threads_rejects(n, error):
    before = core.num_threads()
    with pytest.raises(error, match="n must be"):
        core.set_num_threads(n)
    assert core.num_threads() == before


def test_wrong_arity_is_a_type_error():
    with pytest.raises(TypeError):
        core.lstm_forward(np.zeros((1, 1, 1)))


def test_a_call_with_a_wrong_keyword_is_one_short_line_not_every_array():
    args = valid_args("gru_forward")
    with pytest.raises(TypeError) as info:
        core.gru_forward(**args, variant="cifg")
    message = str(info.value)
    assert message == (
        "gru_forward: takes (x, h0, w_ih, w_hh, b_ih, b_hh, keep = 'all'); got 0 positional "
        "argument(s) "
        "and the keywords ['b_hh', 'b_ih', 'h0', 'variant', 'w_hh', 'w_ih', 'x']"
    )
