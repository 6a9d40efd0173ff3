"""Pure-NumPy reference of the core: the oracle for tests and the baseline for benchmarks.

Same signatures as ``rnnkit._core``, written the plain way: the input projection of all
steps is one matrix product before the time loop, only the recurrent product runs per
step, and the weight, bias and input gradients are one product each after the loop (the
core takes the same sums a chunk of steps at a time, while the chunk's data is in cache). The
optimizer updates (``adam_step``, ``sgd_step``, ``rmsprop_step``, ``sum_of_squares``)
are here too, one NumPy expression per line of PyTorch's update rules, and ``Inference``,
a trained network for a batch of one, as a class of the same API as the core's.

Size letters::

    T  time steps            B  batch size
    I  input features        H  hidden units
    G  gates per cell: 1 for RNN, 4 for LSTM (order i, f, g, o as in PyTorch),
       3 for GRU (order r, z, n)

Sequences are time-major ``(T, B, features)``. Weights use PyTorch's layout:
``w_ih (G*H, I)``, ``w_hh (G*H, H)``, ``b_ih (G*H,)``, ``b_hh (G*H,)``.
Everything is computed and returned in the dtype of ``x`` (float32 stays float32;
any other dtype is computed in float64).
"""

import numpy as np

__all__ = [
    "LSTM_VARIANTS",
    "Inference",
    "adam_step",
    "gru_backward",
    "gru_forward",
    "lstm_backward",
    "lstm_forward",
    "lstm_variant",
    "rmsprop_step",
    "rnn_backward",
    "rnn_forward",
    "sgd_step",
    "sum_of_squares",
]

# nonlinearity -> (activation, its derivative written in terms of the activation's output y)
_RNN_ACTIVATIONS = {
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "relu": (lambda z: np.maximum(z, 0), lambda y: y > 0),
}


def _activation(nonlinearity):
    if not isinstance(nonlinearity, str):
        kind = type(nonlinearity).__name__
        raise TypeError(f"nonlinearity must be a str ('tanh' or 'relu'), got {kind}")
    if nonlinearity not in _RNN_ACTIVATIONS:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return _RNN_ACTIVATIONS[nonlinearity]


def _sigmoid(z):
    # sigmoid(z) = (1 + tanh(z/2)) / 2: no exp, so no overflow for large |z|
    return 0.5 * (1 + np.tanh(0.5 * z))


def _cast(x, *arrays):
    """x as float32 or float64, and the arrays in that dtype (None stays None)."""
    x = np.asarray(x)
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    return [x.astype(dtype, copy=False)] + [
        None if a is None else np.asarray(a, dtype=dtype) for a in arrays
    ]


def _state(s, B, H, dtype):
    """An initial state or an incoming state gradient: None means zeros (B, H)."""
    return np.zeros((B, H), dtype) if s is None else s


# What a forward call keeps (its ``keep`` argument): everything the backward pass needs,
# every step's output and the final state, or the final state alone (inference).
KEEP = ("all", "outputs", "state")


def _kept(name, keep, y, final, saved=()):
    """A forward's results as ``keep`` asks, None where it keeps nothing."""
    if not isinstance(keep, str):
        raise TypeError(f"{name}: keep must be a str {KEEP}, got {type(keep).__name__}")
    if keep not in KEEP:
        raise ValueError(f"{name}: keep must be one of {KEEP}, got {keep!r}")
    return (
        None if keep == "state" else y,
        *final,
        *(saved if keep == "all" else (None,) * len(saved)),
    )


def _input_projection(x, w_ih, b_ih, b_hh):
    """All steps at once: (T, B, I) -> (T, B, G*H) = x @ w_ih.T + b_ih + b_hh."""
    T, B, I = x.shape
    return (x.reshape(T * B, I) @ w_ih.T + (b_ih + b_hh)).reshape(T, B, -1)


def _parameter_gradients(x, h0, w_ih, y, dG, dG_hh=None):
    """dx, dw_ih, dw_hh, db_ih, db_hh from the pre-activation gradients dG (T, B, G*H):
    of the input projection's and, when ``dG_hh`` is given apart (the GRU's), also of
    the recurrent product's.

    The previous hidden state of step 0 is h0, of step t > 0 it is y[t-1].
    """
    dG_hh = dG if dG_hh is None else dG_hh
    T, B, I = x.shape
    GH, H = dG.shape[2], y.shape[2]
    dG2 = dG.reshape(T * B, GH)
    dx = (dG2 @ w_ih).reshape(T, B, I)  # (T, B, I)
    dw_ih = dG2.T @ x.reshape(T * B, I)  # (G*H, I)
    # dw_hh = sum_t dG_t^T h_{t-1}: (G*H, H)
    dw_hh = dG_hh[0].T @ h0 + dG_hh[1:].reshape(-1, GH).T @ y[:-1].reshape(-1, H)
    return dx, dw_ih, dw_hh, dG2.sum(axis=0), dG_hh.reshape(T * B, GH).sum(axis=0)


def rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", keep="all"):
    """Run a vanilla (Elman) RNN layer over a whole sequence.

    Parameters
    ----------
    x : ndarray (T, B, I)
        Input sequence, time-major.
    h0 : ndarray (B, H) or None
        Initial hidden state; None means zeros.
    w_ih, w_hh : ndarray (H, I), (H, H)
        Input-to-hidden and hidden-to-hidden weights.
    b_ih, b_hh : ndarray (H,)
        Biases.
    nonlinearity : {"tanh", "relu"}
    keep : {"all", "outputs", "state"}
        "all" and "outputs" alike return y, all the backward pass needs; "state" the
        final state alone (y None).

    Returns
    -------
    y : ndarray (T, B, H) or None
        Hidden states h_1 .. h_T (post-activation).
    h_n : ndarray (B, H)
        Final hidden state, a copy of ``y[-1]``.
    """
    act, _ = _activation(nonlinearity)
    x, h0, w_ih, w_hh, b_ih, b_hh = _cast(x, h0, w_ih, w_hh, b_ih, b_hh)
    T, B, _ = x.shape
    H = w_hh.shape[0]
    A = _input_projection(x, w_ih, b_ih, b_hh)  # (T, B, H)
    y = np.empty((T, B, H), x.dtype)
    h = _state(h0, B, H, x.dtype)
    for t in range(T):
        # h_t = act(x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T)
        h = y[t] = act(A[t] + h @ w_hh.T)
    return _kept("rnn_forward", keep, y, (y[-1].copy(),))


def rnn_backward(x, h0, w_ih, w_hh, y, dy, dh_n, nonlinearity="tanh"):
    """Backpropagate through time for :func:`rnn_forward`.

    Parameters
    ----------
    x, h0, w_ih, w_hh, nonlinearity
        As passed to :func:`rnn_forward` (h0 may be None: zeros).
    y : ndarray (T, B, H)
        Outputs of the forward pass (post-activation).
    dy : ndarray (T, B, H) or None
        dL/dy; None means no loss on the outputs.
    dh_n : ndarray (B, H) or None
        dL/dh_n for the final state; None means zeros.

    Returns
    -------
    dx : ndarray (T, B, I)
    dh0 : ndarray (B, H)
        Always an array, also when h0 was None.
    dw_ih, dw_hh : ndarray (H, I), (H, H)
    db_ih, db_hh : ndarray (H,)
        Equal, but two separate arrays.
    """
    _, dact = _activation(nonlinearity)
    x, h0, w_ih, w_hh, y, dy, dh_n = _cast(x, h0, w_ih, w_hh, y, dy, dh_n)
    T, B, _ = x.shape
    H = w_hh.shape[0]
    h0 = _state(h0, B, H, x.dtype)
    dA = np.empty((T, B, H), x.dtype)  # dL/d(pre-activation)
    dh = _state(dh_n, B, H, x.dtype)  # dL/dh_t from the steps after t
    for t in range(T - 1, -1, -1):
        if dy is not None:
            dh = dh + dy[t]  # h_t is both output y_t and the next step's state
        # dA_t = dh_t * act'(y_t);  dh_{t-1} = dA_t W_hh
        dA[t] = dh * dact(y[t])
        dh = dA[t] @ w_hh
    dx, dw_ih, dw_hh, db_ih, db_hh = _parameter_gradients(x, h0, w_ih, y, dA)
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh


# The LSTM and Greff et al.'s variants of it ("LSTM: A Search Space Odyssey", IEEE TNNLS
# 2017), each one change to the vanilla cell; the core takes the same names, in any case.
LSTM_VARIANTS = ("vanilla", "nig", "nfg", "nog", "niaf", "noaf", "cifg")


def lstm_variant(variant):
    """``variant`` as its lowercase name in LSTM_VARIANTS, else a clear error."""
    if not isinstance(variant, str):
        raise TypeError(
            f"variant must be a str (one of {', '.join(LSTM_VARIANTS)}), got "
            f"{type(variant).__name__}"
        )
    if variant.lower() not in LSTM_VARIANTS:
        raise ValueError(
            f"variant must be one of {', '.join(LSTM_VARIANTS)} (in any case), got {variant!r}"
        )
    return variant.lower()


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, variant="vanilla", keep="all"):
    """Run an LSTM layer over a whole sequence.

    Parameters
    ----------
    x : ndarray (T, B, I)
        Input sequence, time-major.
    h0, c0 : ndarray (B, H) or None
        Initial hidden and cell state; None means zeros.
    w_ih, w_hh : ndarray (4H, I), (4H, H)
        Weights, gate blocks in the order i, f, g, o.
    b_ih, b_hh : ndarray (4H,)
        Biases.
    variant : str
        One of LSTM_VARIANTS: "vanilla"; "nig", "nfg", "nog" hold the input, forget
        or output gate at 1; "niaf" drops g's tanh, "noaf" the tanh of h = o * tanh(c);
        "cifg" couples the forget gate to the input gate, f = 1 - i. The weights keep
        all four gate blocks.
    keep : {"all", "outputs", "state"}
        What to return: everything the backward pass needs, y and the final states
        (gates and cells None), or the final states alone (y too None).

    Returns
    -------
    y : ndarray (T, B, H) or None
        Hidden states h_1 .. h_T.
    h_n, c_n : ndarray (B, H)
        Final states, copies of ``y[-1]`` and ``cells[-1]``.
    gates : ndarray (T, B, 4H) or None
        Gates i, f, g, o after their activations: the values the variant used.
    cells : ndarray (T, B, H) or None
        Cell states c_1 .. c_T.
    """
    variant = lstm_variant(variant)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _cast(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    Z = _input_projection(x, w_ih, b_ih, b_hh)  # (T, B, 4H)
    gates = np.empty((T, B, 4 * H), x.dtype)
    cells = np.empty((T, B, H), x.dtype)
    y = np.empty((T, B, H), x.dtype)
    h, c = _state(h0, B, H, x.dtype), _state(c0, B, H, x.dtype)
    one = np.ones((B, H), x.dtype)
    for t in range(T):
        # [i f g o] = [sigmoid sigmoid tanh sigmoid](x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T)
        z_i, z_f, z_g, z_o = np.split(Z[t] + h @ w_hh.T, 4, axis=1)
        i = one if variant == "nig" else _sigmoid(z_i)
        f = one if variant == "nfg" else 1 - i if variant == "cifg" else _sigmoid(z_f)
        g = z_g if variant == "niaf" else np.tanh(z_g)
        o = one if variant == "nog" else _sigmoid(z_o)
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        # c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)  (o * c_t without the tanh: noaf)
        c = cells[t] = f * c + i * g
        h = y[t] = o * (c if variant == "noaf" else np.tanh(c))
    return _kept("lstm_forward", keep, y, (y[-1].copy(), cells[-1].copy()), (gates, cells))


def lstm_backward(x, h0, c0, w_ih, w_hh, y, gates, cells, dy, dh_n, dc_n, variant="vanilla"):
    """Backpropagate through time for :func:`lstm_forward`.

    Parameters
    ----------
    x, h0, c0, w_ih, w_hh, variant
        As passed to :func:`lstm_forward` (h0, c0 may be None: zeros).
    y, gates, cells : ndarray (T, B, H), (T, B, 4H), (T, B, H)
        Returned by the forward pass.
    dy : ndarray (T, B, H) or None
        dL/dy; None means no loss on the outputs.
    dh_n, dc_n : ndarray (B, H) or None
        dL/dh_n and dL/dc_n for the final states; None means zeros.

    Returns
    -------
    dx : ndarray (T, B, I)
    dh0, dc0 : ndarray (B, H)
        Always arrays, also when h0, c0 were None.
    dw_ih, dw_hh : ndarray (4H, I), (4H, H)
        Zero in the rows of a gate the variant does not use.
    db_ih, db_hh : ndarray (4H,)
        Equal, but two separate arrays.
    """
    variant = lstm_variant(variant)
    x, h0, c0, w_ih, w_hh, y, gates, cells, dy, dh_n, dc_n = _cast(
        x, h0, c0, w_ih, w_hh, y, gates, cells, dy, dh_n, dc_n
    )
    T, B, _ = x.shape
    H = w_hh.shape[1]
    h0, c0 = _state(h0, B, H, x.dtype), _state(c0, B, H, x.dtype)
    dG = np.empty((T, B, 4 * H), x.dtype)  # dL/d(pre-activation gates)
    dh, dc = _state(dh_n, B, H, x.dtype), _state(dc_n, B, H, x.dtype)
    for t in range(T - 1, -1, -1):
        i, f, g, o = np.split(gates[t], 4, axis=1)
        c_prev = cells[t - 1] if t > 0 else c0
        # out = tanh(c_t), or c_t itself for noaf; dout its derivative
        out = cells[t] if variant == "noaf" else np.tanh(cells[t])
        dout = 1 if variant == "noaf" else 1 - out * out
        if dy is not None:
            dh = dh + dy[t]  # h_t is both output y_t and the next step's state
        # h_t = o * out:  do = dh * out;  dc_t += dh * o * dout
        dc = dc + dh * o * dout
        # c_t = f * c_{t-1} + i * g:  di = dc * g, df = dc * c_{t-1}, dg = dc * i; cifg's
        # f = 1 - i adds -df to di. Through the activations: sigmoid' = s (1 - s),
        # tanh' = 1 - g^2 (1 without it: niaf); a gate held at 1 has no pre-activation.
        di = dc * (g - c_prev) if variant == "cifg" else dc * g
        da_i, da_f, da_g, da_o = np.split(dG[t], 4, axis=1)
        da_i[...] = 0 if variant == "nig" else di * i * (1 - i)
        da_f[...] = 0 if variant in ("nfg", "cifg") else dc * c_prev * f * (1 - f)
        da_g[...] = dc * i * (1 if variant == "niaf" else 1 - g * g)
        da_o[...] = 0 if variant == "nog" else dh * out * o * (1 - o)
        # dc_{t-1} = dc_t * f;  dh_{t-1} = dG_t W_hh
        dc = dc * f
        dh = dG[t] @ w_hh
    dx, dw_ih, dw_hh, db_ih, db_hh = _parameter_gradients(x, h0, w_ih, y, dG)
    return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh


def gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, keep="all"):
    """Run a GRU layer over a whole sequence, as ``torch.nn.GRU`` does.

    Parameters
    ----------
    x : ndarray (T, B, I)
        Input sequence, time-major.
    h0 : ndarray (B, H) or None
        Initial hidden state; None means zeros.
    w_ih, w_hh : ndarray (3H, I), (3H, H)
        Weights, gate blocks in the order r, z, n.
    b_ih, b_hh : ndarray (3H,)
        Biases.
    keep : {"all", "outputs", "state"}
        What to return: everything the backward pass needs, y and the final state
        (gates None), or the final state alone (y too None).

    Returns
    -------
    y : ndarray (T, B, H) or None
        Hidden states h_1 .. h_T.
    h_n : ndarray (B, H)
        The final state, a copy of ``y[-1]``.
    gates : ndarray (T, B, 4, H) or None
        The reset gate r, the update gate z and the candidate n after their
        activations, and hn = W_hn h_{t-1} + b_hn, which the backward pass needs.
    """
    x, h0, w_ih, w_hh, b_ih, b_hh = _cast(x, h0, w_ih, w_hh, b_ih, b_hh)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    GI = _input_projection(x, w_ih, b_ih, 0)  # (T, B, 3H): b_hh stays with W_hh
    gates = np.empty((T, B, 4, H), x.dtype)
    y = np.empty((T, B, H), x.dtype)
    h = _state(h0, B, H, x.dtype)
    for t in range(T):
        gh = h @ w_hh.T + b_hh  # (B, 3H)
        gi_r, gi_z, gi_n = np.split(GI[t], 3, axis=1)
        gh_r, gh_z, gh_n = np.split(gh, 3, axis=1)
        # r, z = sigmoid(input part + recurrent part); n = tanh(gi_n + r * (W_hn h + b_hn))
        r = gates[t, :, 0] = _sigmoid(gi_r + gh_r)
        z = gates[t, :, 1] = _sigmoid(gi_z + gh_z)
        hn = gates[t, :, 3] = gh_n
        n = gates[t, :, 2] = np.tanh(gi_n + r * hn)
        # h_t = (1 - z) * n + z * h_{t-1}
        h = y[t] = (1 - z) * n + z * h
    return _kept("gru_forward", keep, y, (y[-1].copy(),), (gates,))


def gru_backward(x, h0, w_ih, w_hh, y, gates, dy, dh_n):
    """Backpropagate through time for :func:`gru_forward`.

    Parameters
    ----------
    x, h0, w_ih, w_hh
        As passed to :func:`gru_forward` (h0 may be None: zeros).
    y, gates : ndarray (T, B, H), (T, B, 4, H)
        Returned by the forward pass.
    dy : ndarray (T, B, H) or None
        dL/dy; None means no loss on the outputs.
    dh_n : ndarray (B, H) or None
        dL/dh_n for the final state; None means zeros.

    Returns
    -------
    dx : ndarray (T, B, I)
    dh0 : ndarray (B, H)
        Always an array, also when h0 was None.
    dw_ih, dw_hh : ndarray (3H, I), (3H, H)
    db_ih, db_hh : ndarray (3H,)
        They differ in n's block: r scales the recurrent part of n.
    """
    x, h0, w_ih, w_hh, y, gates, dy, dh_n = _cast(x, h0, w_ih, w_hh, y, gates, dy, dh_n)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    h0 = _state(h0, B, H, x.dtype)
    dGI = np.empty((T, B, 3 * H), x.dtype)  # dL/d(x_t W_ih^T + b_ih)
    dGH = np.empty((T, B, 3 * H), x.dtype)  # dL/d(h_{t-1} W_hh^T + b_hh)
    dh = _state(dh_n, B, H, x.dtype)
    for t in range(T - 1, -1, -1):
        r, z, n, hn = (gates[t, :, k] for k in range(4))
        h_prev = y[t - 1] if t > 0 else h0
        if dy is not None:
            dh = dh + dy[t]  # h_t is both output y_t and the next step's state
        # h_t = (1 - z) n + z h_{t-1}:  dn = dh (1 - z), dz = dh (h_{t-1} - n)
        # n = tanh(a_n), a_n = gi_n + r hn:  da_n = dn (1 - n^2), dr = da_n hn, dhn = da_n r
        da_n = dh * (1 - z) * (1 - n * n)
        da_r = da_n * hn * r * (1 - r)
        da_z = dh * (h_prev - n) * z * (1 - z)
        dGI[t] = np.concatenate([da_r, da_z, da_n], axis=1)
        dGH[t] = np.concatenate([da_r, da_z, da_n * r], axis=1)
        # dh_{t-1} = dh z + dGH_t W_hh
        dh = dh * z + dGH[t] @ w_hh
    dx, dw_ih, dw_hh, db_ih, db_hh = _parameter_gradients(x, h0, w_ih, y, dGI, dGH)
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh


# ----------------------------------------------------------------------------- inference

_CELLS = ("rnn", "gru", "lstm")


class Inference:
    """A trained network for a batch of one, as ``rnnkit.core.Inference``: the same
    constructor, methods and attributes, on the layer functions above.

    Stacked ``cell`` layers (``weights``: one ``(w_ih, w_hh, b_ih, b_hh)`` per layer, in
    the layout of :func:`rnn_forward`, :func:`gru_forward` and :func:`lstm_forward`) and a
    linear head ``head_weight (O, H)``, ``head_bias (O,)`` on the last layer's hidden
    state. :meth:`window` runs one window (T, I) from a zero state; :meth:`step` advances a
    carried state by one row (I,), which :meth:`reset`, :meth:`get_state` and
    :meth:`set_state` handle. The arrays are copied, in the dtype of ``weights[0][0]``
    (float32 stays float32; any other dtype is computed in float64).
    """

    def __init__(
        self, cell, weights, head_weight, head_bias, variant="vanilla", nonlinearity="tanh"
    ):
        if not isinstance(cell, str):
            raise TypeError(
                f"cell must be a str ('rnn', 'gru' or 'lstm'), got {type(cell).__name__}"
            )
        if cell not in _CELLS:
            raise ValueError(f"cell must be 'rnn', 'gru' or 'lstm', got {cell!r}")
        self.variant = lstm_variant(variant)
        _activation(nonlinearity)
        if cell != "lstm" and self.variant != "vanilla":
            raise ValueError(
                f"variant={self.variant!r} is a variant of the LSTM; cell={cell!r} takes only "
                "'vanilla'"
            )
        self.cell, self.nonlinearity = cell, nonlinearity
        first = np.asarray(weights[0][0])
        self.dtype = np.dtype(np.float32 if first.dtype == np.float32 else np.float64)
        self._weights = [tuple(np.array(w, self.dtype) for w in layer) for layer in weights]
        self._head_weight = np.array(head_weight, self.dtype)
        self._head_bias = np.array(head_bias, self.dtype)
        self.num_layers = len(self._weights)
        self.input_size = self._weights[0][0].shape[1]
        self.hidden_size = self._weights[0][1].shape[1]
        self.output_size = len(self._head_bias)
        self.reset()

    def _zeros(self):
        """A zero state of every layer: per layer (h,) or (h, c), each (1, H)."""
        n = 2 if self.cell == "lstm" else 1
        H = self.hidden_size
        return [tuple(np.zeros((1, H), self.dtype) for _ in range(n)) for _ in self._weights]

    def _run(self, x, states):
        """x (T, I) through every layer from ``states``: the head's output and the new states."""
        y = np.asarray(x, self.dtype)[:, None, :]  # (T, B = 1, I)
        after = []
        for w, state in zip(self._weights, states, strict=True):
            if self.cell == "lstm":
                y, h, c, _, _ = lstm_forward(y, *state, *w, self.variant)
                after.append((h, c))
            elif self.cell == "gru":
                y, h, _ = gru_forward(y, *state, *w)
                after.append((h,))
            else:
                y, h = rnn_forward(y, *state, *w, self.nonlinearity)
                after.append((h,))
        return y[-1, 0] @ self._head_weight.T + self._head_bias, after

    def window(self, x):
        """The head's output (O,) after the window x (T, I) from a zero state; the carried
        state is left as it was."""
        return self._run(x, self._zeros())[0]

    def step(self, row):
        """Advance the carried state by one row (I,); the head's output (O,)."""
        out, self._states = self._run(np.asarray(row)[None], self._states)
        return out

    def reset(self):
        """Set the carried state to zeros."""
        self._states = self._zeros()

    def get_state(self):
        """Copies of the carried state: (h,), or (h, c) for the LSTM, each (num_layers, H)."""
        return tuple(np.concatenate(part) for part in zip(*self._states, strict=True))

    def set_state(self, h, c=None):
        """Set the carried state: h and, for the LSTM, c (None: zeros), each (num_layers, H)."""
        h = np.array(h, self.dtype)
        if self.cell != "lstm":
            if c is not None:
                raise ValueError(f"c must be None: the {self.cell} has no cell state")
            self._states = [(h[k : k + 1],) for k in range(self.num_layers)]
            return
        c = np.zeros_like(h) if c is None else np.array(c, self.dtype)
        self._states = [(h[k : k + 1], c[k : k + 1]) for k in range(self.num_layers)]


# ---------------------------------------------------------------------------- optimizers


def _gradient(g, p, grad_scale, weight_decay):
    """The gradient the update rules use: grad_scale g + weight_decay p, in p's dtype."""
    dtype = p.dtype.type
    return dtype(grad_scale) * g + dtype(weight_decay) * p


def adam_step(
    params, grads, exp_avgs, exp_avg_sqs, *, lr, beta1, beta2, eps, weight_decay, step,
    grad_scale=1.0,
):  # fmt: skip
    """One Adam update of every parameter, in place, as ``torch.optim.Adam``."""
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
        dtype = p.dtype.type
        g = _gradient(g, p, grad_scale, weight_decay)
        m += dtype(1 - beta1) * (g - m)
        v[...] = dtype(beta2) * v + dtype(1 - beta2) * g * g
        step_size = dtype(lr / (1 - beta1**step))
        correction2_sqrt = dtype(np.sqrt(1 - beta2**step))
        p -= step_size * (m / (np.sqrt(v) / correction2_sqrt + dtype(eps)))


def sgd_step(
    params, grads, momentum_buffers, *, lr, momentum, nesterov, weight_decay, grad_scale=1.0
):
    """One SGD update of every parameter, in place, as ``torch.optim.SGD``."""
    buffers = momentum_buffers if momentum else [None] * len(params)
    for p, g, b in zip(params, grads, buffers, strict=True):
        dtype = p.dtype.type
        g = _gradient(g, p, grad_scale, weight_decay)
        if momentum:
            b[...] = dtype(momentum) * b + g
            g = g + dtype(momentum) * b if nesterov else b
        p -= dtype(lr) * g


def rmsprop_step(
    params, grads, square_avgs, momentum_buffers, *, lr, alpha, eps, momentum, weight_decay,
    grad_scale=1.0,
):  # fmt: skip
    """One RMSprop update of every parameter, in place, as ``torch.optim.RMSprop``."""
    buffers = momentum_buffers if momentum else [None] * len(params)
    for p, g, a, b in zip(params, grads, square_avgs, buffers, strict=True):
        dtype = p.dtype.type
        g = _gradient(g, p, grad_scale, weight_decay)
        a[...] = dtype(alpha) * a + dtype(1 - alpha) * g * g
        step = g / (np.sqrt(a) + dtype(eps))
        if momentum:
            b[...] = dtype(momentum) * b + step
            step = b
        p -= dtype(lr) * step


def sum_of_squares(arrays):
    """The sum of the squares of every element of every array, in float64."""
    return float(sum(np.square(a, dtype=np.float64).sum() for a in arrays))
