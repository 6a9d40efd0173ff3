"""Look inside a trained network: its gates, cell state and hidden state over time.

:func:`gates` runs a model forward once (no dropout) and hands back, per layer,
what the compiled core already computed and kept for backpropagation, split
into named arrays; :func:`gate_heatmap` draws them for one sequence. What each
one means, at step t and for every hidden unit:

- ``input`` gate i_t in (0, 1): how much of the new candidate is written into the cell.
- ``forget`` gate f_t in (0, 1): how much of the previous cell state is kept (1 = remember all).
- ``output`` gate o_t in (0, 1): how much of the (squashed) cell state is shown as h_t.
- ``cell`` state c_t = f_t * c_{t-1} + i_t * g_t: the LSTM's long-term memory.
- ``hidden`` state h_t = o_t * tanh(c_t) (LSTM) or act(W x_t + U h_{t-1} + b) (RNN): the output.

A GRU has two gates and no cell:

- ``reset`` gate r_t in (0, 1): how much of h_{t-1} the candidate reads (0 = start afresh).
- ``update`` gate z_t in (0, 1): how much of h_{t-1} is kept (1 = remember all).
- ``candidate`` n_t = tanh(W x_t + b + r_t * (U h_{t-1} + b')) in (-1, 1): what may be written.
- ``hidden`` state h_t = (1 - z_t) * n_t + z_t * h_{t-1}.

A vanilla RNN has no gates and no cell: it returns only ``hidden``.

The model sees ``x`` exactly as given: pass it in the same (scaled) units the
model was trained on.
"""

import numpy as np

__all__ = [
    "GATE_NAMES", "GRU_GATE_NAMES", "GRU_STATE_NAMES", "STATE_NAMES", "gate_heatmap", "gates",
]  # fmt: skip

#: The LSTM's three gates, in the order they are returned and drawn.
GATE_NAMES = ("input", "forget", "output")
#: Everything :func:`gates` returns for an LSTM layer, in drawing order.
STATE_NAMES = (*GATE_NAMES, "cell", "hidden")
#: The GRU's two gates, and everything :func:`gates` returns for a GRU layer.
GRU_GATE_NAMES = ("reset", "update")
GRU_STATE_NAMES = (*GRU_GATE_NAMES, "candidate", "hidden")

# slices of the LSTM's (N, T, 4H) gate array, PyTorch's order i, f, g, o
_GATE_BLOCKS = {"input": 0, "forget": 1, "output": 3}
# rows of the GRU's (N, T, 4, H) gate array: r, z, n (and W_hn h + b_hn, not shown)
_GRU_ROWS = {"reset": 0, "update": 1, "candidate": 2}
# every state a layer may have, in drawing order, and those drawn on a 0..1 scale
_DRAWN = (*GATE_NAMES, *GRU_GATE_NAMES, "candidate", "cell", "hidden")
_GATES_0_1 = (*GATE_NAMES, *GRU_GATE_NAMES)


def _stack(model):
    """The recurrent stack of ``model`` (a SequenceRegressor, or an LSTM/RNN stack itself)."""
    stack = getattr(model, "recurrent", model)
    if not (hasattr(stack, "trace") and hasattr(stack, "input_size")):
        raise TypeError(
            "model must be a rnnkit SequenceRegressor (or an rnnkit.models LSTM/RNN stack) "
            f"with a `recurrent` stack whose activations can be read, got {type(model).__name__}"
        )
    return stack


def _as_batch(x, features):
    """x as (N, T, features) float64 plus how to shape the answer: "frame", "single" or "batch"."""
    index = None
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        pd = None
    if pd is not None and isinstance(x, pd.Series):
        x = x.to_frame()
    if pd is not None and isinstance(x, pd.DataFrame):
        index = x.index
        kind = "frame"
        try:
            values = x.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(
                "x is a DataFrame with non-numeric columns: every column must be a numeric "
                "input feature"
            ) from err
        if values.ndim != 2:
            raise ValueError(f"x must be a DataFrame of shape (T, {features}), got {values.shape}")
    else:
        try:
            values = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"x must be a numeric array (T, {features}) or (N, T, {features}), or a pandas "
                f"DataFrame with {features} columns; got {type(x).__name__}"
            ) from err
        if values.ndim not in (2, 3):
            hint = " (one feature per step: pass x[:, None])" if values.ndim == 1 else ""
            raise ValueError(
                f"x must be one sequence (T, {features}) or a batch (N, T, {features}), "
                f"got shape {values.shape}{hint}"
            )
        kind = "single" if values.ndim == 2 else "batch"
    if values.ndim == 2:
        values = values[None]
    if values.shape[2] != features:
        raise ValueError(
            f"x has {values.shape[2]} features per step but the model takes {features} "
            f"(x's shape is {values.shape[1:] if kind != 'batch' else values.shape})"
        )
    if values.shape[0] < 1 or values.shape[1] < 1:
        raise ValueError(f"x must hold at least one sequence of one step, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("x has NaN or inf values: clean them first (rnnkit.data.handle_missing)")
    return values, kind, index


def _shape(array, kind, index):
    """(N, T, H) -> the caller's form: a DataFrame, a (T, H) array or the (N, T, H) array."""
    if kind == "batch":
        return np.array(array)  # a writeable, contiguous copy of the saved view
    if kind == "single":
        return np.array(array[0])
    import pandas as pd

    columns = [f"h{j}" for j in range(array.shape[2])]
    return pd.DataFrame(np.array(array[0]), index=index, columns=columns)


def gates(model, x):
    """Gate activations, cell and hidden state of every layer over time.

    Parameters
    ----------
    model : rnnkit.models.SequenceRegressor
        (or an ``rnnkit.models.LSTM`` / ``GRU`` / ``RNN`` stack). Run forward once on ``x``
        without dropout; the model keeps nothing of it.
    x : pandas DataFrame (T, F), ndarray (T, F) or ndarray (N, T, F)
        A DataFrame or a 2-D array is one sequence (rows are time steps,
        columns the model's input features; a Series is one feature); a 3-D
        array is a batch of them. In the units the model was trained on
        (scale it first).

    Returns
    -------
    list of dict, one per layer (first layer first)
        For an LSTM the keys are ``"input"``, ``"forget"``, ``"output"`` (gate
        activations, in (0, 1)), ``"cell"`` and ``"hidden"``; for a GRU
        ``"reset"``, ``"update"`` (gates), ``"candidate"`` and ``"hidden"``; for an
        RNN only ``"hidden"``. Each value is an ndarray (N, T, H) for a 3-D ``x``,
        (T, H) for a 2-D ``x``, and for a DataFrame a DataFrame with ``x``'s
        index and columns ``h0 .. h{H-1}``. The last layer's ``"hidden"`` is
        what the model's head reads (its last row is h_T). Copies: writing to
        them changes nothing in the model.

    Raises
    ------
    TypeError
        ``model`` has no recurrent stack, or ``x`` is not numeric.
    ValueError
        ``x`` has the wrong number of dimensions or features, no steps, or NaN/inf.
    """
    stack = _stack(model)
    values, kind, index = _as_batch(x, stack.input_size)
    H = stack.hidden_size
    layers = []
    for saved in stack.trace(values):
        layer = {}
        if "cells" in saved:  # an LSTM
            for name, block in _GATE_BLOCKS.items():
                layer[name] = _shape(saved["gates"][:, :, block * H : (block + 1) * H], kind, index)
            layer["cell"] = _shape(saved["cells"], kind, index)
        elif "gates" in saved:  # a GRU
            for name, row in _GRU_ROWS.items():
                layer[name] = _shape(saved["gates"][:, :, row], kind, index)
        layer["hidden"] = _shape(saved["outputs"], kind, index)
        layers.append(layer)
    return layers


# -------------------------------------------------------------------------------- heatmap

_PANELS = {
    "input": "input gate i: how much is written",
    "forget": "forget gate f: how much is kept (1 = all)",
    "output": "output gate o: how much is shown",
    "reset": "reset gate r: how much of h the candidate reads",
    "update": "update gate z: how much of h is kept (1 = all)",
    "candidate": "candidate n: what may be written",
    "cell": "cell state c: the memory",
    "hidden": "hidden state h: the output",
}


def _one_sequence(value, sequence, name):
    """(T, H) float array and the time index (or None) of one state for one sequence."""
    if hasattr(value, "to_numpy") and hasattr(value, "index"):
        return np.asarray(value.to_numpy(), dtype=np.float64), value.index
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 2:
        if sequence not in (0, -1):
            raise ValueError(
                f"states[{name!r}] holds one sequence (T, H): sequence must be 0, got {sequence}"
            )
        return array, None
    if array.ndim != 3:
        raise ValueError(f"states[{name!r}] must be (T, H) or (N, T, H), got shape {array.shape}")
    if not -len(array) <= sequence < len(array):
        raise ValueError(f"sequence must be in [0, {len(array)}), got {sequence}")
    return array[sequence], None


def _unit_indices(units, H):
    if units is None:
        return np.arange(H)
    if isinstance(units, int | np.integer) and not isinstance(units, bool):
        if not 1 <= units <= H:
            raise ValueError(f"units as a count must be in [1, {H}], got {units}")
        return np.arange(units)
    chosen = np.asarray(units)
    if chosen.ndim != 1 or len(chosen) == 0 or chosen.dtype.kind not in "iu":
        raise ValueError(f"units must be None, a count, or a list of unit numbers, got {units!r}")
    if chosen.min() < -H or chosen.max() >= H:
        raise ValueError(f"units must be unit numbers in [0, {H}), got {units!r}")
    return chosen % H


def _time_ticks(ax, index, T):
    """Label a few time steps with the pandas index values (dates without the time of day)."""
    positions = np.unique(np.linspace(0, T - 1, min(T, 6)).round().astype(int))
    ax.set_xticks(positions, [time_label(index[p]) for p in positions])


def time_label(value):
    """A time as a reader wants it: the date alone at midnight, else to the minute."""
    if hasattr(value, "strftime"):
        midnight = value.hour == value.minute == value.second == 0
        return value.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M")
    return str(value)


def gate_heatmap(states, sequence=0, units=None, title=None, layer=-1):
    """Heatmaps of the gates, cell and hidden state of one sequence, time on the x axis.

    Parameters
    ----------
    states : list of dict or dict
        What :func:`gates` returns (all layers; ``layer`` picks one) or one
        layer's dict. Values are (N, T, H) or (T, H) arrays or DataFrames; an
        RNN's dict has only ``"hidden"``.
    sequence : int
        Which sequence of an (N, T, H) batch to draw.
    units : None, int or list of int
        Hidden units to draw as rows: all (None), the first ``units``, or these.
    title : str or None
        Figure title (default: says which sequence and layer).
    layer : int
        Which layer of a list to draw (default: the last, which the head reads).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per state (input, forget, output gate, cell, hidden for an
        LSTM; reset, update gate, candidate, hidden for a GRU: those present),
        sharing the time axis, each with its colour bar. Gates use a 0..1 scale;
        the others a scale symmetric around 0.
    """
    if isinstance(states, list | tuple):
        if not states:
            raise ValueError("states is an empty list: pass what rnnkit.inspect.gates returns")
        if not -len(states) <= layer < len(states):
            raise ValueError(f"layer must be in [0, {len(states)}), got {layer}")
        layer_number = layer % len(states)
        states = states[layer]
    else:
        layer_number = None
    if not isinstance(states, dict):
        raise TypeError(
            f"states must be what rnnkit.inspect.gates returns (a list of dicts), "
            f"got {type(states).__name__}"
        )
    names = [name for name in _DRAWN if name in states]
    if not names:
        raise ValueError(f"states has none of the keys {_DRAWN}: got {sorted(states)}")
    panels = {}
    index = None
    for name in names:
        panels[name], name_index = _one_sequence(states[name], sequence, name)
        index = name_index if index is None else index
    T, H = panels[names[0]].shape
    chosen = _unit_indices(units, H)
    from .plot import _figure

    fig, axes = _figure(
        len(names), 1, width=10.0, height=1.0 + 1.7 * len(names), sharex=True, squeeze=False
    )
    axes = axes[:, 0]
    for ax, name in zip(axes, names, strict=True):
        image = panels[name][:, chosen].T  # units as rows, time as columns
        if name in _GATES_0_1:
            style = {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0}
        else:
            top = float(np.max(np.abs(image))) or 1.0
            style = {"cmap": "RdBu_r", "vmin": -top, "vmax": top}
        shown = ax.imshow(image, aspect="auto", interpolation="nearest", origin="lower", **style)
        fig.colorbar(shown, ax=ax, pad=0.01, fraction=0.04)
        ax.set_title(_PANELS[name], fontsize="medium", loc="left")
        ax.set_ylabel("unit")
        if len(chosen) <= 12:
            ax.set_yticks(np.arange(len(chosen)), [str(u) for u in chosen])
    if index is not None:
        _time_ticks(axes[-1], index, T)
        axes[-1].set_xlabel(str(index.name) if index.name is not None else "time")
    else:
        axes[-1].set_xlabel("time step")
    if title is None:
        where = f"layer {layer_number}, " if layer_number is not None else ""
        title = f"Inside the network: {where}sequence {sequence}, {len(chosen)} of {H} units"
    fig.suptitle(title)
    return fig
