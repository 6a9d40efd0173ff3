"""Gradients fade with distance in an RNN: the gradient of the prediction per lag.

Why :mod:`.memory_span` finds that a tanh RNN cannot learn the adding problem
at long lags while an LSTM can: :func:`gradient_flow` measures how strongly
the prediction depends on the input k steps back, and :func:`fading_gradients`
compares it across lags for both cells, at initialisation and after training.

numpy is the only hard dependency; the tables need pandas and the figures
matplotlib (``pip install 'rnnkit[plot]'``).
"""

import math

import numpy as np

from .._checks import check_int, check_seed
from ..models import SequenceRegressor
from ..plot import NETWORK_COLORS, _figure
from ._result import Result
from ._result import frame as _frame
from .memory_span import adding_problem, adding_problem_batch

__all__ = ["fading_gradients", "gradient_flow"]

# The RNN first, as in memory_span's default (models.CELLS lists the LSTM first); the
# order of the table's rows, the numbers and the legend follows it.
_CELLS = ("rnn", "lstm")


def gradient_flow(model, x):
    """How strongly the prediction depends on each past input: gradient norm per lag.

    Parameters
    ----------
    model : SequenceRegressor
        Any cell, float32 or float64.
    x : array_like (N, T, F)
        Input sequences.

    Returns
    -------
    ndarray (T,) float64
        Entry k is the norm over the F features of d(sum of the predictions) /
        d x[:, T-1-k, :], averaged over the N sequences: index 0 is the last
        step (lag 0), index T-1 the first.

    Notes
    -----
    One forward (no dropout) and one backward through the core. Like
    ``model.predict``, this replaces the activations a later ``model.backward``
    would use.
    """
    _, h_n = model.recurrent.forward(x, training=False)
    head = model.params["head.weight"]
    # d(sum of outputs)/d h_T = ones @ head.weight: the head's column sums, for every sequence.
    d_last = np.ones((len(h_n), len(head)), dtype=head.dtype) @ head
    dx, _ = model.recurrent.backward(d_last=d_last)
    # float64 before squaring: float32 squares of gradients from far back underflow to 0.
    per_step = np.linalg.norm(dx.astype(np.float64), axis=2).mean(axis=0)
    return per_step[::-1].copy()


def _fading_compute(seq_len, hidden_size, train_steps, seed, train_len, lag):
    """Gradient flow of each cell on one probe batch, at initialisation and after training.

    Returns
    -------
    table : pandas.DataFrame
        Columns cell, stage, lag, grad_norm; per cell the initial rows, then the trained.
    numbers : dict of str to float
        ``"{cell}_ratio_lag{lag}"``, ``"{cell}_ratio_lag{lag}_trained"`` and
        ``"{cell}_trained_mse"``.
    """
    # default_rng(seed) is a stream apart from the ones adding_problem spawns from the seed.
    probe, _ = adding_problem_batch(256, seq_len, np.random.default_rng(seed))
    rows, numbers = [], {}
    for cell in _CELLS:
        initial = SequenceRegressor(cell=cell, input_size=2, hidden_size=hidden_size, seed=seed)
        mse, trained = adding_problem(
            cell,
            train_len,
            steps=train_steps,
            hidden_size=hidden_size,
            seed=seed,
            return_model=True,
        )
        for stage, model in (("initial", initial), ("trained", trained)):
            flow = gradient_flow(model, probe)
            rows += [
                {"cell": cell, "stage": stage, "lag": k, "grad_norm": g} for k, g in enumerate(flow)
            ]
            suffix = "" if stage == "initial" else "_trained"
            numbers[f"{cell}_ratio_lag{lag}{suffix}"] = float(flow[lag] / flow[0])
        numbers[f"{cell}_trained_mse"] = mse
    return _frame(rows), numbers


def _fade(ratio):
    """A gradient ratio (lag k over lag 0) in words."""
    if ratio == 0:
        return "has vanished below the floating-point range"
    if ratio < 1e-2:
        return f"has shrunk by {-math.log10(ratio):.0f} orders of magnitude ({ratio:.1e})"
    if ratio < 1:
        return f"stays within a factor {1 / ratio:.2g} ({ratio:.2g})"
    return f"is {ratio:.2g} times as large"


def _fading_caption(numbers, seq_len, train_steps, train_len, lag):
    """The caption: the setting, the trained MSEs, and the ratios at ``lag`` in words."""

    def ratio(cell, suffix):
        return _fade(numbers[f"{cell}_ratio_lag{lag}{suffix}"])

    return (
        f"Norm of the gradient of the prediction with respect to the input k steps before the "
        f"end, averaged over 256 adding-problem sequences of length {seq_len}, on a log scale: "
        f"dashed at initialisation, solid after {train_steps} training steps at length "
        f"{train_len} (test MSE: RNN {numbers['rnn_trained_mse']:.3g}, LSTM "
        f"{numbers['lstm_trained_mse']:.3g}; 1/6 is predicting the mean). Backpropagation "
        f"through time is a telephone game: each step back passes the message through the "
        f"recurrent Jacobian. A tanh RNN's Jacobian shrinks it at every step; the LSTM's cell "
        f"state passes it on multiplied by the forget gate, close to 1 once training has opened "
        f"the gate. After training, at lag {lag} relative to lag 0, the RNN's gradient "
        f"{ratio('rnn', '_trained')} while the LSTM's {ratio('lstm', '_trained')}. At "
        f"initialisation the RNN's {ratio('rnn', '')} and the LSTM's {ratio('lstm', '')}: "
        f"PyTorch's initialisation leaves its forget gates near 0.5, so it has to learn to keep "
        f"its memory open."
    )


def _fading_figure(table, probe_len, train_len):
    """Gradient norm against lag, one line per (cell, stage), on a log scale."""
    fig, ax = _figure(width=8.0, height=4.5)
    for (cell, stage), rows in table.groupby(["cell", "stage"], sort=False):
        name = cell.upper()
        # a log axis cannot show 0: leave gradients that underflowed out of the line
        values = rows["grad_norm"].where(rows["grad_norm"] > 0)
        style = "--" if stage == "initial" else "-"
        ax.plot(rows["lag"], values, style, color=NETWORK_COLORS[name], label=f"{name}, {stage}")
    ax.set_yscale("log")
    ax.set_xlabel(f"lag k (steps before the end of a length-{probe_len} sequence)")
    ax.set_ylabel("|d prediction / d input at lag k|")
    ax.set_title(
        f"Gradient reaching back k steps: dashed at initialisation, solid after training "
        f"at length {train_len}"
    )
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig


def fading_gradients(seq_len=100, hidden_size=64, train_steps=3000, seed=0, plot=True):
    """The gradient of the prediction with respect to older and older inputs, RNN against LSTM.

    For each cell, :func:`gradient_flow` on 256 adding-problem sequences of
    length ``seq_len``, once at initialisation and once after
    ``adding_problem(cell, min(seq_len, 50), steps=train_steps, ...)`` trained
    the same network (training at length 50 at most keeps this fast). With
    the defaults the trained networks are those of
    :func:`~rnnkit.experiments.memory_span.memory_span` at length 50, and the
    whole function takes about 20 s on two cores.

    Parameters
    ----------
    seq_len : int
        Length of the probe sequences, >= 2; lags 0 to seq_len - 1 are measured.
    hidden_size : int
    train_steps : int
        Training steps; the LSTM needs about 3000 to solve the task at length 50,
        and its gradient fades until it has.
    seed : int or None
        Seeds the weights, the training and the probe sequences.
    plot : bool
        Draw the figure (needs matplotlib).

    Returns
    -------
    Result
        ``table`` has columns cell, stage ("initial" or "trained"), lag,
        grad_norm; ``numbers`` holds ``"{cell}_ratio_lag{L}"`` (gradient at lag
        L over lag 0, at initialisation), ``"{cell}_ratio_lag{L}_trained"`` and
        ``"{cell}_trained_mse"``, with L = min(50, seq_len - 1).
    """
    seq_len = check_int("seq_len", seq_len, minimum=2)
    hidden_size = check_int("hidden_size", hidden_size)
    train_steps = check_int("train_steps", train_steps)
    seed = check_seed("seed", seed)
    train_len = min(seq_len, 50)
    lag = min(50, seq_len - 1)
    table, numbers = _fading_compute(seq_len, hidden_size, train_steps, seed, train_len, lag)
    return Result(
        name="fading_gradients",
        title="Fading gradients: what the RNN loses over the lags, the LSTM keeps",
        table=table,
        figure=_fading_figure(table, seq_len, train_len) if plot else None,
        caption=_fading_caption(numbers, seq_len, train_steps, train_len, lag),
        numbers=numbers,
    )
