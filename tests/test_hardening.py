"""A core that no input can break: a catalogue of bad inputs, and robustness checks.

``CATALOGUE`` is one table of 118 distinct inputs a pipeline might produce, each with an
id, across the whole package: the compiled kernels (``core-*``, 36 cases), data
preparation (``data-*``, 25), models (``model-*``, 7), training (``fit-*``, 13),
save/load (``io-*``, 16: crafted files among them) and the command line (``cli-*``, 21:
CSV files as users export them, report folders holding their own files). 104 of them
must be refused with the exact exception type and a message naming what was wrong; 14
must be accepted (non-contiguous, negative-stride, transposed and read-only views give
the reference's answer; NaN and inf do not crash, with the behaviour documented in the
case; an exception from a callback keeps the best weights; European, unsorted and
mixed-offset CSV files are read, with a warning where rows were sorted, dropped or
converted). For every case the arrays and files passed in are compared before and
after: nothing is modified.

Documented behaviour of non-finite values:

* NaN in ``x`` of the kernels stays inside its own sequence: every step of that batch
  column from the NaN on is NaN, the other sequences of the batch are untouched.
* inf in ``x`` saturates the LSTM's gates and a tanh RNN (finite outputs); a relu RNN
  passes the inf on (inf outputs, no NaN).
* NaN in ``y`` of ``fit`` is not refused up front: training stops in the first batch
  that holds it with ``History.stop_reason`` "non-finite training loss nan in batch k",
  and the best (here the initial) weights are restored.

Then (a) eight Python threads training at once give bit for bit the weights of the same
runs done one after another, (b) numerical robustness (1e4-sized inputs, gradient
clipping, a diverging run), (c) resources (no memory growth over 300 training steps or
300 refused calls; an allocation beyond the address space raises MemoryError), and
(d) loading never runs code: a planted pickle file is refused and its trap never fires
(``tests/test_io.py::test_pickled_objects_never_run`` covers a pickle planted inside an
otherwise valid model archive, so it is not repeated here), and no flipped byte of a
saved model gets past ``load`` as anything but a ValueError or the same model.

Shared with other tests, not copied: the problems and tolerances of ``tests/_problems.py``,
``huge_call`` of ``tests/test_bad_input.py`` (sizes beyond memory) and ``Trap`` of
``tests/test_io.py`` (a pickle whose unpickling would create a file).
"""

import contextlib
import io as stdio
import json
import pickle
import platform
import resource
import subprocess
import sys
import textwrap
import threading
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
from _problems import (
    assert_close,
    backward,
    forward,
    make_output_grads,
    make_problem,
)
from test_bad_input import huge_call
from test_io import Trap, _declaring, _npy_bytes

import rnnkit
from rnnkit import core, data, reference
from rnnkit import io as model_io
from rnnkit.__main__ import main
from rnnkit.models import SequenceRegressor
from rnnkit.train import SGD, fit, grad_norm

T, B, I, H = 5, 3, 2, 4
ARGS = {
    "rnn_forward": ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"),
    "lstm_forward": ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"),
}


# ---------------------------------------------------------------------------- case builders
#
# Every case's ``build(tmp_path)`` returns (call, watched): ``call()`` makes the one call
# under test, ``watched`` lists the arrays and files passed in, checked unchanged after it.


class Case(NamedTuple):
    id: str
    build: Any  # tmp_path -> (call, watched)
    error: type | None  # None: the input is accepted and call() checks the result itself
    match: str  # regex the message must match (unused when accepted)


def problem(cell="lstm", dtype=np.float64, seed=0):
    """A valid forward problem: keyword arguments for core.<rnn|lstm>_forward."""
    return make_problem(np.random.default_rng(seed), cell, T, B, I, H, dtype)


def _kernel(cell):
    return ("lstm_forward", {}) if cell == "lstm" else ("rnn_forward", {"nonlinearity": "tanh"})


def spoiled(name, change, cell="lstm"):
    """A forward call with argument `name` replaced by change(valid value)."""

    def build(tmp_path):
        args = problem(cell)
        args[name] = change(args[name])
        function, extra = _kernel(cell)
        return (lambda: getattr(core, function)(**args, **extra)), list(args.values())

    return build


def spoiled_backward(name, change):
    """An lstm_backward call on the core's own forward, with argument `name` spoiled."""

    def build(tmp_path):
        p = problem()
        out = forward(core, "lstm", p)
        grads = make_output_grads(np.random.default_rng(1), "lstm", T, B, H)
        args = {**{k: p[k] for k in ("x", "h0", "c0", "w_ih", "w_hh")}}
        args |= {k: out[k] for k in ("y", "gates", "cells")}
        args |= grads
        args[name] = change(args[name])
        return (lambda: core.lstm_backward(**args)), list(args.values())

    return build


def matches_reference(layout, cell="lstm", readonly=False):
    """Forward and backward on inputs laid out by layout(name, array): the reference's answer."""

    def build(tmp_path):
        p = problem(cell, seed=3)
        grads = make_output_grads(np.random.default_rng(4), cell, T, B, H)
        args = {k: None if v is None else layout(k, v) for k, v in p.items()}
        dargs = {k: None if v is None else layout(k, v) for k, v in grads.items()}
        for a in [*args.values(), *dargs.values()]:
            if a is not None and readonly:
                a.flags.writeable = False

        def call():
            out = forward(core, cell, args)
            want = forward(reference, cell, p)
            for name, value in out.items():
                assert_close(value, want[name], np.float64, name)
            got = backward(core, cell, args, out, dargs)
            expected = backward(reference, cell, p, want, grads)
            for name, value in got.items():
                assert_close(value, expected[name], np.float64, f"d{name}")

        return call, [*args.values(), *dargs.values()]

    return build


def _negative_strides(name, a):
    view = np.flip(np.flip(a).copy())  # equal values, every stride negative
    assert all(s < 0 for s in view.strides)
    return view


def _strided(name, a):
    big = np.zeros((*a.shape[:-1], 2 * a.shape[-1]))
    big[..., ::2] = a
    return big[..., ::2]  # every other element of the last axis


def _transposed(name, a):
    return np.ascontiguousarray(a.T).T  # a Fortran-ordered view of the same values


def _fortran(name, a):
    return np.asfortranarray(a)


def with_non_finite(value, cell):
    """Forward with `value` put into x[0, 1, 0]: it returns, the behaviour is as documented."""

    def build(tmp_path):
        args = problem(cell)
        args["x"][0, 1, 0] = value
        function, extra = _kernel(cell)
        if cell == "rnn_relu":
            extra = {"nonlinearity": "relu"}

        def call():
            y = getattr(core, function)(**args, **extra)[0]
            others = np.delete(y, 1, axis=1)
            assert np.isfinite(others).all(), "another sequence of the batch was touched"
            if np.isnan(value):
                assert np.isnan(y[:, 1]).all()
            elif cell == "rnn_relu":
                assert np.isposinf(y[:, 1]).any()
                assert not np.isnan(y).any()
            else:
                assert np.isfinite(y).all()

        return call, list(args.values())

    return build


def lazily(make):
    """A case whose arguments are made per test: make() -> (function, args, kwargs)."""

    def build(tmp_path):
        function, args, kwargs = make()
        return (lambda: function(*args, **kwargs)), [*args, *kwargs.values()]

    return build


def call(function, *args, **kwargs):
    """A case calling function(*args, **kwargs) and watching every array among the args."""
    return lazily(lambda: (function, args, kwargs))


def dated(n):
    """A positive daily price series named "p", its index named "date"."""
    index = pd.date_range("2020-01-01", periods=n, freq="D", name="date")
    return pd.Series(np.linspace(1.0, 2.0, n), index=index, name="p")


def small_model(**kwargs):
    return SequenceRegressor(hidden_size=3, seed=0, **kwargs)


def fit_with(**changes):
    """fit on 8 small windows with one argument changed; arguments watched."""

    def make():
        args = {"X": np.zeros((8, 4, 1)), "y": np.linspace(0, 1, 8), "verbose": 0, "epochs": 1}
        args |= changes
        return fit, (small_model(), args.pop("X"), args.pop("y")), args

    return lazily(make)


def nan_target_stops(tmp_path):
    model = small_model()
    initial = model.state_dict()
    X, y = np.random.default_rng(0).standard_normal((8, 4, 1)), np.linspace(0, 1, 8)
    y[5] = np.nan

    def run():
        history = fit(model, X, y, epochs=3, batch_size=2, shuffle=False, verbose=0)
        assert history.stop_reason.startswith("non-finite training loss nan in batch 3 at epoch 1")
        assert "initial weights restored" in history.stop_reason
        for name, p in initial.items():
            np.testing.assert_array_equal(model.params[name], p, err_msg=name)

    return run, [X, y]


# -- files


def saved_model(tmp_path):
    path = tmp_path / "model.npz"
    rnnkit.save(small_model(), path)
    return path


def damaged(change):
    """rnnkit.load on a saved model whose bytes went through change(bytes) -> bytes."""

    def build(tmp_path):
        path = saved_model(tmp_path)
        path.write_bytes(change(path.read_bytes()))
        return (lambda: rnnkit.load(path)), [path]

    return build


def flip(position):
    def change(content):
        content = bytearray(content)
        content[position] ^= 0xFF
        return bytes(content)

    return change


def central_directory_version(content):
    # the "version needed to extract" of the last file in the zip's central directory: zipfile
    # answers NotImplementedError to a damaged one, which load must turn into a ValueError
    at = content.rindex(b"PK\x01\x02")
    return flip(at + 6)(content)


def file_case(name, content, exists=True):
    """rnnkit.load on a file of the given bytes (or no file)."""

    def build(tmp_path):
        path = tmp_path / name
        if exists:
            path.write_bytes(content(tmp_path) if callable(content) else content)
        return (lambda: rnnkit.load(path)), [path] if exists else []

    return build


def planted_pickle(tmp_path):
    marker = tmp_path / "sprung"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(Trap(str(marker))))

    def run():
        try:
            rnnkit.load(path)
        finally:
            assert not marker.exists(), "loading ran code from the file"

    return run, [path]


# -- command line


class ExitStatus(Exception):
    """A command line run that did not exit 0: its exit code and what it wrote to stderr."""


def cli(*args, csv=None, out=None, check=None):
    """rnnkit.__main__.main(args) with --csv of the given text (None: no file written).

    ``out`` maps file names to the text the report folder holds before the run, or is the
    text of a file in its place (None: nothing there); those files are watched. ``check(stderr)`` checks an accepted run's warnings.
    """

    def build(tmp_path):
        report = tmp_path / "report"
        argv = ["run", *TINY_RUN, *args, "--out", str(report), "--quiet"]
        watched = []
        if csv is not None:
            path = tmp_path / "prices.csv"
            path.write_text(csv)
            argv += ["--csv", str(path)]
            watched.append(path)
        if isinstance(out, str):
            report.write_text(out)
            watched.append(report)
        elif out is not None:
            report.mkdir()
            for name, text in out.items():
                (report / name).write_text(text)
                watched.append(report / name)

        def run():
            err = stdio.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(stdio.StringIO()):
                try:
                    code = main(argv)
                except SystemExit as exit_:
                    code = exit_.code
            if code != 0:
                raise ExitStatus(f"exit {code}: {err.getvalue().strip()}")
            if check is not None:
                check(err.getvalue())

        return run, watched

    return build


# The smallest run that trains and reports: the cases are about the input, not the fit.
TINY_RUN = ["--epochs", "1", "--hidden", "2", "--lookback", "5", "--cells", "lstm"]


def warns(*parts):
    """A check that stderr holds each of ``parts`` in an rnnkit warning."""

    def check(stderr):
        assert "rnnkit: warning: " in stderr, stderr
        for part in parts:
            assert part in stderr, stderr

    return check


def csv_of(dates, prices, sep=","):
    return f"Date{sep}Close\n" + "".join(
        f"{d}{sep}{p}\n" for d, p in zip(dates, prices, strict=True)
    )


def days(n, fmt="%Y-%m-%d"):
    return pd.date_range("2020-01-01", periods=n, freq="D").strftime(fmt)


def fitted_forecaster():
    return rnnkit.Forecaster(hidden_size=2, epochs=1, lookback=5, verbose=0).fit(dated(80))


def reforged(change, make=small_model):
    """rnnkit.load on a saved ``make()`` whose header and arrays went through
    ``change(state, arrays)`` and whose checksums were then made to match: a crafted file
    rather than a damaged one, so only the checks on its content can refuse it."""

    def build(tmp_path):
        path = tmp_path / "model.npz"
        rnnkit.save(make(), path)
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in archive.files}
        header = json.loads(arrays.pop(model_io.HEADER).tobytes())
        change(header["state"], arrays)
        header["checksums"] = {key: model_io._digest(a) for key, a in arrays.items()}
        encoded = np.frombuffer(json.dumps(header).encode(), np.uint8)
        with open(path, "wb") as f:
            np.savez(f, **{model_io.HEADER: encoded}, **arrays)
        return (lambda: rnnkit.load(path)), [path]

    return build


def set_array(key, value):
    def change(state, arrays):
        arrays[key] = np.full_like(arrays[key], value)

    return change


def zip_case(make_members, compression=zipfile.ZIP_STORED):
    """rnnkit.load on a zip of the members ``make_members(saved_members)`` returns."""

    def build(tmp_path):
        path = saved_model(tmp_path)
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist()}
        crafted = tmp_path / "crafted.npz"
        with zipfile.ZipFile(crafted, "w", compression=compression) as archive:
            for name, content in make_members(members).items():
                archive.writestr(name, content)
        return (lambda: rnnkit.load(crafted)), [crafted]

    return build


def replace_member(name, content):
    return lambda members: {**members, name: content}


def fit_while_training(tmp_path):
    """A callback that starts a second fit of the model being trained (as a second thread
    would): refused at once, and the first fit goes on to the end."""
    model = small_model()
    X, y = np.zeros((8, 4, 1)), np.linspace(0, 1, 8)
    refusals = []

    def second_fit(epoch, history):
        with pytest.raises(RuntimeError) as info:
            fit(model, X, y, epochs=1, verbose=0)
        refusals.append(str(info.value))

    def run():
        history = fit(model, X, y, epochs=2, verbose=0, callbacks=[second_fit])
        assert history.stop_reason.startswith("completed 2 epochs")
        assert len(refusals) == 2
        raise RuntimeError(refusals[0])  # the message the catalogue checks

    return run, [X, y]


def callback_raises(tmp_path):
    """An exception from a callback restores the best weights, records the interrupt in the
    history it carries, and goes on to the caller."""
    model = small_model()
    X = np.random.default_rng(0).standard_normal((16, 4, 1))
    y = X[:, -1]
    best = {}

    def snapshot(epoch, history):
        if history.best_epoch == epoch:
            best.update({k: v.copy() for k, v in model.params.items()})
        if epoch == 3:
            raise KeyError("a callback's bug")

    def run():
        with pytest.raises(KeyError) as info:
            fit(model, X, y, validation_data=(X, y), epochs=5, verbose=0, callbacks=[snapshot])
        assert info.value.history.stop_reason.startswith("interrupted at epoch 3 by KeyError")
        for name, value in model.params.items():
            np.testing.assert_array_equal(value, best[name], err_msg=name)

    return run, [X]


def prices(rows, bad_row=None, text="abc"):
    dates = pd.date_range("2020-01-01", periods=rows, freq="D").strftime("%Y-%m-%d")
    lines = [f"{d},{text if k == bad_row else 100 + k}" for k, d in enumerate(dates)]
    return "Date,Close\n" + "\n".join(lines) + "\n"


def _read_only(a):
    a.flags.writeable = False
    return a


def _f32(a):
    return a.astype(np.float32)


# ---------------------------------------------------------------------------- the catalogue

CATALOGUE = [
    # -- core: wrong types and dtypes
    Case("core-x-list", spoiled("x", lambda a: a.tolist()), TypeError, r"x must be a numpy"),
    Case("core-x-none", spoiled("x", lambda a: None), TypeError, r"x must be a numpy.*None"),
    Case("core-x-int64", spoiled("x", lambda a: a.astype(np.int64)), TypeError, r"x.*int64"),
    Case("core-x-float16", spoiled("x", lambda a: a.astype(np.float16)), TypeError, r"x.*float16"),
    Case("core-x-complex", spoiled("x", lambda a: a.astype(complex)), TypeError, r"x.*complex128"),
    Case("core-x-bool", spoiled("x", lambda a: a > 0), TypeError, r"x must have dtype.*bool"),
    Case("core-x-big-endian", spoiled("x", lambda a: a.astype(">f8")), TypeError, r"x.*>f8"),
    Case("core-x-0d", spoiled("x", lambda a: a[0, 0, 0]), TypeError, r"x must be a numpy"),
    Case("core-w_hh-float32", spoiled("w_hh", _f32), TypeError, r"w_hh has dtype float32"),
    Case("core-h0-float32", spoiled("h0", _f32), TypeError, r"h0 has dtype float32.*share one"),
    # -- core: rank and shape
    Case("core-x-2d", spoiled("x", lambda a: a[0]), ValueError, r"x must be a 3-D array"),
    Case("core-x-4d", spoiled("x", lambda a: a[None]), ValueError, r"x must be a 3-D array"),
    Case("core-T0", spoiled("x", lambda a: a[:0]), ValueError, r"x .*at least one step"),
    Case("core-B0", spoiled("x", lambda a: a[:, :0]), ValueError, r"x .*\(5, 0, 2\)"),
    Case("core-I0", spoiled("x", lambda a: a[:, :, :0]), ValueError, r"x .*\(5, 3, 0\)"),
    Case("core-w_ih-columns", spoiled("w_ih", lambda a: a[:, :1]), ValueError, r"w_ih.*\(16, 1\)"),
    Case("core-w_hh-rows", spoiled("w_hh", lambda a: a[:-1]), ValueError, r"w_hh.*\(15, 4\)"),
    Case("core-b_hh-length", spoiled("b_hh", lambda a: a[:-1]), ValueError, r"b_hh.*\(15,\)"),
    Case("core-h0-batch", spoiled("h0", lambda a: a[:-1]), ValueError, r"h0 .*\(B, H\)"),
    Case("core-c0-transposed", spoiled("c0", lambda a: a.T), ValueError, r"c0 .*\(4, 3\)"),
    Case(
        "core-rnn-nonlinearity",
        lazily(lambda: (core.rnn_forward, (), {**problem("rnn_tanh"), "nonlinearity": "gelu"})),
        ValueError,
        r"nonlinearity.*'gelu'",
    ),
    Case(
        "core-backward-gates",
        spoiled_backward("gates", lambda a: a[..., 1:]),
        ValueError,
        r"gates .*\(T, B, 4\*H\)",
    ),
    Case(
        "core-backward-dy-steps",
        spoiled_backward("dy", lambda a: a[1:]),
        ValueError,
        r"dy .*\(4, 3, 4\)",
    ),
    # -- core: absurd sizes (x is a broadcast view: costs no memory until copied)
    Case(
        "core-size-overflows-index",
        lazily(lambda: (core.lstm_forward, (), huge_call(2**38, 2**20))),
        ValueError,
        r"sizes too large: gates",
    ),
    Case(
        "core-size-beyond-memory",
        lazily(lambda: (core.lstm_forward, (), huge_call(2**30, 2**20))),
        MemoryError,
        r"1073741824, 1048576",
    ),
    # -- core: the optimizer kernels
    Case(
        "core-sum_of_squares-int",
        call(core.sum_of_squares, [np.arange(3)]),
        TypeError,
        r"arrays\[0\] must have dtype float32 or float64, got int64",
    ),
    Case(
        "core-sgd-read-only-params",
        lazily(
            lambda: (
                core.sgd_step,
                ([_read_only(np.zeros(3))], [np.ones(3)], None),
                {"lr": 0.1, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
            )
        ),
        ValueError,
        r"params\[0\] is updated in place",
    ),
    # -- core: accepted views and values
    Case("core-accept-negative-strides", matches_reference(_negative_strides), None, ""),
    Case("core-accept-strided-slices", matches_reference(_strided, "rnn_relu"), None, ""),
    Case("core-accept-transposed-views", matches_reference(_transposed, "rnn_tanh"), None, ""),
    Case("core-accept-fortran-order", matches_reference(_fortran), None, ""),
    Case(
        "core-accept-read-only", matches_reference(lambda k, a: a.copy(), readonly=True), None, ""
    ),
    Case("core-nan-stays-in-its-sequence", with_non_finite(np.nan, "lstm"), None, ""),
    Case("core-inf-saturates-lstm", with_non_finite(np.inf, "lstm"), None, ""),
    Case("core-inf-saturates-tanh", with_non_finite(np.inf, "rnn_tanh"), None, ""),
    Case("core-inf-passes-relu", with_non_finite(np.inf, "rnn_relu"), None, ""),
    # -- data
    Case(
        "data-series-shorter-than-lookback",
        call(data.make_windows, np.arange(5.0), 10),
        ValueError,
        r"5 rows but one window needs lookback \+ horizon = 10 \+ 1",
    ),
    Case("data-empty-series", call(data.make_windows, np.zeros(0), 3), ValueError, r"0 rows"),
    Case(
        "data-text-in-a-column",
        lazily(
            lambda: (data.make_windows, (pd.DataFrame({"a": [1.0] * 9, "b": ["x"] * 9}), 2), {})
        ),
        TypeError,
        r"data must be an array of numbers \(convertible to float64\).*'x'",
    ),
    Case(
        "data-nan-with-missing-raise",
        call(data.make_windows, np.array([1, 2, np.nan, 4, 5.0]), 2),
        ValueError,
        r"1 missing values .*row 2",
    ),
    Case(
        "data-lookback-float",
        call(data.make_windows, np.arange(9.0), 2.5),
        TypeError,
        r"lookback must be an int >= 1, got float 2.5",
    ),
    Case(
        "data-lookback-str",
        call(data.make_windows, np.arange(9.0), "3"),
        TypeError,
        r"lookback must be an int >= 1, got str '3'",
    ),
    Case(
        "data-lookback-bool",
        call(data.make_windows, np.arange(9.0), True),
        TypeError,
        r"lookback must be an int >= 1, got bool",
    ),
    Case(
        "data-lookback-zero",
        call(data.make_windows, np.arange(9.0), 0),
        ValueError,
        r"lookback must be an int >= 1, got 0",
    ),
    Case(
        "data-unknown-missing-mode",
        call(data.make_windows, np.arange(9.0), 2, missing="zero"),
        ValueError,
        r"missing must be 'raise', 'drop' or 'ffill', got 'zero'",
    ),
    Case(
        "data-3d-series",
        call(data.make_windows, np.zeros((9, 2, 2)), 2),
        ValueError,
        r"data must be 1-D .* or 2-D .*\(9, 2, 2\)",
    ),
    Case(
        "data-target-out-of-range",
        call(data.make_windows, np.zeros((9, 2)), 2, target=5),
        ValueError,
        r"target=5 is not a column",
    ),
    Case(
        "data-scaler-on-empty",
        call(data.StandardScaler().fit, np.zeros((0, 2))),
        ValueError,
        r"data to fit a scaler on is empty",
    ),
    Case(
        "data-scaler-on-no-columns",
        call(data.StandardScaler().fit, np.zeros((5, 0))),
        ValueError,
        r"data to fit a scaler on is empty \(shape \(5, 0\)\)",
    ),
    Case(
        "data-scaler-on-inf",
        call(data.StandardScaler().fit, np.array([1.0, np.inf])),
        ValueError,
        r"1 NaN or inf values, the first in row 1",
    ),
    # the door of split_windows: order and kinds of data that would be silently wrong
    Case(
        "data-shuffled-times",
        lazily(lambda: (data.split_windows, (dated(60).sample(frac=1, random_state=0), 3), {})),
        ValueError,
        r"not in time order: row \d+ .* sort it first with series.sort_index\(\)",
    ),
    Case(
        "data-reversed-times",
        lazily(lambda: (data.split_windows, (dated(60).iloc[::-1], 3), {})),
        ValueError,
        r"not in time order: row 1 ",
    ),
    Case(
        "data-repeated-times",
        lazily(
            lambda: (
                data.split_windows,
                (pd.concat([dated(60), dated(60)[5:6]]).sort_index(), 3),
                {},
            )
        ),
        ValueError,
        r"1 repeated time\(s\), the first .* at row 6: keep one row per time",
    ),
    Case(
        "data-dates-as-a-column",
        lazily(lambda: (data.split_windows, (dated(60).reset_index(), 3), {"target": 1})),
        TypeError,
        r"column 'date' of series holds dates \(datetime64\[.s\]\), not numbers: make it the",
    ),
    Case(
        "data-true-false",
        lazily(lambda: (data.split_windows, (dated(60) > 1.0, 3), {})),
        TypeError,
        r"series 'p' holds True/False \(bool\), not numbers",
    ),
    Case(
        "data-complex",
        call(data.split_windows, np.full(60, 1 + 1j), 3),
        TypeError,
        r"series holds complex numbers \(complex128\), not numbers",
    ),
    Case(
        "data-numbers-as-objects",
        lazily(lambda: (data.split_windows, (dated(60).astype(object), 3), {})),
        TypeError,
        r"series 'p' holds Python objects .* convert it first",
    ),
    Case(
        "data-nan-scaler-statistics",
        call(
            data.scaler_from_dict,
            {
                "class": "StandardScaler",
                "params": {},
                "stats": {"mean": [np.nan], "std": [1.0]},
                "columns": None,
            },
        ),
        ValueError,
        r"malformed StandardScaler statistics: NaN or inf",
    ),
    Case(
        "data-time-spans",
        lazily(
            lambda: (
                data.split_windows,
                (dated(60).to_frame().assign(d=pd.to_timedelta(np.arange(60), "D")), 3),
                {"target": "p"},
            )
        ),
        TypeError,
        r"column 'd' of series holds time spans \(timedelta64\[.s\]\), not numbers",
    ),
    Case(
        "data-column-name-on-an-array",
        call(data.split_windows, np.linspace(1.0, 2.0, 60), 3, target="a"),
        ValueError,
        r"target='a' is not a column of the data: expected an integer position in \[0, 1\)",
    ),
    Case(
        "data-only-nan",
        call(data.split_windows, np.full(60, np.nan), 3),
        ValueError,
        r"data has 60 missing values .* in 60 of 60 rows, the first at row 0: clean the series, "
        r"or pass missing='drop'",
    ),
    # -- models
    Case(
        "model-wrong-feature-count",
        lazily(lambda: (small_model(input_size=2).predict, (np.zeros((2, 4, 3)),), {})),
        ValueError,
        r"X must have shape \(N, T, 2\).*\(2, 4, 3\)",
    ),
    Case(
        "model-text-windows",
        lazily(lambda: (small_model().predict, (np.full((2, 4, 1), "a"),), {})),
        TypeError,
        r"X must be an array of numbers",
    ),
    Case(
        "model-hidden-size-zero",
        call(SequenceRegressor, hidden_size=0),
        ValueError,
        r"hidden_size must be an int >= 1, got 0",
    ),
    Case(
        "model-int-dtype",
        call(SequenceRegressor, dtype=np.int32),
        TypeError,
        r"dtype must be float32 or float64, got int32",
    ),
    Case(
        "model-unknown-cell",
        call(SequenceRegressor, cell="cnn"),
        ValueError,
        r"cell must be 'lstm', 'gru' or 'rnn', got 'cnn'",
    ),
    Case(
        "model-nan-state",
        lazily(
            lambda: (
                small_model().load_state_dict,
                ({**small_model().state_dict(), "head.bias": np.array([np.nan])},),
                {},
            )
        ),
        ValueError,
        r"state\['head.bias'\] has NaN",
    ),
    Case(
        "model-state-wrong-shape",
        lazily(
            lambda: (
                small_model().load_state_dict,
                ({**small_model().state_dict(), "head.bias": np.zeros(2)},),
                {},
            )
        ),
        ValueError,
        r"state\['head.bias'\] must have shape \(1,\)",
    ),
    # -- training
    Case(
        "fit-mismatched-lengths",
        fit_with(y=np.zeros(7)),
        ValueError,
        r"y must have shape \(8, outputs\) .*got \(7, 1\)",
    ),
    Case("fit-epochs-zero", fit_with(epochs=0), ValueError, r"epochs must be an int >= 1, got 0"),
    Case(
        "fit-negative-lr",
        fit_with(lr=-0.1),
        ValueError,
        r"lr must be a positive finite number, got -0.1",
    ),
    Case(
        "fit-unknown-optimizer",
        fit_with(optimizer="lbfgs"),
        ValueError,
        r"optimizer must be one of .*'lbfgs'",
    ),
    Case(
        "fit-text-windows",
        fit_with(X=np.full((8, 4, 1), "a")),
        TypeError,
        r"X must be an array of numbers",
    ),
    Case("fit-batch-size-zero", fit_with(batch_size=0), ValueError, r"batch_size must be an int"),
    # 0 would train nothing: the initial weights reported as a trained model
    Case("fit-zero-lr", fit_with(lr=0.0), ValueError, r"lr must be a positive finite number"),
    Case(
        "fit-zero-clip-norm",
        fit_with(clip_norm=0.0),
        ValueError,
        r"clip_norm must be a positive finite number, got 0.0",
    ),
    Case("fit-negative-clip-norm", fit_with(clip_norm=-1.0), ValueError, r"clip_norm must be"),
    Case(
        "fit-wrong-feature-count",
        fit_with(X=np.zeros((8, 4, 2))),
        ValueError,
        r"X must have shape \(N, T, 1\)",
    ),
    Case("fit-nan-in-y-stops", nan_target_stops, None, ""),
    Case(
        "fit-model-already-training",
        fit_while_training,
        RuntimeError,
        r"this model is being trained in another thread .* one model takes one fit at a time",
    ),
    Case("fit-callback-raises-keeps-the-best", callback_raises, None, ""),
    # -- save and load
    Case(
        "io-missing-file", file_case("gone.npz", b"", exists=False), FileNotFoundError, r"gone\.npz"
    ),
    Case(
        "io-truncated",
        damaged(lambda b: b[: len(b) // 2]),
        ValueError,
        r"not a readable rnnkit model file \(truncated or corrupted\?\)",
    ),
    Case(
        "io-flipped-byte-in-data",
        damaged(lambda b: flip(len(b) // 2)(b)),
        ValueError,
        r"not a readable rnnkit model file.*CRC",
    ),
    Case(
        "io-flipped-zip-version",
        damaged(central_directory_version),
        ValueError,
        r"not a readable rnnkit model file",
    ),
    Case(
        "io-not-an-npz",
        file_case("notes.npz", b"just some text\n"),
        ValueError,
        r"not a readable rnnkit model file",
    ),
    Case(
        "io-plain-npz",
        file_case("plain.npz", lambda p: _npz_bytes(p)),
        ValueError,
        r"not an rnnkit model file: it has no '__header__'",
    ),
    Case("io-planted-pickle", planted_pickle, ValueError, r"pickled"),
    Case(
        "io-nan-weight",
        reforged(set_array("weight_hh_l0", np.nan)),
        ValueError,
        r"weight_hh_l0'\] has NaN",
    ),
    Case(
        "io-nan-scaler-statistics",
        reforged(
            lambda state, arrays: state["pipeline"]["scaler"]["stats"].update(mean=[np.nan]),
            make=fitted_forecaster,
        ),
        ValueError,
        r"malformed StandardScaler statistics: NaN or inf",
    ),
    Case(
        "io-huge-hidden-size",
        reforged(lambda state, arrays: state.update(hidden_size=6000)),
        ValueError,
        r"do not fit the configuration",
    ),
    Case(
        "io-unknown-baseline-class",
        reforged(
            lambda state, arrays: state["baselines"][0].update({"class": "os.system"}),
            make=fitted_forecaster,
        ),
        ValueError,
        r"unknown baseline 'os\.system'",
    ),
    Case(
        "io-compressed-member",
        zip_case(
            replace_member("weight_hh_l0.npy", _npy_bytes(np.zeros((2000, 2000)))),
            zipfile.ZIP_DEFLATED,
        ),
        ValueError,
        r"is compressed; rnnkit stores arrays",
    ),
    Case(
        "io-member-declares-more-than-it-holds",
        zip_case(replace_member("weight_hh_l0.npy", _declaring((10**6, 10**6)))),
        ValueError,
        r"declares \(1000000, 1000000\) of float64 but holds 0 bytes",
    ),
    Case(
        "io-header-nested-too-deep",
        zip_case(lambda m: {"__header__.npy": _npy_bytes(np.frombuffer(b"[" * 200_000, np.uint8))}),
        ValueError,
        r"the model header is damaged",
    ),
    Case(
        "io-header-too-large",
        zip_case(lambda m: {"__header__.npy": _npy_bytes(np.zeros(2 << 20, np.uint8))}),
        ValueError,
        r"the header has \d+ bytes, above 1048576",
    ),
    Case(
        "io-save-into-a-missing-folder",
        lazily(lambda: (rnnkit.save, (small_model(), "/nonexistent/folder/model.npz"), {})),
        FileNotFoundError,
        r"/nonexistent/folder/model\.npz",
    ),
    # -- command line
    Case(
        "cli-unknown-option",
        cli("--frobnicate"),
        ExitStatus,
        r"(?s)^exit 2: .*unrecognized arguments: --frobnicate",
    ),
    Case(
        "cli-epochs-zero",
        cli("--epochs", "0"),
        ExitStatus,
        r"(?s)^exit 2: .*argument --epochs: must be at least 1, got 0",
    ),
    Case(
        "cli-missing-csv",
        cli("--csv", "/nonexistent/prices.csv"),
        ExitStatus,
        r"^exit 2: rnnkit: error: no such file: /nonexistent/prices\.csv$",
    ),
    Case(
        "cli-text-in-price-column",
        cli(csv=prices(40, bad_row=5)),
        ExitStatus,
        r"^exit 2: rnnkit: error: column 'Close' has text where a price should be: 'abc' "
        r"\(row 7\)$",
    ),
    Case(
        "cli-empty-csv",
        cli(csv=""),
        ExitStatus,
        r"^exit 2: rnnkit: error: .*prices\.csv is not a readable CSV",
    ),
    Case(
        "cli-header-only-csv",
        cli(csv="Date,Close\n"),
        ExitStatus,
        r"^exit 2: rnnkit: error: .*prices\.csv has no numeric price column",
    ),
    Case(
        "cli-out-holds-the-users-files",
        cli(csv=prices(40), out={"README.md": "my notes"}),
        ExitStatus,
        r"^exit 2: rnnkit: error: --out: report folder .* already has README\.md, which rnnkit "
        r"did not write and never replaces",
    ),
    Case(
        "cli-out-holds-other-files",
        cli(csv=prices(40), out={"notes.txt": "mine"}),
        ExitStatus,
        r"holds files rnnkit did not write \(notes\.txt\); name a new folder, or pass "
        r"--overwrite",
    ),
    Case(
        "cli-out-is-a-file",
        cli(csv=prices(40), out="my notes"),
        ExitStatus,
        r"^exit 2: rnnkit: error: --out: report folder '.*report' is a file; expected a folder$",
    ),
    Case(
        "cli-csv-is-a-folder",
        cli("--csv", "/tmp"),
        ExitStatus,
        r"^exit 2: rnnkit: error: --csv '/tmp' is a folder; expected a CSV file$",
    ),
    Case(
        "cli-no-such-column",
        cli("--column", "Adj Close", csv=prices(40)),
        ExitStatus,
        r"^exit 2: rnnkit: error: no column 'Adj Close' in .*; it has \['Date', 'Close'\]$",
    ),
    Case(
        "cli-prices-as-dates",
        cli(
            "--date-column",
            "Close",
            csv=prices(40).replace("Date,", "Date,Open,").replace(",1", ",5,1"),
        ),
        ExitStatus,
        r"column 'Close' holds numbers, not dates .* name their unit with --date-unit",
    ),
    Case(
        "cli-not-a-date",
        cli(csv=csv_of(["2020-01-01", "soon", *days(40)[2:]], range(100, 140))),
        ExitStatus,
        r"^exit 2: rnnkit: error: column 'Date' has a value that is not a date: 'soon' \(row 3\)$",
    ),
    Case(
        "cli-only-gaps",
        cli("--column", "Close", csv=csv_of(days(40), ["."] * 40)),
        ExitStatus,
        r"column 'Close' of .* has no prices, only gaps",
    ),
    Case(
        "cli-decimal-either-way",
        cli(csv=csv_of(days(40), ["1.234", "1.500"] * 20, sep=";")),
        ExitStatus,
        r"numbers such as '1.234' that read either way: say which mark is the decimal one with "
        r"--decimal \. or --decimal ,",
    ),
    Case(
        "cli-decimal-comma-in-a-dotted-file",
        cli(
            csv=csv_of(days(40), [*(f"{100 + k}.25" for k in range(5)), '"101,30"', *["99.5"] * 34])
        ),
        ExitStatus,
        r"'101,30' \(row 7\) \(read with '\.' as the decimal mark; --decimal names the other\)$",
    ),
    Case(
        "cli-bad-cell-past-the-first-rows",
        cli(csv=prices(10_050, bad_row=10_040)),
        ExitStatus,
        r"has text where a price should be: 'abc' \(row 10042\)$",
    ),
    Case(
        "cli-prices-near-the-float-limit",
        cli(csv=csv_of(days(40), [f"{1e306 * (1 + k % 3)!r}" for k in range(40)])),
        ExitStatus,
        r"the test metrics are not finite .* rescale the series",
    ),
    Case(
        "cli-semicolons-and-decimal-commas",
        cli(csv=csv_of(days(40, "%d.%m.%Y"), [f"{100 + k},5" for k in range(40)], sep=";")),
        None,
        "",
    ),
    Case(
        "cli-dates-unsorted-and-repeated",
        cli(
            csv=csv_of([*days(40)[::-1], "2020-01-05"], range(100, 141)),
            check=warns("39 rows have an earlier date", "dropped 1 row whose date repeats"),
        ),
        None,
        "",
    ),
    Case(
        "cli-mixed-utc-offsets",
        cli(
            csv=csv_of(
                [f"{d}T09:00{'+01:00' if k < 20 else '+02:00'}" for k, d in enumerate(days(40))],
                range(100, 140),
            ),
            check=warns("different UTC offsets; converted them to UTC"),
        ),
        None,
        "",
    ),
]


def _npz_bytes(tmp_path):
    path = tmp_path / "scratch.npz"
    np.savez(path, a=np.zeros(3))
    return path.read_bytes()


def _comparable(watched):
    """The watched arrays and files, less the huge broadcast views of the size cases."""
    return [
        w for w in watched if isinstance(w, Path) or (isinstance(w, np.ndarray) and w.size <= 10**6)
    ]


def snapshot(watched):
    return [
        w.read_bytes() if isinstance(w, Path) else (w.copy(), w.flags.writeable)
        for w in _comparable(watched)
    ]


def assert_unchanged(watched, before):
    for k, (w, old) in enumerate(zip(_comparable(watched), before, strict=True)):
        if isinstance(w, Path):
            assert w.read_bytes() == old, f"file {w.name} was modified"
        else:
            np.testing.assert_array_equal(w, old[0], err_msg=f"input {k} was modified")
            assert w.flags.writeable == old[1], f"input {k} changed writeability"


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.id for c in CATALOGUE])
def test_catalogue(case, tmp_path):
    run, watched = case.build(tmp_path)
    before = snapshot(watched)
    if case.error is None:
        run()
    else:
        with pytest.raises(case.error) as info:
            run()
        # exactly the type (NumPy raises its own subclass of MemoryError)
        assert type(info.value) is case.error or case.error is MemoryError, type(info.value)
        assert info.match(case.match)
    assert_unchanged(watched, before)


def test_the_catalogue_is_what_the_docstring_says():
    ids = [c.id for c in CATALOGUE]
    assert len(set(ids)) == len(ids) == 118
    refused = [c for c in CATALOGUE if c.error is not None]
    assert len(refused) == 104
    counts = {p: sum(i.startswith(p + "-") for i in ids) for p in ("core", "data", "model")}
    counts |= {p: sum(i.startswith(p + "-") for i in ids) for p in ("fit", "io", "cli")}
    assert counts == {"core": 36, "data": 25, "model": 7, "fit": 13, "io": 16, "cli": 21}


# ---------------------------------------------------------------------------- (a) threads


def windows(seed, n=96, lookback=6):
    rng = np.random.default_rng(seed)
    series = np.cumsum(rng.standard_normal(n + lookback)) * 0.1
    X, y, _ = data.make_windows(series, lookback)
    return X, y


def training_job(k):
    """Train model k for 2 epochs with fixed seeds, then run the core kernels on a problem."""
    cell, dtype = ("lstm", "rnn")[k % 2], (np.float32, np.float64)[k // 2 % 2]
    model = SequenceRegressor(cell=cell, hidden_size=6, dtype=dtype, seed=k)
    X, y = windows(k)
    history = fit(model, X, y, epochs=2, batch_size=8, lr=0.01, seed=k, verbose=0)
    kernel_cell = "lstm" if cell == "lstm" else "rnn_tanh"
    p = make_problem(np.random.default_rng(100 + k), kernel_cell, 7, 5, 3, 6, dtype)
    out = forward(core, kernel_cell, p)
    grads = backward(
        core,
        kernel_cell,
        p,
        out,
        make_output_grads(np.random.default_rng(k), kernel_cell, 7, 5, 6, dtype),
    )
    return {
        **model.state_dict(),
        **out,
        **{f"d{n}": g for n, g in grads.items()},
        "train_loss": np.array(history.train_loss),
    }


def test_eight_threads_training_at_once_match_serial_runs_bitwise():
    serial = [training_job(k) for k in range(8)]
    results = [None] * 8
    start = threading.Barrier(8)

    def worker(k):
        start.wait()  # all eight inside fit at the same time
        results[k] = training_job(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, (got, want) in enumerate(zip(results, serial, strict=True)):
        assert got is not None, f"thread {k} failed"
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"job {k}: {name}")


# ---------------------------------------------------------------------------- (b) numerics


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["lstm", "rnn_tanh", "rnn_relu"])
def test_inputs_of_magnitude_1e4_give_finite_outputs_and_gradients(cell, dtype):
    rng = np.random.default_rng(5)
    p = make_problem(rng, cell, 8, 4, 3, 5, dtype)
    p["x"] = (p["x"] * 1e4).astype(dtype)
    out = forward(core, cell, p)
    grads = backward(core, cell, p, out, make_output_grads(rng, cell, 8, 4, 5, dtype))
    for name, value in {**out, **grads}.items():
        assert np.isfinite(value).all(), name


class RecordingSGD(SGD):
    """SGD that records the global gradient norm before and after fit's clipping scale."""

    def __init__(self, lr):
        super().__init__(lr=lr)
        self.norms = []

    def step(self, params, grads, grad_scale=1.0):
        norm = grad_norm(grads)
        self.norms.append((norm, norm * grad_scale))
        super().step(params, grads, grad_scale)


def test_exploding_gradients_are_clipped_to_clip_norm():
    X, y = windows(1)
    optimizer = RecordingSGD(lr=1e-4)
    model = SequenceRegressor(cell="rnn", nonlinearity="relu", hidden_size=8, seed=0)
    fit(model, X, y * 1e6, epochs=2, optimizer=optimizer, clip_norm=0.5, verbose=0)
    raw, clipped = np.array(optimizer.norms).T
    assert raw.min() > 1e3, "the gradients did not explode: the test proves nothing"
    assert np.all(clipped <= 0.5), clipped.max()
    assert np.all(clipped > 0.5 * (1 - 1e-5))  # scaled to clip_norm, not below


def test_a_diverging_run_stops_and_keeps_the_best_finite_weights():
    X, y = windows(2)
    optimizer = SGD(lr=0.01)
    model = SequenceRegressor(cell="rnn", nonlinearity="relu", hidden_size=8, seed=0)
    snapshots = {}

    def blow_up(epoch, history):
        snapshots[epoch] = model.state_dict()
        optimizer.lr = 1e12  # from epoch 2 on: the run diverges
        return False

    history = fit(
        model, X, y, epochs=8, optimizer=optimizer, clip_norm=None, callbacks=[blow_up], verbose=0
    )
    assert history.stop_reason.startswith("non-finite"), history.stop_reason
    assert history.best_epoch == 1
    assert "best train_loss" in history.stop_reason
    assert "at epoch 1, its weights restored" in history.stop_reason
    for name, p in snapshots[1].items():
        np.testing.assert_array_equal(model.params[name], p, err_msg=name)
    assert all(np.isfinite(p).all() for p in model.params.values())


# ---------------------------------------------------------------------------- (c) resources


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_repeated_calls_do_not_grow_resident_memory(one_thread):
    rng = np.random.default_rng(6)
    # x (800 kB) is copied and gates (800 kB) allocated by every call: a leak of either
    # would grow memory by hundreds of MB over 300 calls
    p = make_problem(rng, "lstm", 50, 32, 64, 16, np.float64)
    grads = make_output_grads(rng, "lstm", 50, 32, 16, np.float64)
    strided = {k: np.flip(v) for k, v in p.items()}  # copied by every call
    bad = {**strided, "b_hh": p["b_hh"][:-1]}  # copies made, then refused

    def step():
        out = forward(core, "lstm", strided)
        backward(core, "lstm", strided, out, grads)
        with pytest.raises(ValueError, match="b_hh"):
            core.lstm_forward(**bad)
        core.sum_of_squares(list(out.values()))

    for _ in range(30):  # warm up: allocator pools, lazily loaded code
        step()
    before = resident_bytes()
    for _ in range(300):
        step()
    grown = resident_bytes() - before
    assert grown < 20 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MB over 300 calls"


# Minor page faults of one float32 training step, once warm, for each (cell, T, B, H): the
# least of three rounds of five steps, in a process of its own (faults_per_step). The count is the whole
# process's, and whether NumPy's output arrays (the gates alone are 7.9 MB at H = 128) come
# back as fresh pages depends on glibc's thresholds, which follow everything the process
# freed before: in CI's full suite a step took 899 faults, none of them the kernels' scratch,
# while a process of its own takes none.
_FAULTS = """
import resource, sys
import numpy as np
sys.path.insert(0, {tests!r})
from _problems import backward, forward, make_output_grads, make_problem
from rnnkit import core
core.set_num_threads(1)
cell, T, B, H = {shape!r}
rng = np.random.default_rng(7)
p = make_problem(rng, cell, T, B, 4, H, np.float32)
grads = make_output_grads(rng, cell, T, B, H, np.float32)
for _ in range(3):
    backward(core, cell, p, forward(core, cell, p), grads)
rounds = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        backward(core, cell, p, forward(core, cell, p), grads)
    rounds.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
print(min(rounds))
"""
glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc",
    reason="glibc's heap: other allocators (musl's) unmap NumPy's large outputs at every free",
)


def faults_per_step(*shapes):
    """The faults of a step of each shape, each in a process of its own: one shape's
    steps change the heap the next one starts from (an LSTM after a GRU of its size took
    537 faults a step or 26 from one run to the next, alone 537 every time)."""
    counts = []
    for shape in shapes:
        script = _FAULTS.format(tests=str(Path(__file__).parent), shape=shape)
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        counts.append(float(done.stdout))
    return counts


@glibc_only
def test_a_gru_step_faults_no_more_than_an_lstm_step_of_its_size():
    # The GRU backward's scratch once took 6H a row (two 3H gradients), past the 64 MiB a
    # thread keeps at T*B*H = 3.3 M: 19,700 faults a step against the LSTM's 537 (its
    # outputs'). It takes the LSTM's 4H now.
    gru, lstm = faults_per_step(("gru", 100, 256, 128), ("lstm", 100, 256, 128))
    assert gru <= 1.2 * lstm + 50, f"GRU {gru:.0f} page faults per step, LSTM {lstm:.0f}"


@glibc_only
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_training_steps_in_a_loop_do_not_fault_in_fresh_pages(cell):
    # A training step frees its outputs and scratch at the end. With the LSTM backward's
    # 7.9 MB of scratch allocated afresh per call, glibc gave the heap back to the system
    # after every step and took it again in the next, as 2800 page faults per step, a
    # quarter of its time; each thread now keeps its scratch between calls.
    (faults,) = faults_per_step((cell, 60, 64, 128))
    assert faults < 100, f"{faults:.0f} page faults per training step"


def test_an_allocation_beyond_the_address_space_raises_memory_error():
    # the catalogue's core-size-beyond-memory fails copying a broadcast x; here x is small
    # and contiguous and the kernel's own outputs (gates: 1.6 GB) cannot be allocated under
    # an address-space limit. A subprocess, so that the limit binds nothing else.
    script = textwrap.dedent(
        """
        import resource, numpy as np
        from rnnkit import core
        core.set_num_threads(1)
        with open("/proc/self/statm") as f:
            virtual = int(f.read().split()[0]) * resource.getpagesize()
        rng = np.random.default_rng(0)
        T, B, I, H = 1000, 100, 1, 512
        args = [rng.standard_normal((T, B, I)), None, None, 0.01 * rng.standard_normal((4 * H, I)),
                0.01 * rng.standard_normal((4 * H, H)), np.zeros(4 * H), np.zeros(4 * H)]
        resource.setrlimit(resource.RLIMIT_AS, (virtual + 600 * 2**20, resource.RLIM_INFINITY))
        try:
            core.lstm_forward(*args)
        except MemoryError:
            print("MemoryError")
        y = core.lstm_forward(args[0][:5], *args[1:])[0]  # and the process carries on
        print("finite" if np.isfinite(y).all() else "not finite")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["MemoryError", "finite"], done.stdout + done.stderr


# ---------------------------------------------------------------------------- (d) no code runs


def test_loading_never_executes_code(tmp_path):
    # a whole-file pickle (the catalogue's io-planted-pickle) and a pickle behind an .npy
    # header; for a pickle inside a valid model archive see
    # tests/test_io.py::test_pickled_objects_never_run
    marker = tmp_path / "sprung"
    whole = tmp_path / "whole.npz"
    whole.write_bytes(pickle.dumps(Trap(str(marker))))
    npy = tmp_path / "object.npy"
    np.save(npy, np.array([Trap(str(marker))], dtype=object), allow_pickle=True)
    for path in (whole, npy):
        with pytest.raises(ValueError, match=r"not a readable rnnkit model file"):
            rnnkit.load(path)
    assert not marker.exists()


def test_no_flipped_byte_gets_past_load(tmp_path):
    # every 5th byte of a saved model flipped in turn: load refuses the file with a
    # ValueError, or (a byte zip and npy ignore, such as padding) returns the same model
    path = saved_model(tmp_path)
    model = rnnkit.load(path)
    content = path.read_bytes()
    outcomes = {"refused": 0, "same": 0}
    for position in range(0, len(content), 5):
        path.write_bytes(flip(position)(content))
        try:
            loaded = rnnkit.load(path)
        except ValueError:
            outcomes["refused"] += 1
            continue
        assert loaded.config() == model.config(), position
        for name, p in model.params.items():
            np.testing.assert_array_equal(loaded.params[name], p, err_msg=f"byte {position}")
        outcomes["same"] += 1
    assert outcomes["refused"] > 0.7 * sum(outcomes.values()), outcomes
