"""What an LSTM and a GRU cost against a vanilla RNN of the same hidden size.

The claim under test: "LSTMs take 2-3x longer to train". Parameters are counted;
training time per epoch is measured on identical batches. The GRU, three gate blocks
to the LSTM's four, stands between them.
"""

import numpy as np

from .. import datasets as _datasets
from ..data import split_windows
from ..models import NETWORKS, SequenceRegressor
from ..plot import NETWORK_COLORS, _figure
from ..train import fit as _fit
from ._common import threads
from ._result import Result
from ._result import frame as _frame

__all__ = ["cost"]

CLAIM_LOW, CLAIM_HIGH = 2.0, 3.0  # "LSTMs take 2-3x longer to train"


def cost(
    hidden_size=50,
    lookback=30,
    batch_size=32,
    n_windows=4000,
    epochs=3,
    seed=0,
    plot=True,
    num_threads=1,
):
    """Parameters and training time of an RNN, a GRU and an LSTM of the same hidden size.

    The networks read windows of GARCH(1,1) log returns (synthetic: only the time is
    of interest, so every window is a training window) and are trained with
    :func:`rnnkit.train.fit`, no validation, ``patience=None``, identical batches.
    Seconds per epoch is the median over the epochs after the first (the first pays
    for allocations and cold caches); with ``epochs=1`` the only epoch is used.

    Parameters
    ----------
    hidden_size : int
        H of every network.
    lookback : int
        Time steps per window.
    batch_size : int
        Windows per optimizer step.
    n_windows : int
        Training windows.
    epochs : int
        Epochs timed per network (at least 2 for a median without the first).
    seed : int
        Seeds the series, the weights and the batch order.
    plot : bool
        Draw the figure (needs matplotlib).
    num_threads : int or None
        Threads of the compiled core while timing (restored afterwards); None keeps
        the current setting.

    Returns
    -------
    Result
        ``name="cost"``; table columns cell, parameters, recurrent_parameters,
        seconds_per_epoch; numbers ``param_ratio`` (whole models, LSTM / RNN),
        ``recurrent_param_ratio`` (exactly 4 for one layer) and ``time_ratio``, and the
        GRU's against the RNN's: ``gru_param_ratio``, ``gru_recurrent_param_ratio``
        (exactly 3) and ``gru_time_ratio``.
    """
    rows = _compute(hidden_size, lookback, batch_size, n_windows, epochs, seed, num_threads)
    by_cell = {row["cell"]: row for row in rows}
    rnn, gru, lstm = by_cell["RNN"], by_cell["GRU"], by_cell["LSTM"]
    numbers = {}
    for prefix, row in (("", lstm), ("gru_", gru)):
        numbers |= {
            f"{prefix}param_ratio": row["parameters"] / rnn["parameters"],
            f"{prefix}recurrent_param_ratio": row["recurrent_parameters"]
            / rnn["recurrent_parameters"],
            f"{prefix}time_ratio": row["seconds_per_epoch"] / rnn["seconds_per_epoch"],
        }
    settings = {"hidden_size": hidden_size, "lookback": lookback, "batch_size": batch_size,
                "n_windows": n_windows, "epochs": epochs, "num_threads": num_threads}  # fmt: skip
    return Result(
        name="cost",
        title="An LSTM has four times an RNN's recurrent weights: does it take 2-3x longer "
        "to train?",
        table=_frame(rows),
        figure=_draw(rows, numbers, hidden_size) if plot else None,
        caption=_caption(rnn, gru, lstm, numbers, settings),
        numbers=numbers,
    )


def _compute(hidden_size, lookback, batch_size, n_windows, epochs, seed, num_threads):
    """One row per cell: parameters, recurrent parameters, median seconds per epoch."""
    returns = _datasets.garch_series(n_windows + lookback + 1, seed=seed, return_components=True)
    # standardised with its own statistics (no validation or test block): nothing is judged
    train = split_windows(returns.returns, lookback, transform="none", val=0.0, test=0.0).train
    rows = []
    with threads(num_threads):
        for cell in NETWORKS:
            model = SequenceRegressor(cell=cell, input_size=1, hidden_size=hidden_size, seed=seed)
            history = _fit(
                model, train.X, train.y, epochs=epochs, batch_size=batch_size,
                patience=None, seed=seed, verbose=0,
            )  # fmt: skip
            times = history.epoch_time[1:] or history.epoch_time
            rows.append(
                {
                    "cell": cell.upper(),
                    "parameters": model.num_parameters(),
                    "recurrent_parameters": model.recurrent.num_parameters(),
                    "seconds_per_epoch": float(np.median(times)),
                }
            )
    return rows


def _caption(rnn, gru, lstm, numbers, settings):
    time_ratio = numbers["time_ratio"]
    if CLAIM_LOW <= time_ratio <= CLAIM_HIGH:
        verdict = "within the claimed 2-3x"
    elif time_ratio < CLAIM_LOW:
        verdict = "less than the claimed 2-3x"
    else:
        verdict = "more than the claimed 2-3x"
    num_threads, epochs = settings["num_threads"], settings["epochs"]
    threads_used = "the current number of" if num_threads is None else f"{num_threads}"
    which = {1: "its only epoch", 2: "its second epoch"}.get(epochs, f"median of epochs 2-{epochs}")
    return (
        f"At hidden size {settings['hidden_size']} the LSTM has {lstm['parameters']:,} "
        f"parameters and the RNN {rnn['parameters']:,}: {numbers['param_ratio']:.4f}x in all, "
        f"exactly {numbers['recurrent_param_ratio']:g}x in the recurrent layer "
        f"({lstm['recurrent_parameters']:,} vs {rnn['recurrent_parameters']:,}: four gate "
        f"blocks instead of one), diluted by the linear head both share "
        f"({settings['hidden_size'] + 1} parameters). One training epoch over "
        f"{settings['n_windows']:,} windows of {settings['lookback']} steps (batch "
        f"{settings['batch_size']}, {threads_used} core thread"
        f"{'' if num_threads == 1 else 's'}, {which}) took {lstm['seconds_per_epoch']:.3g} s "
        f"for the LSTM against {rnn['seconds_per_epoch']:.3g} s for the RNN: "
        f"{time_ratio:.2f}x, {verdict}. The LSTM does about 4x the matrix work per step"
        + (
            "; what is not proportional to the gates (the head, the loss, the optimizer "
            "step, the per-batch overhead) pulls the time ratio below 4"
            if time_ratio < 4
            else ", and four gates' activations on top"
        )
        + f". The GRU, three gate blocks, has {numbers['gru_recurrent_param_ratio']:g}x the "
        f"RNN's recurrent parameters and took {gru['seconds_per_epoch']:.3g} s "
        f"({numbers['gru_time_ratio']:.2f}x the RNN's, "
        f"{gru['seconds_per_epoch'] / lstm['seconds_per_epoch']:.2f}x the LSTM's)"
        ". Timings depend on the machine and its load; the parameter counts do not."
    )


def _draw(rows, numbers, hidden_size):
    figure, (left, right) = _figure(1, 2, width=9.0, height=3.8)
    cells = [row["cell"] for row in rows]
    colors = [NETWORK_COLORS[cell] for cell in cells]
    for ax, column, label in (
        (left, "parameters", "parameters"),
        (right, "seconds_per_epoch", "seconds per epoch"),
    ):
        values = [row[column] for row in rows]
        bars = ax.bar(cells, values, color=colors)
        fmt = "{:,.0f}" if column == "parameters" else "{:.3g} s"
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=2)
        ax.set_ylabel(label)
        ax.set_ylim(0, max(values) * 1.2)
        ax.grid(axis="y", alpha=0.3)
    left.set_title(
        f"Parameters at H={hidden_size}: LSTM/RNN = {numbers['param_ratio']:.3f}, "
        f"GRU/RNN = {numbers['gru_param_ratio']:.3f}",
        fontsize="medium",
    )
    right.set_title(
        f"Time per epoch: LSTM/RNN = {numbers['time_ratio']:.2f}, "
        f"GRU/RNN = {numbers['gru_time_ratio']:.2f}",
        fontsize="medium",
    )
    return figure
