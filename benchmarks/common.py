"""Shared pieces of the benchmarks: the grid of shapes, random problems, one training step.

A *training step* is the forward pass over the whole batch followed by backpropagation
through time with a gradient ``dy`` on every output, from zero initial states and with no
gradient on the final states: what one mini-batch of training costs. Every step callable
returns a dict of NumPy arrays (outputs and gradients, keyed as below) so that any two
implementations can be checked against each other with :func:`disagreements`.

Size letters: T time steps, B batch size, I input features, H hidden units.
"""

import numpy as np

import rnnkit

CELLS = ("lstm", "gru", "rnn")

# (T, B, I, H): small to wide layers, a single sequence, and a long sequence
SHAPES = [
    (30, 32, 4, 32),
    (30, 64, 4, 64),
    (60, 64, 4, 128),
    (30, 128, 8, 256),
    (30, 64, 16, 512),
    (30, 1, 4, 64),
    (500, 32, 4, 64),
]

# normwise relative error allowed between a float32 run and the float64 reference
RTOL = 1e-4

_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
_OUTPUTS = {
    "lstm": ("y", "h_n", "c_n", "gates", "cells"),
    "gru": ("y", "h_n", "gates"),
    "rnn": ("y", "h_n"),
}
_GRADIENTS = {
    "lstm": ("dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"),
    "gru": ("dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh"),
    "rnn": ("dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh"),
}


def shape_label(shape):
    """``(30, 32, 4, 32)`` -> ``"T30 B32 I4 H32"``."""
    return "T{} B{} I{} H{}".format(*shape)


def step_flops(cell, T, B, I, H):
    """Floating-point operations of one training step, counting the matrix products only.

    With G gates (LSTM 4, GRU 3, RNN 1), the forward pass is, per step, the product of the
    ``(B, I + H)`` inputs and previous states with the ``(I + H, G*H)`` weights::

        forward  = 2 * T * B * G * H * (I + H)

    Backpropagation through time costs twice that: per step ``dx = dg W_ih`` and
    ``dh = dg W_hh`` (one forward's worth), and over the sequence ``dW_ih`` and ``dW_hh``
    (another)::

        total    = 3 * 2 * T * B * G * H * (I + H)

    The gate activations, the cell update, the biases and their gradients are left out: they
    grow as T * B * G * H, a few percent of the products for all but the narrowest layers.
    A multiply-add counts 2, as in ``peak.py``.
    """
    return 3 * 2 * T * B * _GATES[cell] * H * (I + H)


def make_problem(cell, shape, seed=0):
    """A random float32 problem for one training step of a layer.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}
    shape : tuple of int
        ``(T, B, I, H)``.
    seed : int

    Returns
    -------
    dict of ndarray
        ``x (T, B, I)``, ``w_ih (G*H, I)``, ``w_hh (G*H, H)``, ``b_ih, b_hh (G*H,)`` drawn
        as PyTorch initialises its layers (uniform in +-1/sqrt(H)), and ``dy (T, B, H)``.
    """
    T, B, I, H = shape
    GH = _GATES[cell] * H
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(H)
    arrays = {
        "x": rng.standard_normal((T, B, I)),
        "w_ih": rng.uniform(-bound, bound, (GH, I)),
        "w_hh": rng.uniform(-bound, bound, (GH, H)),
        "b_ih": rng.uniform(-bound, bound, GH),
        "b_hh": rng.uniform(-bound, bound, GH),
        "dy": rng.standard_normal((T, B, H)),
    }
    return {name: a.astype(np.float32) for name, a in arrays.items()}


def training_step(impl, cell, problem):
    """A zero-argument callable running one training step with ``impl``.

    Parameters
    ----------
    impl : module
        ``rnnkit.core`` or ``rnnkit.reference`` (same four functions).
    cell : {"lstm", "gru", "rnn"}
    problem : dict of ndarray
        From :func:`make_problem`, in any float dtype.

    Returns
    -------
    callable
        Returns a dict of every output (``y``, ``h_n``, and for the LSTM ``c_n``, ``gates``,
        ``cells``, for the GRU ``gates``) and every gradient (``dx``, ``dh0``, ``dw_ih`` ...).
    """
    x, dy = problem["x"], problem["dy"]
    weights = [problem[name] for name in ("w_ih", "w_hh", "b_ih", "b_hh")]
    w_ih, w_hh = weights[:2]

    def lstm_step():
        y, h_n, c_n, gates, cells = impl.lstm_forward(x, None, None, *weights)
        grads = impl.lstm_backward(x, None, None, w_ih, w_hh, y, gates, cells, dy, None, None)
        return _named(cell, (y, h_n, c_n, gates, cells), grads)

    def gru_step():
        y, h_n, gates = impl.gru_forward(x, None, *weights)
        grads = impl.gru_backward(x, None, w_ih, w_hh, y, gates, dy, None)
        return _named(cell, (y, h_n, gates), grads)

    def rnn_step():
        y, h_n = impl.rnn_forward(x, None, *weights)
        grads = impl.rnn_backward(x, None, w_ih, w_hh, y, dy, None)
        return _named(cell, (y, h_n), grads)

    return {"lstm": lstm_step, "gru": gru_step, "rnn": rnn_step}[cell]


def _named(cell, outputs, gradients):
    names = _OUTPUTS[cell] + _GRADIENTS[cell]
    return dict(zip(names, (*outputs, *gradients), strict=True))


def reference_result(cell, problem):
    """The float64 NumPy reference's training step on the same numbers: the yardstick."""
    problem64 = {name: a.astype(np.float64) for name, a in problem.items()}
    return training_step(rnnkit.reference, cell, problem64)()


def disagreements(result, expected, rtol=RTOL):
    """The arrays of ``result`` whose normwise relative error against ``expected`` is >= rtol.

    Returns
    -------
    dict
        Name -> ``||result - expected|| / ||expected||`` (Frobenius), only for the arrays
        that fail; empty when all agree. Only the names in ``result`` are compared, so a
        step that returns fewer arrays (PyTorch has no dh0) is checked on what it has.
    """
    errors = {}
    for name, actual in result.items():
        desired = expected[name]
        err = float(np.linalg.norm(actual - desired) / np.linalg.norm(desired))
        if not err < rtol:  # also catches NaN
            errors[name] = err
    return errors


def import_torch():
    """The torch module, or None when it is not installed: it is optional everywhere here."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_training_step(cell, problem):
    """The PyTorch equivalent of :func:`training_step`, or None without torch.

    ``torch.nn.LSTM``, ``torch.nn.GRU`` or ``torch.nn.RNN`` (tanh) with the problem's weights, input with
    ``requires_grad``, then ``y.backward(dy)``. The callable returns ``y``, ``h_n``
    (``c_n``), ``dx`` and the weight gradients, named as in :func:`training_step`.
    """
    torch = import_torch()
    if torch is None:
        return None
    input_size, hidden_size = problem["x"].shape[2], problem["w_hh"].shape[1]
    if cell == "lstm":
        layer = torch.nn.LSTM(input_size, hidden_size)
    elif cell == "gru":
        layer = torch.nn.GRU(input_size, hidden_size)
    else:
        layer = torch.nn.RNN(input_size, hidden_size, nonlinearity="tanh")
    params = {
        "w_ih": layer.weight_ih_l0,
        "w_hh": layer.weight_hh_l0,
        "b_ih": layer.bias_ih_l0,
        "b_hh": layer.bias_hh_l0,
    }
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(torch.from_numpy(problem[name]))
    x = torch.from_numpy(problem["x"]).requires_grad_()
    dy = torch.from_numpy(problem["dy"])

    def step():
        # gradients accumulate in .grad: drop the last step's, as an optimizer's zero_grad does
        x.grad = None
        layer.zero_grad(set_to_none=True)
        y, state = layer(x)
        y.backward(dy)
        # torch's final states carry a leading layer axis (1, B, H)
        finals = {"h_n": state[0][0], "c_n": state[1][0]} if cell == "lstm" else {"h_n": state[0]}
        result = {"y": y, **finals, "dx": x.grad}
        result.update({"d" + name: p.grad for name, p in params.items()})
        return {name: t.detach().numpy() for name, t in result.items()}

    return step
