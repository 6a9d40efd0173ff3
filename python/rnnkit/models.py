"""Recurrent layers and a sequence regressor on top of the C++ core.

Every layer of a stack runs forward in ONE call to ``rnnkit.core.lstm_forward``
(or ``gru_forward``, ``rnn_forward``) over the whole sequence and batch, and backward
in one call to the matching backward: there is no Python loop over time. The Python API is
batch-first, ``(N, T, features)``; the input is transposed to time-major once,
on the way in, and the outputs and input gradients are transposed back as views.

Parameters are named NumPy arrays with PyTorch's names and layouts
(``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
``weight_ih_l1``, ...), so weights move between rnnkit and ``torch.nn.LSTM``,
``torch.nn.GRU`` and ``torch.nn.RNN`` unchanged.

Size letters::

    N  windows (batch)      T  time steps       F  input features
    H  hidden units         G  gates: 1 for the RNN, 4 for the LSTM (i, f, g, o),
                               3 for the GRU (r, z, n)
"""

import inspect

import numpy as np

from . import core
from ._checks import (
    check_choice,
    check_dtype,
    check_int,
    check_probability,
    check_real,
    float_array,
)
from .reference import lstm_variant

__all__ = ["GRU", "LSTM", "RNN", "SequenceRegressor"]

_NONLINEARITIES = ("tanh", "relu")
CELLS = ("lstm", "gru", "rnn")
# The three side by side, fewest gates first: what the main job and the experiments train
NETWORKS = ("rnn", "gru", "lstm")
# The forget-gate bias offset that keeps an LSTM's memory open early in training
# (Gers et al. 2000; Jozefowicz et al. 2015): the Forecaster's and the experiments'
# default. The layers themselves default to 0.0, PyTorch's initialisation exactly.
RECOMMENDED_FORGET_BIAS = 1.0
# Windows per forward call when predicting or evaluating: enough to keep the kernels busy,
# few enough that a call's inputs stay small; the forward-only kernels keep nothing that grows
# with T but the outputs of a layer below the last, the next layer's input.
INFERENCE_BATCH = 256


def _check_sequences(x, name, features, dtype):
    """x as a (N, T, features) array of dtype (a copy only if needed), else a clear error."""
    x = float_array(name, x, dtype)
    _check_window_shape(x, name, features)
    return x


def _check_window_shape(x, name, features):
    if x.ndim != 3 or x.shape[2] != features or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(
            f"{name} must have shape (N, T, {features}) with N, T >= 1 (batch-first windows), "
            f"got shape {x.shape}"
        )


def _check_gradient(g, name, shape, dtype):
    """An incoming gradient: None, or an array of exactly ``shape`` cast to dtype."""
    if g is None:
        return None
    g = np.asarray(g, dtype=dtype)
    if g.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {g.shape}")
    return g


def _time_major(a):
    """(N, T, F) -> contiguous (T, N, F): the layout the core works in."""
    return np.ascontiguousarray(a.transpose(1, 0, 2))


def _batch_first(a):
    """(T, N, ...) -> a (N, T, ...) view."""
    return a.swapaxes(0, 1)


def _read_only_batch_first(a):
    """A batch-first view that cannot be written: saved activations must survive for backward."""
    view = _batch_first(a)
    view.flags.writeable = False
    return view


def _layer_shapes(gates, input_size, hidden_size, num_layers):
    """Every parameter's shape of a stack of layers, by PyTorch's names, in order."""
    GH, shapes = gates * hidden_size, {}
    for k in range(num_layers):
        shapes[f"weight_ih_l{k}"] = (GH, input_size if k == 0 else hidden_size)
        shapes[f"weight_hh_l{k}"] = (GH, hidden_size)
        shapes[f"bias_ih_l{k}"] = (GH,)
        shapes[f"bias_hh_l{k}"] = (GH,)
    return shapes


def dropout_mask(rng, shape, rate, dtype):
    """Inverted dropout's mask: each unit kept with probability 1 - ``rate`` and then
    scaled by 1 / (1 - rate), so that the expected input of the next layer is unchanged
    and predicting needs no rescaling (as PyTorch and Keras do)."""
    kept = rng.random(shape) >= rate
    return kept.astype(dtype) / dtype.type(1.0 - rate)


class _Recurrent:
    """A stack of ``num_layers`` recurrent layers of one cell; RNN, LSTM and GRU fill in the
    cell."""

    _gates = 1  # G: rows of the weight matrices per hidden unit
    _state_names = ("h",)  # what a layer carries from one step to the next

    def __init__(self, input_size, hidden_size, num_layers, dropout, dtype, seed):
        self.input_size = check_int("input_size", input_size)
        self.hidden_size = check_int("hidden_size", hidden_size)
        self.num_layers = check_int("num_layers", num_layers)
        self.dropout = check_probability("dropout", dropout)
        self.dtype = check_dtype("dtype", dtype)
        # One generator for the initial weights and, afterwards, the dropout masks;
        # default_rng returns a Generator passed as seed unchanged, so a model can share its own.
        self.rng = np.random.default_rng(seed)
        self.params = self._init_params()
        self._cache = None

    def _init_params(self):
        """PyTorch's initialisation: every parameter uniform in +-1/sqrt(H)."""
        bound = 1.0 / np.sqrt(self.hidden_size)
        shapes = _layer_shapes(self._gates, self.input_size, self.hidden_size, self.num_layers)
        return {
            name: self.rng.uniform(-bound, bound, shape).astype(self.dtype)
            for name, shape in shapes.items()
        }

    def _weights(self, k):
        p = self.params
        return p[f"weight_ih_l{k}"], p[f"weight_hh_l{k}"], p[f"bias_ih_l{k}"], p[f"bias_hh_l{k}"]

    def num_parameters(self):
        """Number of scalar parameters."""
        return sum(p.size for p in self.params.values())

    def forward(self, x, training=False, keep=True):
        """Run the stack over whole sequences.

        Parameters
        ----------
        x : array_like (N, T, F)
            Batch-first input windows; converted to the layer's dtype.
        training : bool
            Apply dropout between layers (drawn from ``self.rng``).
        keep : bool
            Keep the activations on the layer for :meth:`backward` and
            :attr:`activations`; False computes none of them but the outputs and drops
            those with the call (inference: nothing shared is written, so several
            threads may run it at once).

        Returns
        -------
        outputs : ndarray (N, T, H)
            Hidden states of the last layer at every step: a read-only view of
            what backward needs.
        h_n : ndarray (N, H)
            Final hidden state of the last layer.
        """
        cache = self._forward(x, training, keep, None)
        return _read_only_batch_first(cache[-1]["y"]), cache[-1]["h_n"]

    def forward_sequence(self, x, state=None, training=False, keep=True):
        """Run the stack over sequences from a given state, and return the state it ends in.

        Parameters
        ----------
        x : array_like (N, T, F)
        state : list or None
            Every layer's initial state, as :meth:`check_state` takes it; None: zeros.
        training, keep
            As for :meth:`forward`. :meth:`backward` then treats ``state`` as a constant:
            no gradient flows into it (truncated backpropagation through time).

        Returns
        -------
        outputs : ndarray (N, T, H)
            Hidden states of the last layer at every step (a read-only view).
        state : list
            Every layer's final state, in the form ``state`` takes: the next call's
            starting point for a sequence read in pieces.
        """
        x = _check_sequences(x, "x", self.input_size, self.dtype)
        cache = self._forward(x, training, keep, self.check_state(state, len(x)))
        return _read_only_batch_first(cache[-1]["y"]), [self._final_state(s) for s in cache]

    def _forward(self, x, training, keep, state):
        if keep:
            self._cache = None  # the last call's activations go before this call's arrive
        cache = self._run(x, training, state, "all" if keep else "outputs")
        if keep:
            self._cache = cache
        return cache

    def forward_state(self, x, state=None):
        """Every layer's final state after reading sequences ``x`` (N, T, F) from ``state``
        (None: zeros), without dropout: inference, which computes no activation for a
        backward pass and keeps no step's output, so that memory grows with the batch, not
        with its length; nothing shared is written.

        Returns
        -------
        list
            Every layer's final state, in the form ``state`` takes (:meth:`check_state`).
        """
        x = _check_sequences(x, "x", self.input_size, self.dtype)
        cache = self._run(x, False, self.check_state(state, len(x)), "state")
        return [self._final_state(s) for s in cache]

    def check_state(self, state, batch):
        """``state`` as the layers take it, or an error naming what does not fit.

        A state is a list with one tuple per layer (first layer first): ``(h, c)`` for the
        LSTM, ``(h,)`` for the GRU and the RNN, each array (batch, H), cast to the
        layer's dtype. None (zeros) is returned as it is.
        """
        if state is None:
            return None
        names = self._state_names
        if not isinstance(state, list | tuple) or len(state) != self.num_layers:
            raise ValueError(
                f"state must be a list of {self.num_layers} per-layer tuples {names}, got "
                f"{type(state).__name__}"
                + (f" of {len(state)}" if hasattr(state, "__len__") else "")
            )
        checked = []
        for k, layer in enumerate(state):
            if not isinstance(layer, list | tuple) or len(layer) != len(names):
                raise ValueError(f"state[{k}] must be a tuple {names}, got {layer!r:.80}")
            arrays = tuple(float_array(f"state[{k}]", a, self.dtype) for a in layer)
            for name, a in zip(names, arrays, strict=True):
                if a.shape != (batch, self.hidden_size):
                    raise ValueError(
                        f"state[{k}]'s {name} must have shape {(batch, self.hidden_size)} "
                        f"(sequences, hidden units), got {a.shape}"
                    )
            checked.append(arrays)
        return checked

    def _run(self, x, training, state=None, keep="all"):
        """Every layer's activations for ``x`` from ``state`` (None: zeros), as a list of dicts
        (time-major). ``keep`` is the last layer's ``keep`` of the core's forward: "all" keeps
        every layer's activations for the backward pass; otherwise a layer below the last
        keeps only its outputs, the next layer's input, and drops them once read."""
        x = _time_major(_check_sequences(x, "x", self.input_size, self.dtype))
        cache = []
        for k in range(self.num_layers):
            last = k == self.num_layers - 1
            layer_keep = keep if last or keep == "all" else "outputs"
            saved = self._cell_forward(
                x, self._weights(k), None if state is None else state[k], layer_keep
            )
            if keep == "all":
                saved["x"] = x
            if training and self.dropout > 0 and not last:
                saved["mask"] = dropout_mask(self.rng, saved["y"].shape, self.dropout, self.dtype)
                x = saved["y"] * saved["mask"]
            else:
                x = saved["y"]
            if keep != "all" and not last:
                saved["y"] = None
            cache.append(saved)
        return cache

    def release_activations(self):
        """Drop the activations the last forward kept for :meth:`backward`."""
        self._cache = None

    def backward(self, d_out=None, d_last=None):
        """Backpropagate through the stack for the last forward call.

        The initial state of a :meth:`forward_sequence` call is a constant here: its
        gradient is not computed further (the chunk edge of truncated BPTT).

        Parameters
        ----------
        d_out : array_like (N, T, H) or None
            Gradient of the loss w.r.t. the outputs; None means none.
        d_last : array_like (N, H) or None
            Gradient w.r.t. the last layer's final hidden state; None means none.

        Returns
        -------
        dx : ndarray (N, T, F)
            Gradient w.r.t. the input (a view).
        grads : dict
            Gradient of every parameter, keyed like ``params``.
        """
        if self._cache is None:
            raise RuntimeError("backward needs a forward call first")
        T, N, H = self._cache[-1]["y"].shape
        dy = _check_gradient(d_out, "d_out", (N, T, H), self.dtype)
        dy = None if dy is None else _time_major(dy)
        dh_n = _check_gradient(d_last, "d_last", (N, H), self.dtype)
        grads = {}
        for k in range(self.num_layers - 1, -1, -1):
            saved = self._cache[k]
            dx, dw_ih, dw_hh, db_ih, db_hh = self._cell_backward(saved, self._weights(k), dy, dh_n)
            grads[f"weight_ih_l{k}"], grads[f"weight_hh_l{k}"] = dw_ih, dw_hh
            grads[f"bias_ih_l{k}"], grads[f"bias_hh_l{k}"] = db_ih, db_hh
            if k > 0:
                mask = self._cache[k - 1].get("mask")
                dy = dx if mask is None else dx * mask
                dh_n = None  # the loss sees only the last layer's final state
        return _batch_first(dx), {name: grads[name] for name in self.params}

    @property
    def activations(self):
        """What the last forward call saved, per layer, as read-only batch-first views.

        A list with one dict per layer: ``"outputs"`` (N, T, H) and, for the
        LSTM, ``"gates"`` (N, T, 4H, gates i, f, g, o after their activations)
        and ``"cells"`` (N, T, H); for the GRU, ``"gates"`` (N, T, 4, H: the reset
        gate r, the update gate z, the candidate n and W_hn h + b_hn). Empty before
        the first forward call.
        """
        return _public_activations(self._cache or [])

    def trace(self, x):
        """The activations of a forward call on ``x`` without dropout, as :attr:`activations`
        lists them, kept nowhere: the layer is left as it was (threads may trace at once).
        """
        return _public_activations(self._run(x, training=False))


def _public_activations(cache):
    """Per layer, the saved arrays a user may read, as read-only batch-first views."""
    names = {"y": "outputs", "gates": "gates", "cells": "cells"}
    return [
        {new: _read_only_batch_first(saved[old]) for old, new in names.items() if old in saved}
        for saved in cache
    ]


class RNN(_Recurrent):
    """A stack of vanilla (Elman) RNN layers, like ``torch.nn.RNN(batch_first=True)``.

    ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, with act tanh or relu.

    Parameters
    ----------
    input_size : int
        Features F of the input.
    hidden_size : int
        Hidden units H of every layer.
    num_layers : int
        Stacked layers; layer k > 0 reads the outputs of layer k - 1.
    nonlinearity : {"tanh", "relu"}
    dropout : float
        Dropout probability on the outputs of every layer but the last, in
        training mode only (as PyTorch; no effect with one layer).
    dtype : float32 or float64
    seed : int, numpy.random.Generator or None
        Seeds the initial weights and then the dropout masks (``self.rng``).

    Attributes
    ----------
    params : dict of str to ndarray
        ``weight_ih_l{k}`` (H, F or H), ``weight_hh_l{k}`` (H, H),
        ``bias_ih_l{k}`` (H,), ``bias_hh_l{k}`` (H,): the live arrays.
    """

    _gates = 1

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        nonlinearity="tanh",
        dropout=0.0,
        dtype="float32",
        seed=None,
    ):
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, _NONLINEARITIES)
        super().__init__(input_size, hidden_size, num_layers, dropout, dtype, seed)

    def _cell_forward(self, x, weights, state, keep):
        (h0,) = state or (None,)
        y, h_n = core.rnn_forward(x, h0, *weights, nonlinearity=self.nonlinearity, keep=keep)
        return {"y": y, "h_n": h_n, "state": state}

    def _final_state(self, saved):
        return (saved["h_n"],)

    def _cell_backward(self, saved, weights, dy, dh_n):
        w_ih, w_hh = weights[:2]
        (h0,) = saved["state"] or (None,)
        dx, _, dw_ih, dw_hh, db_ih, db_hh = core.rnn_backward(
            saved["x"], h0, w_ih, w_hh, saved["y"], dy, dh_n, nonlinearity=self.nonlinearity
        )
        return dx, dw_ih, dw_hh, db_ih, db_hh


class LSTM(_Recurrent):
    """A stack of LSTM layers, like ``torch.nn.LSTM(batch_first=True)``.

    Gates i, f, g, o in PyTorch's order and layout (weights ``(4H, inputs)``).

    Parameters
    ----------
    input_size, hidden_size, num_layers, dropout, dtype, seed
        As for :class:`RNN`.
    forget_bias : float
        Added to the forget-gate slice (rows H:2H) of every ``bias_ih_l{k}``
        after the initialisation. PyTorch has no such option; 1.0 is the common
        trick that keeps the cell's memory open early in training. 0.0 gives
        PyTorch's initialisation exactly.
    variant : str
        "vanilla", or one of Greff et al.'s variants (``rnnkit.reference.LSTM_VARIANTS``:
        "nig", "nfg", "nog" hold the input, forget or output gate at 1, "niaf" and
        "noaf" drop the input or output activation, "cifg" sets f = 1 - i). The
        parameters keep all four gate blocks; those of a gate the variant does not use
        get zero gradients, so an optimizer without weight decay leaves them as
        initialised.

    Attributes
    ----------
    params : dict of str to ndarray
        ``weight_ih_l{k}`` (4H, F or H), ``weight_hh_l{k}`` (4H, H),
        ``bias_ih_l{k}`` (4H,), ``bias_hh_l{k}`` (4H,): the live arrays.
    """

    _gates = 4
    _state_names = ("h", "c")

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        dropout=0.0,
        dtype="float32",
        seed=None,
        forget_bias=0.0,
        variant="vanilla",
    ):
        self.forget_bias = check_real("forget_bias", forget_bias)
        self.variant = lstm_variant(variant)
        super().__init__(input_size, hidden_size, num_layers, dropout, dtype, seed)
        H = self.hidden_size
        for k in range(self.num_layers):
            self.params[f"bias_ih_l{k}"][H : 2 * H] += self.dtype.type(self.forget_bias)

    def _cell_forward(self, x, weights, state, keep):
        h0, c0 = state or (None, None)
        y, h_n, c_n, gates, cells = core.lstm_forward(x, h0, c0, *weights, self.variant, keep)
        return {"y": y, "h_n": h_n, "c_n": c_n, "gates": gates, "cells": cells, "state": state}

    def _final_state(self, saved):
        return saved["h_n"], saved["c_n"]

    def _cell_backward(self, saved, weights, dy, dh_n):
        w_ih, w_hh = weights[:2]
        h0, c0 = saved["state"] or (None, None)
        dx, _, _, dw_ih, dw_hh, db_ih, db_hh = core.lstm_backward(
            saved["x"], h0, c0, w_ih, w_hh,
            saved["y"], saved["gates"], saved["cells"], dy, dh_n, None, self.variant,
        )  # fmt: skip
        return dx, dw_ih, dw_hh, db_ih, db_hh


class GRU(_Recurrent):
    """A stack of GRU layers, like ``torch.nn.GRU(batch_first=True)``.

    Gates r, z, n in PyTorch's order, layout and formulation (weights ``(3H,
    inputs)``; ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n
    + z * h``): two gates and no cell state, between the RNN and the LSTM.

    Parameters
    ----------
    input_size, hidden_size, num_layers, dropout, dtype, seed
        As for :class:`RNN`.

    Attributes
    ----------
    params : dict of str to ndarray
        ``weight_ih_l{k}`` (3H, F or H), ``weight_hh_l{k}`` (3H, H),
        ``bias_ih_l{k}`` (3H,), ``bias_hh_l{k}`` (3H,): the live arrays.
    """

    _gates = 3

    def __init__(
        self, input_size, hidden_size, num_layers=1, dropout=0.0, dtype="float32", seed=None
    ):
        super().__init__(input_size, hidden_size, num_layers, dropout, dtype, seed)

    def _cell_forward(self, x, weights, state, keep):
        (h0,) = state or (None,)
        y, h_n, gates = core.gru_forward(x, h0, *weights, keep)
        return {"y": y, "h_n": h_n, "gates": gates, "state": state}

    def _final_state(self, saved):
        return (saved["h_n"],)

    def _cell_backward(self, saved, weights, dy, dh_n):
        w_ih, w_hh = weights[:2]
        (h0,) = saved["state"] or (None,)
        dx, _, dw_ih, dw_hh, db_ih, db_hh = core.gru_backward(
            saved["x"], h0, w_ih, w_hh, saved["y"], saved["gates"], dy, dh_n
        )
        return dx, dw_ih, dw_hh, db_ih, db_hh


class SequenceRegressor:
    """Stacked RNN, LSTM or GRU layers and a linear head on the last hidden state.

    ``prediction = head.weight @ h_T + head.bias`` where h_T is the final hidden
    state of the last layer: a window of T steps in, ``output_size`` numbers out
    (for example the next ``horizon`` values). A stateful network reads long
    sequences instead, with the head at every step, from a given state and on to the
    next call (:meth:`forward_sequence`, :meth:`backward_sequence`,
    :meth:`predict_sequence`, :meth:`state_after`).

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}
    input_size : int
        Features F per time step.
    hidden_size : int
        Hidden units H of every layer.
    output_size : int
        Outputs of the head.
    num_layers : int
        Stacked recurrent layers.
    dropout : float
        In training mode, the rate of inverted dropout on the input windows, between
        recurrent layers (as :class:`RNN` and :class:`LSTM` do) and on the last
        hidden state before the head: where a Keras user puts ``dropout=`` on the
        recurrent layer and a ``Dropout`` layer before ``Dense``. So it acts with one
        layer too. Never at predict time.
    nonlinearity : {"tanh", "relu"}
        The RNN's activation; not used by the LSTM and the GRU.
    forget_bias : float
        The LSTM's forget-gate bias offset (see :class:`LSTM`); not used by the others.
    variant : str
        The LSTM's variant (see :class:`LSTM`); the other cells take only "vanilla".
    dtype : float32 or float64
    seed : int or None
        Seeds the initial weights (recurrent layers first, then the head, which
        PyTorch's ``nn.Linear`` also draws uniform in +-1/sqrt(H)) and then the
        dropout masks.

    Attributes
    ----------
    params : dict of str to ndarray
        The recurrent layers' parameters under PyTorch's names, then
        ``head.weight`` (output_size, H) and ``head.bias`` (output_size,). These
        are the live arrays: optimizers update them in place.
    recurrent : RNN, LSTM or GRU
        The stack of recurrent layers (its ``activations`` show the gates).
    """

    def __init__(
        self,
        cell="lstm",
        input_size=1,
        hidden_size=50,
        output_size=1,
        num_layers=1,
        dropout=0.0,
        nonlinearity="tanh",
        forget_bias=0.0,
        dtype="float32",
        seed=None,
        variant="vanilla",
    ):
        self.cell = check_choice("cell", cell, CELLS)
        self.variant = lstm_variant(variant)
        if self.cell != "lstm" and self.variant != "vanilla":
            raise ValueError(
                f"variant={variant!r} is a variant of the LSTM; cell={cell!r} takes only 'vanilla'"
            )
        check_choice("nonlinearity", nonlinearity, _NONLINEARITIES)
        self.output_size = check_int("output_size", output_size)
        self.nonlinearity = nonlinearity
        self.seed = seed
        rng = np.random.default_rng(seed)
        common = {
            "input_size": input_size,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": dropout,
            "dtype": dtype,
            "seed": rng,
        }
        if cell == "lstm":
            self.recurrent = LSTM(**common, forget_bias=forget_bias, variant=self.variant)
        elif cell == "gru":
            self.recurrent = GRU(**common)
        else:
            self.recurrent = RNN(**common, nonlinearity=nonlinearity)
        self.forget_bias = check_real("forget_bias", forget_bias)
        self.dtype = self.recurrent.dtype
        H = self.recurrent.hidden_size
        bound = 1.0 / np.sqrt(H)
        self.params = dict(self.recurrent.params)
        self.params["head.weight"] = rng.uniform(-bound, bound, (self.output_size, H)).astype(
            self.dtype
        )
        self.params["head.bias"] = rng.uniform(-bound, bound, self.output_size).astype(self.dtype)
        # what the head read in the last forward call (windows: (N, H); sequences: (N, T, H))
        self._head_in = self._head_mask = None

    @property
    def input_size(self):
        return self.recurrent.input_size

    @property
    def hidden_size(self):
        return self.recurrent.hidden_size

    @property
    def num_layers(self):
        return self.recurrent.num_layers

    @property
    def dropout(self):
        return self.recurrent.dropout

    def forward(self, X, training=False):
        """Predictions (N, output_size) for windows X (N, T, input_size).

        ``training=True`` applies dropout (see the class): the masks are drawn from
        the model's generator, inputs first, then between layers, then before the
        head. The activations are kept for :meth:`backward`.
        """
        x = self._windows(X)
        drop = training and self.dropout > 0
        if drop:
            x = x * dropout_mask(self.recurrent.rng, x.shape, self.dropout, self.dtype)
        _, h_n = self.recurrent.forward(x, training=training)
        return self._head(self._keep_head_input(h_n, drop))

    def _keep_head_input(self, h, drop):
        """``h`` (dropped out in training) kept as what the head read, for the backward."""
        self._head_mask = None
        if drop:
            self._head_mask = dropout_mask(self.recurrent.rng, h.shape, self.dropout, self.dtype)
            h = h * self._head_mask
        self._head_in = h
        return h

    def forward_sequence(self, X, state=None, training=False):
        """A prediction at every step of sequences read from a given state, and the state
        they end in: what stateful training reads chunk by chunk.

        The head reads the last layer's hidden state at every step, not only the last.
        ``training=True`` applies dropout as :meth:`forward` does, in the same order: on
        the inputs and between layers at every step, and before the head on each step's
        hidden state, every mask element drawn on its own. The recurrent state itself is
        never dropped out, so the state carried to the next chunk is the one the
        layers computed. The activations are kept for :meth:`backward_sequence`.

        Parameters
        ----------
        X : array_like (N, T, input_size)
            N sequences (streams) of T steps.
        state : list or None
            Every layer's initial state, first layer first: per layer ``(h, c)`` for
            the LSTM, ``(h,)`` for the GRU and the RNN, arrays (N, H) (what
            ``recurrent.check_state`` takes); None: zeros. A constant for
            :meth:`backward_sequence`.

        Returns
        -------
        pred : ndarray (N, T, output_size)
            ``pred[:, t]`` is the forecast made after reading steps 0..t.
        state : list
            Every layer's final state, to pass to the next call.
        """
        x = self._windows(X)
        drop = training and self.dropout > 0
        if drop:
            x = x * dropout_mask(self.recurrent.rng, x.shape, self.dropout, self.dtype)
        outputs, final = self.recurrent.forward_sequence(x, state, training=training)
        return self._head(self._keep_head_input(outputs, drop)), final

    def backward_sequence(self, d_pred):
        """Gradients of every parameter, given dL/dpred (N, T, output_size) of the last
        :meth:`forward_sequence` call.

        Backpropagation ends at the call's first step: the initial state is a constant
        (gradients stopped at the chunk edge, truncated BPTT).

        Returns
        -------
        dict of str to ndarray
            Same keys, shapes and dtype as ``params``.
        """
        if self._head_in is None or self._head_in.ndim != 3:
            raise RuntimeError("backward_sequence needs a forward_sequence call first")
        d_out, head = self._head_backward(d_pred)
        _, grads = self.recurrent.backward(d_out=d_out)
        return grads | head

    def predict_sequence(self, X, state=None):
        """:meth:`forward_sequence` without dropout, keeping nothing on the model (several
        threads may run it at once): (pred (N, T, output_size), final state)."""
        outputs, final = self.recurrent.forward_sequence(
            self._windows(X), state, training=False, keep=False
        )
        return self._head(outputs), final

    def state_after(self, X, state=None):
        """The state after reading the rows X (T, input_size) as one sequence from ``state``
        (None: zeros), without dropout: a list per layer of arrays (1, H)."""
        X = float_array("X", X, self.dtype)
        if X.ndim != 2:
            raise ValueError(
                f"X must be rows (T, {self.input_size}) of one sequence, got shape {X.shape}"
            )
        return self.predict_sequence(X[None], state)[1]

    def state_arrays(self, state):
        """A state (see :meth:`forward_sequence`) as named arrays, ``l{k}/h`` (and ``l{k}/c``
        for the LSTM), as a file holds them; :meth:`state_from_arrays` reads them back."""
        state = self.recurrent.check_state(state, np.shape(state[0][0])[0])
        names = self.recurrent._state_names
        return {
            f"l{k}/{name}": a
            for k, layer in enumerate(state)
            for name, a in zip(names, layer, strict=True)
        }

    def state_from_arrays(self, arrays, batch=1):
        """The state that :meth:`state_arrays` named, checked: exactly its keys, arrays of
        shape (batch, H), finite. From a file, so an error says what does not fit."""
        names = self.recurrent._state_names
        keys = [f"l{k}/{name}" for k in range(self.num_layers) for name in names]
        if sorted(arrays) != sorted(keys):
            raise ValueError(
                f"the state arrays do not fit this {self.cell.upper()} model: expected "
                f"{keys}, got {sorted(arrays)}"
            )
        for key in keys:
            if np.shape(arrays[key]) != (batch, self.hidden_size):
                raise ValueError(
                    f"state array {key!r} must have shape {(batch, self.hidden_size)}, got "
                    f"{np.shape(arrays[key])}"
                )
            if not np.all(np.isfinite(arrays[key])):
                raise ValueError(f"state array {key!r} has NaN or inf values")
        state = [tuple(arrays[f"l{k}/{name}"] for name in names) for k in range(self.num_layers)]
        return self.recurrent.check_state(state, batch)

    def _windows(self, X):
        return _check_sequences(X, "X", self.input_size, self.dtype)

    def release_activations(self):
        """Drop the activations the last forward kept for :meth:`backward`; :func:`rnnkit.train.fit`
        calls it when it ends, so a trained model holds its parameters, not its last batch."""
        self._head_in = self._head_mask = None
        self.recurrent.release_activations()

    def _head(self, h_n):
        return h_n @ self.params["head.weight"].T + self.params["head.bias"]

    def backward(self, d_pred):
        """Gradients of every parameter, given dL/dpredictions (N, output_size) of the last forward.

        Returns
        -------
        dict of str to ndarray
            Same keys, shapes and dtype as ``params``.
        """
        if self._head_in is None or self._head_in.ndim != 2:
            raise RuntimeError("backward needs a forward call first")
        d_h_n, head = self._head_backward(d_pred)
        _, grads = self.recurrent.backward(d_last=d_h_n)
        return grads | head

    def _head_backward(self, d_pred):
        """The head's part of a backward, for dL/dpred shaped like the head's last outputs
        (N, output_size), or (N, T, output_size) of every step: (dL/d its input, dropout
        applied, and the gradients of ``head.weight`` and ``head.bias``)."""
        shape = (*self._head_in.shape[:-1], self.output_size)
        d_pred = _check_gradient(d_pred, "d_pred", shape, self.dtype)
        d_in = d_pred @ self.params["head.weight"]
        if self._head_mask is not None:
            d_in *= self._head_mask
        rows = d_pred.reshape(-1, self.output_size)  # every window and step is one row
        head = {
            "head.weight": rows.T @ self._head_in.reshape(-1, self._head_in.shape[-1]),
            "head.bias": rows.sum(axis=0),
        }
        return d_in, head

    def predict(self, X, batch_size=INFERENCE_BATCH):
        """Predictions (N, output_size) without dropout.

        Parameters
        ----------
        X : array_like (N, T, input_size)
        batch_size : int or None
            Run at most this many windows at once, so that memory grows with the
            windows' inputs, not with their activations; None runs all at once.

        Notes
        -----
        Unlike :meth:`forward`, this keeps no activations on the model (those of
        a previous forward call stay for :meth:`backward`), so several threads
        may predict with one model at once, also while it is being trained.
        """
        # As it came (a view of a series stays one): each chunk is converted on its own.
        X = np.asarray(X)
        _check_window_shape(X, "X", self.input_size)
        step = len(X) if batch_size is None else check_int("batch_size", batch_size)
        chunks = [
            self._head(self.recurrent.forward_state(self._windows(X[i : i + step]))[-1][0])
            for i in range(0, len(X), step)
        ]
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def inference(self):
        """A compiled snapshot of the model for forecasts one window or one step at a time.

        Returns
        -------
        rnnkit.core.Inference
            ``window(x)`` for one window (T, input_size) gives ``predict(x[None])[0]`` to
            float rounding, at a small fraction of its cost; ``step(row)`` advances a
            carried state by one row. It holds copies of the weights: later training or
            :meth:`load_state_dict` does not reach it, so build a new one after either.
        """
        weights = [self.recurrent._weights(k) for k in range(self.num_layers)]
        return core.Inference(
            self.cell, weights, self.params["head.weight"], self.params["head.bias"],
            variant=self.variant, nonlinearity=self.nonlinearity,
        )  # fmt: skip

    def num_parameters(self):
        """Number of scalar parameters, head included."""
        return sum(p.size for p in self.params.values())

    def state_dict(self):
        """Copies of the parameters under PyTorch's names.

        The recurrent keys are exactly those of ``torch.nn.LSTM`` / ``torch.nn.RNN``
        (``weight_ih_l0``, ...) and the head's are ``head.weight`` and ``head.bias``,
        the keys of a ``torch.nn.Linear`` prefixed by ``head.``.
        """
        return {name: p.copy() for name, p in self.params.items()}

    def load_state_dict(self, state):
        """Copy parameters into the model (in place), from :meth:`state_dict` or PyTorch.

        Parameters
        ----------
        state : mapping of str to array_like
            Exactly the keys of :meth:`state_dict`; values of the same shapes
            (NumPy arrays or CPU torch tensors), cast to the model's dtype.
            Nothing is changed unless every entry is valid.
        """
        if not hasattr(state, "keys"):
            raise TypeError(f"state must be a mapping of names to arrays, got {type(state)}")
        missing = [k for k in self.params if k not in state]
        unexpected = [k for k in state if k not in self.params]
        if missing or unexpected:
            raise ValueError(
                f"state does not match this {self.cell.upper()} model: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        arrays = {}
        for name, p in self.params.items():
            value = state[name]
            if hasattr(value, "detach"):  # a torch tensor that may require grad
                value = value.detach().cpu().numpy()
            value = np.asarray(value, dtype=self.dtype)
            if value.shape != p.shape:
                raise ValueError(f"state[{name!r}] must have shape {p.shape}, got {value.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"state[{name!r}] has NaN or inf values")
            arrays[name] = value

        def copy_in(values):
            for name, value in values.items():
                self.params[name][...] = value

        before = self.state_dict()
        try:
            copy_in(arrays)
        except BaseException:
            copy_in(before)  # an interrupt among the copies: as it was, not a mix of the two
            raise

    def config(self):
        """The constructor's arguments as a JSON-serialisable dict (dtype as its name)."""
        seed = self.seed
        return {
            "cell": self.cell,
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "output_size": self.output_size,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "nonlinearity": self.nonlinearity,
            "forget_bias": self.forget_bias,
            "variant": self.variant,
            "dtype": self.dtype.name,
            # a Generator cannot be written down: the weights are in the state dict anyway
            "seed": int(seed) if isinstance(seed, int | np.integer) else None,
        }

    @classmethod
    def from_config(cls, cfg):
        """A new model from :meth:`config`'s dict (fresh weights: load a state dict after)."""
        if not hasattr(cfg, "keys"):
            raise TypeError(f"cfg must be a dict from config(), got {type(cfg).__name__}")
        known = set(inspect.signature(cls).parameters)
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"cfg has unknown keys {unknown}; expected keys among {sorted(known)}")
        return cls(**cfg)

    def to_state(self):
        """The model as (JSON-safe dict, dict of arrays): :meth:`config` and the parameters."""
        return self.config(), self.state_dict()

    @classmethod
    def from_state(cls, meta, arrays):
        """The model :meth:`to_state` described, parameters loaded.

        The arrays are checked against the shapes the configuration implies before any
        weights are allocated, so a damaged or crafted file costs no more memory than
        its own arrays.
        """
        sizes = {
            name: check_int(name, meta[name])
            for name in ("input_size", "hidden_size", "output_size", "num_layers")
        }
        gates = cell_class(meta["cell"])._gates
        if len(arrays) != 4 * sizes["num_layers"] + 2:  # before listing num_layers' shapes
            raise ValueError(
                f"the arrays do not fit the configuration: {sizes['num_layers']} layers need "
                f"{4 * sizes['num_layers'] + 2} arrays, got {len(arrays)}"
            )
        expected = _layer_shapes(
            gates, sizes["input_size"], sizes["hidden_size"], sizes["num_layers"]
        )
        expected["head.weight"] = (sizes["output_size"], sizes["hidden_size"])
        expected["head.bias"] = (sizes["output_size"],)
        shapes = {name: np.shape(value) for name, value in arrays.items()}
        if shapes != expected:
            raise ValueError(
                f"the arrays do not fit the configuration: expected {expected}, got {shapes}"
            )
        model = cls.from_config(meta)
        model.load_state_dict(arrays)
        return model

    def save(self, path):
        """Write the model to ``path`` (.npz of arrays + a JSON header); see :mod:`rnnkit.io`."""
        from .io import save

        save(self, path)

    def __repr__(self):
        cfg = self.config()
        args = ", ".join(f"{k}={v!r}" for k, v in cfg.items() if k != "seed")
        return f"SequenceRegressor({args})"


def cell_class(cell):
    """The layer class of ``cell`` (one of CELLS)."""
    return {"lstm": LSTM, "gru": GRU, "rnn": RNN}[check_choice("cell", cell, CELLS)]
