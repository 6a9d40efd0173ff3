"""Shared test helpers: random problems, the scalar loss, finite differences, tolerances,
and a fresh Python to run a script in.

Imported by the test modules as ``from _problems import ...`` (tests/ has no __init__.py,
so pytest's default import mode puts tests/ on sys.path).

A *cell* is one of ``CELLS``; every helper that runs a layer takes the implementation module
(``rnnkit.reference`` or the core wrapper: same function names and signatures) and returns
dicts keyed by argument names, so RNN, LSTM and GRU tests read the same.
"""

import numpy as np

from rnnkit import core, reference

# (name, module) pairs of implementations with the same four functions
IMPLEMENTATIONS = [("reference", reference), ("core", core)]

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
# The LSTM's variants as cells of their own ("lstm_cifg"...): every helper takes them
LSTM_VARIANT_CELLS = tuple(f"lstm_{v}" for v in reference.LSTM_VARIANTS if v != "vanilla")


def lstm_variant(cell):
    """The LSTM variant a cell names ("lstm" is the vanilla one), or None for another cell."""
    if cell == "lstm":
        return "vanilla"
    return cell.removeprefix("lstm_") if cell in LSTM_VARIANT_CELLS else None


# normwise relative tolerance of assert_close, per dtype
RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


def _draw(rng, shape, scale, dtype):
    # drawn in float64 and cast, so one seed gives the same problem in both dtypes
    return (scale * rng.standard_normal(shape)).astype(dtype)


def make_rnn_problem(rng, T, B, I, H, dtype=np.float64, with_h0=True):
    """Keyword arguments of ``rnn_forward`` except nonlinearity: x, h0, w_ih, w_hh, b_ih, b_hh."""
    return {
        "x": _draw(rng, (T, B, I), 1.0, dtype),
        "h0": _draw(rng, (B, H), 0.5, dtype) if with_h0 else None,
        "w_ih": _draw(rng, (H, I), 1 / np.sqrt(I), dtype),
        "w_hh": _draw(rng, (H, H), 1 / np.sqrt(H), dtype),
        "b_ih": _draw(rng, (H,), 0.5, dtype),
        "b_hh": _draw(rng, (H,), 0.5, dtype),
    }


def make_lstm_problem(rng, T, B, I, H, dtype=np.float64, with_h0=True, with_c0=True):
    """Keyword arguments of ``lstm_forward``: x, h0, c0, w_ih, w_hh, b_ih, b_hh."""
    return {
        "x": _draw(rng, (T, B, I), 1.0, dtype),
        "h0": _draw(rng, (B, H), 0.5, dtype) if with_h0 else None,
        "c0": _draw(rng, (B, H), 1.0, dtype) if with_c0 else None,
        "w_ih": _draw(rng, (4 * H, I), 1 / np.sqrt(I), dtype),
        "w_hh": _draw(rng, (4 * H, H), 1 / np.sqrt(H), dtype),
        "b_ih": _draw(rng, (4 * H,), 0.5, dtype),
        "b_hh": _draw(rng, (4 * H,), 0.5, dtype),
    }


def make_gru_problem(rng, T, B, I, H, dtype=np.float64, with_h0=True):
    """Keyword arguments of ``gru_forward``: x, h0, w_ih, w_hh, b_ih, b_hh."""
    return {
        "x": _draw(rng, (T, B, I), 1.0, dtype),
        "h0": _draw(rng, (B, H), 0.5, dtype) if with_h0 else None,
        "w_ih": _draw(rng, (3 * H, I), 1 / np.sqrt(I), dtype),
        "w_hh": _draw(rng, (3 * H, H), 1 / np.sqrt(H), dtype),
        "b_ih": _draw(rng, (3 * H,), 0.5, dtype),
        "b_hh": _draw(rng, (3 * H,), 0.5, dtype),
    }


def make_problem(rng, cell, T, B, I, H, dtype=np.float64, with_state=True):
    """The make_*_problem of a cell of CELLS (with_state: h0, and c0 for the LSTM)."""
    if lstm_variant(cell):
        return make_lstm_problem(rng, T, B, I, H, dtype, with_state, with_state)
    if cell == "gru":
        return make_gru_problem(rng, T, B, I, H, dtype, with_state)
    return make_rnn_problem(rng, T, B, I, H, dtype, with_state)


def make_output_grads(rng, cell, T, B, H, dtype=np.float64, with_dy=True):
    """Incoming gradients for backward: dy (or None), dh_n, and dc_n for the LSTM."""
    grads = {
        "dy": _draw(rng, (T, B, H), 1.0, dtype) if with_dy else None,
        "dh_n": _draw(rng, (B, H), 1.0, dtype),
    }
    if lstm_variant(cell):
        grads["dc_n"] = _draw(rng, (B, H), 1.0, dtype)
    return grads


def rnn_preactivations(problem, y):
    """Pre-activations (T, B, H) of an RNN run that produced y: the margin to relu's kink."""
    p = problem
    h0 = np.zeros_like(y[0]) if p["h0"] is None else p["h0"]
    h_prev = np.concatenate([h0[None], y[:-1]])
    return p["x"] @ p["w_ih"].T + p["b_ih"] + p["b_hh"] + h_prev @ p["w_hh"].T


def forward(impl, cell, problem, keep="all"):
    """Run the cell's forward; a dict of outputs: y, h_n (+ c_n, gates, cells for the LSTM,
    + gates for the GRU), None where ``keep`` keeps nothing."""
    if lstm_variant(cell):
        names = ("y", "h_n", "c_n", "gates", "cells")
        out = impl.lstm_forward(**problem, variant=lstm_variant(cell), keep=keep)
        return dict(zip(names, out, strict=True))
    if cell == "gru":
        out = impl.gru_forward(**problem, keep=keep)
        return dict(zip(("y", "h_n", "gates"), out, strict=True))
    y, h_n = impl.rnn_forward(**problem, nonlinearity=cell.removeprefix("rnn_"), keep=keep)
    return {"y": y, "h_n": h_n}


def backward(impl, cell, problem, out, grads):
    """Run the cell's backward; a dict of gradients keyed by the input they belong to."""
    p = problem
    if lstm_variant(cell):
        names = ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")
        result = impl.lstm_backward(
            p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"],
            out["y"], out["gates"], out["cells"],
            grads["dy"], grads["dh_n"], grads["dc_n"], variant=lstm_variant(cell),
        )  # fmt: skip
    elif cell == "gru":
        names = ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh")
        result = impl.gru_backward(
            p["x"], p["h0"], p["w_ih"], p["w_hh"], out["y"], out["gates"],
            grads["dy"], grads["dh_n"],
        )  # fmt: skip
    else:
        names = ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh")
        result = impl.rnn_backward(
            p["x"], p["h0"], p["w_ih"], p["w_hh"], out["y"], grads["dy"], grads["dh_n"],
            nonlinearity=cell.removeprefix("rnn_"),
        )  # fmt: skip
    return dict(zip(names, result, strict=True))


def loss(out, grads):
    """L = sum(dy * y) + sum(dh_n * h_n) (+ sum(dc_n * c_n)); None terms are left out.

    Its gradient w.r.t. y, h_n, c_n is exactly dy, dh_n, dc_n: what backward is given.
    """
    pairs = (("dy", "y"), ("dh_n", "h_n"), ("dc_n", "c_n"))
    return sum(float(np.sum(grads[g] * out[o])) for g, o in pairs if grads.get(g) is not None)


def numerical_gradient(f, a, eps=1e-6):
    """Central differences of the scalar f() w.r.t. every entry of a (perturbed in place)."""
    g = np.empty(a.shape)
    for k in np.ndindex(a.shape):
        old = a[k]
        a[k] = old + eps
        f_plus = f()
        a[k] = old - eps
        f_minus = f()
        a[k] = old
        g[k] = (f_plus - f_minus) / (2 * eps)
    return g


def normwise_error(actual, desired):
    """max|actual - desired| / max(1, max|desired|)."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    scale = max(1.0, float(np.max(np.abs(desired), initial=0.0)))
    return float(np.max(np.abs(actual - desired), initial=0.0)) / scale


def assert_close(actual, desired, dtype, name="array", rtol=None):
    """Assert max|a - d| <= rtol * max(1, max|d|), rtol from RTOL[dtype] unless given."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    if rtol is None:
        rtol = RTOL[np.dtype(dtype)]
    assert actual.shape == desired.shape, (
        f"{name}: shape {actual.shape} != expected {desired.shape}"
    )
    err = normwise_error(actual, desired)
    assert err <= rtol, (
        f"{name}: normwise error max|a-d|/max(1,max|d|) = {err:.3e} exceeds "
        f"rtol = {rtol:.0e} ({np.dtype(dtype).name})"
    )


def as_float64(arrays):
    return {k: None if v is None else v.astype(np.float64) for k, v in arrays.items()}


def check_against_reference(cell, T, B, I, H, dtype, with_state, with_dy, seed):
    """Core forward and backward against the reference run in float64, at dtype's tolerance."""
    rng = np.random.default_rng(seed)
    problem = make_problem(rng, cell, T, B, I, H, dtype, with_state)
    grads = make_output_grads(rng, cell, T, B, H, dtype, with_dy)

    out = forward(core, cell, problem)
    expected_out = forward(reference, cell, as_float64(problem))
    for name, value in out.items():
        assert value.dtype == dtype, name
        assert_close(value, expected_out[name], dtype, name)

    # Backward from the core's own saved activations, as training does.
    got = backward(core, cell, problem, out, grads)
    expected = backward(reference, cell, as_float64(problem), expected_out, as_float64(grads))
    for name, value in got.items():
        assert value.dtype == dtype, f"d{name}"
        assert_close(value, expected[name], dtype, f"d{name}")


def run_python(script, env=None, timeout=None):
    """Run ``script`` in a fresh Python (``env``: its environment, default ours); the
    finished process, whose exit status must be 0 (else its stderr is the failure).
    ``timeout`` seconds, for a script that might hang, raise subprocess.TimeoutExpired."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False, capture_output=True, text=True, env=env, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def dated_prices(n, seed):
    """A GARCH price series of ``n`` business days from 2020-01-01, as pandas reads a CSV."""
    import pandas as pd

    from rnnkit.datasets import garch_series

    prices = garch_series(n, seed=seed)
    return pd.Series(prices, index=pd.date_range("2020-01-01", periods=n, freq="B"), name="p")


def error_line(capsys):
    """The one line a command wrote to stderr for a user's error."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnkit: error: ")
    assert len(err.splitlines()) == 1
    return err


def interrupt_fit(monkeypatch, at):
    """From here on, the ``at``-th call of Forecaster.fit raises KeyboardInterrupt (Ctrl-C)
    as it starts; the others fit. Returns the real fit, to put back."""
    from rnnkit import Forecaster

    fit, calls = Forecaster.fit, []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == at:
            raise KeyboardInterrupt
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Forecaster, "fit", interrupted)
    return fit
