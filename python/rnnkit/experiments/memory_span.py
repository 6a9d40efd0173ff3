"""An LSTM bridges long lags, an RNN does not: the adding problem over sequence lengths.

The adding problem of Hochreiter & Schmidhuber (1997) hides two numbers in a
sequence of noise and asks for their sum at the end: the network must carry the
first number across about half the sequence. With the defaults here, an LSTM
learns it at length 50 and a tanh RNN stays at the level of predicting the mean
(MSE 1/6), as with PyTorch. :func:`memory_span` measures this over lengths;
:mod:`.fading_gradients` shows why.

numpy is the only hard dependency; the tables need pandas and the figures
matplotlib (``pip install 'rnnkit[plot]'``).
"""

import time

import numpy as np

from .._checks import check_choice, check_int, check_positive, check_seed
from ..models import CELLS, NETWORKS, SequenceRegressor
from ..plot import NETWORK_COLORS, _figure
from ..train import Adam, evaluate, grad_norm
from ._result import Result
from ._result import frame as _frame

__all__ = ["adding_problem", "adding_problem_batch", "memory_span"]

# The MSE of always predicting the mean target 1.0: the sum of two U[0, 1) values has variance 1/6.
MEAN_MSE = 1.0 / 6.0
# Test MSE below this: the task is learned (PyTorch's LSTM reaches about 0.005 at length 50).
LEARNED_MSE = 0.02
# Test MSE above this: little better than predicting the mean.
FORGOTTEN_MSE = 0.1


def adding_problem_batch(batch_size, seq_len, rng):
    """A batch of the adding problem (Hochreiter & Schmidhuber, 1997).

    Channel 0 holds values uniform in [0, 1); channel 1 is a marker, 1 at
    exactly two steps, one drawn uniformly from the first half
    ``[0, seq_len // 2)`` and one from the second half ``[seq_len // 2, seq_len)``,
    0 elsewhere. The target is the sum of the two marked values, so predicting
    its mean 1.0 gives an MSE of 1/6.

    Parameters
    ----------
    batch_size : int
        Sequences N.
    seq_len : int
        Steps T, at least 2 (one per half).
    rng : numpy.random.Generator, int or None
        Source of the draws (anything ``numpy.random.default_rng`` accepts; a
        Generator is used and advanced as is).

    Returns
    -------
    X : ndarray (N, T, 2) float32
    y : ndarray (N, 1) float32
    """
    n = check_int("batch_size", batch_size)
    T = check_int("seq_len", seq_len, minimum=2)
    rng = np.random.default_rng(rng)
    X = np.zeros((n, T, 2), dtype=np.float32)
    X[:, :, 0] = rng.random((n, T))
    rows = np.arange(n)
    first = rng.integers(0, T // 2, n)
    second = rng.integers(T // 2, T, n)
    X[rows, first, 1] = 1.0
    X[rows, second, 1] = 1.0
    y = (X[rows, first, 0] + X[rows, second, 0])[:, None]
    return X, y


def adding_problem(
    cell,
    seq_len,
    steps=3000,
    batch_size=64,
    hidden_size=64,
    lr=1e-3,
    clip=1.0,
    seed=0,
    test_size=2000,
    return_model=False,
    variant="vanilla",
):
    """Train a network on the adding problem and return its test MSE.

    Every step draws a fresh batch, so the network cannot memorise sequences:
    ``SequenceRegressor(cell, input_size=2, hidden_size, seed=seed)`` trained
    by Adam on the MSE, the global gradient norm clipped to ``clip``.

    Parameters
    ----------
    cell : {"rnn", "gru", "lstm"}
        A tanh RNN or an LSTM (PyTorch's initialisation, forget bias 0).
    seq_len : int
        Sequence length T >= 2; the first marked value lies T/2 steps back on average.
    steps : int
        Optimizer steps, one fresh batch each.
    batch_size, hidden_size : int
    lr : float
        Adam's learning rate.
    clip : float
        Largest global gradient norm of a step.
    seed : int or None
        Seeds the weights and, through independent streams, the training
        batches and the test set.
    test_size : int
        Held-out test sequences, from a stream of their own (never trained on).
    return_model : bool
        Also return the trained model.
    variant : str
        The LSTM's variant (see :class:`rnnkit.models.LSTM`); "vanilla" for the others.

    Returns
    -------
    mse : float
        Test MSE; about 1/6 means nothing was learned, NaN that training diverged.
    model : SequenceRegressor
        Only with ``return_model=True``.
    """
    check_choice("cell", cell, CELLS)
    seq_len = check_int("seq_len", seq_len, minimum=2)
    steps = check_int("steps", steps)
    batch_size = check_int("batch_size", batch_size)
    hidden_size = check_int("hidden_size", hidden_size)
    lr = check_positive("lr", lr)
    clip = check_positive("clip", clip)
    seed = check_seed("seed", seed)
    test_size = check_int("test_size", test_size)

    model = SequenceRegressor(
        cell=cell, input_size=2, hidden_size=hidden_size, seed=seed, variant=variant
    )
    optimizer = Adam(lr)
    # Spawned streams are independent of each other and of the weights' default_rng(seed).
    train_stream, test_stream = np.random.SeedSequence(seed).spawn(2)
    train_rng = np.random.default_rng(train_stream)
    X_test, y_test = adding_problem_batch(test_size, seq_len, np.random.default_rng(test_stream))
    for _ in range(steps):
        X, y = adding_problem_batch(batch_size, seq_len, train_rng)
        pred = model.forward(X, training=True)
        grads = model.backward(2.0 * (pred - y) / len(y))
        scale = min(1.0, clip / (grad_norm(grads) + 1e-6))
        optimizer.step(model.params, grads, grad_scale=scale)
    mse = float(evaluate(model, X_test, y_test))
    return (mse, model) if return_model else mse


def _span_compute(seq_lens, cells, steps, kwargs):
    """Train every (cell, length) pair, cells outermost, and time each run.

    Returns
    -------
    table : pandas.DataFrame
        Columns cell, seq_len, test_mse, seconds; one row per run, in run order.
    numbers : dict of str to float
        ``"{cell}_mse_at_{T}"`` for every run.
    """
    rows = []
    for cell in cells:
        for T in seq_lens:
            start = time.perf_counter()
            mse = adding_problem(cell, T, steps=steps, **kwargs)
            seconds = time.perf_counter() - start
            rows.append({"cell": cell, "seq_len": T, "test_mse": mse, "seconds": seconds})
    numbers = {f"{r['cell']}_mse_at_{r['seq_len']}": r["test_mse"] for r in rows}
    return _frame(rows), numbers


def _span_sentence(cell, lengths, mses):
    """Where one cell stops learning, in words, from its test MSE per length (ascending)."""
    learned = None  # the longest length up to which every MSE is below LEARNED_MSE
    for T, mse in zip(lengths, mses, strict=True):
        if not mse < LEARNED_MSE:
            break
        learned = T
    forgotten = None  # the shortest length from which on every MSE is above FORGOTTEN_MSE
    for T, mse in zip(lengths[::-1], mses[::-1], strict=True):
        if not mse > FORGOTTEN_MSE:
            break
        forgotten = T
    name = cell.upper()
    if forgotten == lengths[0]:
        return (
            f"The {name} is at the mean-prediction level (MSE > {FORGOTTEN_MSE}) at every "
            f"length tried, from T = {forgotten}."
        )
    if learned is None:
        first = f"is above {LEARNED_MSE} already at T = {lengths[0]}"
    elif learned == lengths[-1]:
        first = f"stays below {LEARNED_MSE} at every length tried, up to T = {learned}"
    else:
        first = f"stays below {LEARNED_MSE} up to T = {learned}"
    if forgotten is None:
        last = f"still beats the mean at T = {lengths[-1]} (MSE {mses[-1]:.3g})"
    else:
        last = f"is at the mean-prediction level (MSE > {FORGOTTEN_MSE}) from T = {forgotten} on"
    return f"The {name} {first} and {last}."


def _span_caption(numbers, seq_lens, cells, steps):
    """The caption: the setting, the reference lines, and one sentence per cell."""
    sentences = [
        _span_sentence(cell, seq_lens, [numbers[f"{cell}_mse_at_{T}"] for T in seq_lens])
        for cell in cells
    ]
    return (
        f"Test MSE on the adding problem (the sum of two marked values, one in each half of a "
        f"sequence of length T) after {steps} Adam steps on fresh batches, against T, on log "
        f"scales. The dashed line is the MSE of always predicting the mean, 1/6; the dotted "
        f"line {LEARNED_MSE}. " + " ".join(sentences)
    )


def _span_figure(table):
    """Test MSE against length, one line per cell in the table's order, on log scales."""
    fig, ax = _figure(width=7.5, height=4.5)
    for cell in dict.fromkeys(table["cell"]):
        rows = table[table["cell"] == cell]
        name = cell.upper()
        ax.plot(rows["seq_len"], rows["test_mse"], "o-", color=NETWORK_COLORS[name], label=name)
    ax.axhline(MEAN_MSE, color="black", linestyle="--", linewidth=1, label="predicting the mean")
    ax.axhline(LEARNED_MSE, color="0.5", linestyle=":", linewidth=1, label=f"{LEARNED_MSE}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    # the lengths run, written plainly: a log axis would label them as powers of ten
    lengths = sorted(set(table["seq_len"]))
    ax.set_xticks(lengths, labels=[str(T) for T in lengths])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("sequence length T (the first marked value is about T/2 steps back)")
    ax.set_ylabel("test MSE")
    ax.set_title("Adding problem: test error against the lag to bridge")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig


def memory_span(seq_lens=(10, 20, 50, 100, 200), cells=NETWORKS, steps=3000, plot=True, **kwargs):
    """Test MSE on the adding problem for each cell and sequence length.

    Parameters
    ----------
    seq_lens : sequence of int
        Sequence lengths T >= 2 (run in ascending order, each once).
    cells : sequence of {"rnn", "gru", "lstm"}
    steps : int
        Training steps of every run.
    plot : bool
        Draw the figure (needs matplotlib).
    **kwargs
        Passed on to :func:`adding_problem` (batch_size, hidden_size, lr, clip,
        seed, test_size).

    Returns
    -------
    Result
        ``table`` has columns cell, seq_len, test_mse, seconds; ``numbers``
        holds ``"{cell}_mse_at_{T}"`` for every run.
    """
    seq_lens = sorted({check_int(f"seq_lens[{i}]", T, minimum=2) for i, T in enumerate(seq_lens)})
    cells = list(dict.fromkeys(check_choice(f"cells[{i}]", c, CELLS) for i, c in enumerate(cells)))
    if not seq_lens or not cells:
        raise ValueError("seq_lens and cells must each name at least one setting")
    table, numbers = _span_compute(seq_lens, cells, steps, kwargs)
    return Result(
        name="memory_span",
        title="Memory span: the LSTM bridges lags at which the RNN predicts only the mean",
        table=table,
        figure=_span_figure(table) if plot else None,
        caption=_span_caption(numbers, seq_lens, cells, steps),
        numbers=numbers,
    )
