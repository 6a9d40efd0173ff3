"""Gates at work: one held-out window through :func:`event_memory`'s LSTM, unit by unit.

The claim: the cell state changes at the event and holds the change while its trend
lasts, the forget gates keeping most of the cell at every step.
"""

import numpy as np

from ..inspect import gate_heatmap, gates
from ._result import Result, frame
from .event_memory import LEAD, event_memory

__all__ = ["gates_at_work"]


def gates_at_work(memory=None, plot=True, **settings):
    """The gates of :func:`event_memory`'s LSTM over one held-out window, as heatmaps.

    Parameters
    ----------
    memory : Result, optional
        What :func:`event_memory` returned: its trained LSTM and window are looked
        into, and nothing is trained again. None runs it first, with ``settings``.
    plot : bool
        Draw the heatmaps (:func:`rnnkit.inspect.gate_heatmap`).
    **settings
        :func:`event_memory`'s arguments, when ``memory`` is None.

    Returns
    -------
    Result
        ``name="gates"``; the table has, per step of the window, the mean over
        units of the input, forget and output gates and of ``|c|``; ``numbers``
        the mean forget gate before the event and while its trend lasts.
    """
    if memory is None:
        memory = event_memory(plot=False, **settings)
    elif getattr(memory, "name", None) != "event_memory":
        raise TypeError(f"memory must be the Result of event_memory, got {memory!r}")
    elif settings:
        raise TypeError(
            f"gates_at_work takes memory or event_memory's settings, not both; got memory "
            f"and {sorted(settings)}"
        )
    window, duration = memory.artifacts["window"], memory.artifacts["duration"]
    states = gates(memory.artifacts["lstm"], window)
    layer = states[-1]
    steps = np.arange(len(window)) - LEAD
    table = frame(
        {
            "step": steps,
            "input_gate": layer["input"].mean(axis=1),
            "forget_gate": layer["forget"].mean(axis=1),
            "output_gate": layer["output"].mean(axis=1),
            "mean_abs_cell": np.abs(layer["cell"]).mean(axis=1),
        }
    )
    during = (steps > 0) & (steps <= duration)
    numbers = {
        "forget_before": float(layer["forget"][steps < 0].mean()),
        "forget_during": float(layer["forget"][during].mean()),
        "abs_cell_before": float(np.abs(layer["cell"][steps < 0]).mean()),
        "abs_cell_during": float(np.abs(layer["cell"][during]).mean()),
    }
    caption = (
        f"Every gate and state of the trained LSTM over one held-out window (columns: steps; "
        f"rows: units); the event arrives at step {LEAD} and its trend lasts {duration} steps. "
        f"The cell state (4th panel) changes at the event and holds the change for about the "
        f"trend's duration: mean |c| {numbers['abs_cell_before']:.2f} before, "
        f"{numbers['abs_cell_during']:.2f} during. The forget gates stay high throughout "
        f"(mean {numbers['forget_before']:.2f} before, {numbers['forget_during']:.2f} during), "
        "so each step keeps most of the cell; the input gates decide what is written in."
    )
    figure = None
    if plot:
        figure = gate_heatmap(
            states, title=f"LSTM gates and states, one window; event at step {LEAD}"
        )
    return Result(
        name="gates",
        title="Gates at work: one window through the LSTM, unit by unit",
        table=table,
        figure=figure,
        caption=caption,
        numbers=numbers,
    )
