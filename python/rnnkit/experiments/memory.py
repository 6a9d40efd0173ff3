"""How far back can a recurrent network remember? The adding problem and fading gradients.

The adding problem of Hochreiter & Schmidhuber (1997) hides two numbers in a
sequence of noise and asks for their sum at the end: the network must carry the
first number across about half the sequence. With the defaults here, an LSTM
learns it at length 50 and a tanh RNN stays at the level of predicting the mean
(MSE 1/6), as with PyTorch. :func:`memory_span` measures this over lengths;
:func:`fading_gradients` shows why, with the gradient of the prediction with
respect to ever older inputs.

numpy is the only hard dependency; the tables need pandas and the figures
matplotlib (``pip install 'rnnkit[plot]'``).
"""

import math
import numbers
import time

import numpy as np

from .._checks import check_int
from ..models import SequenceRegressor
from ..plot import NETWORK_COLORS, _figure
from ..train import Adam, evaluate, grad_norm
from ._result import Result
from ._result import frame as _frame

__all__ = [
    "adding_problem",
    "adding_problem_batch",
    "fading_gradients",
    "gradient_flow",
    "memory_span",
]

_CELLS = ("rnn", "lstm")
# The MSE of always predicting the mean target 1.0: the sum of two U[0, 1) values has variance 1/6.
MEAN_MSE = 1.0 / 6.0
# Test MSE below this: the task is learned (PyTorch's LSTM reaches about 0.005 at length 50).
LEARNED_MSE = 0.02
# Test MSE above this: little better than predicting the mean.
FORGOTTEN_MSE = 0.1


def _check_cell(cell, name="cell"):
    if cell not in _CELLS:
        raise ValueError(f"{name} must be 'rnn' or 'lstm', got {cell!r}")
    return cell


def _check_positive(name, value):
    """value as a float > 0 and finite, else a ValueError naming it."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_seed(seed):
    # The seed is split into independent streams, so it must be something SeedSequence takes.
    return None if seed is None else check_int("seed", seed, minimum=0)


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
):
    """Train a network on the adding problem and return its test MSE.

    Every step draws a fresh batch, so the network cannot memorise sequences:
    ``SequenceRegressor(cell, input_size=2, hidden_size, seed=seed)`` trained
    by Adam on the MSE, the global gradient norm clipped to ``clip``.

    Parameters
    ----------
    cell : {"rnn", "lstm"}
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

    Returns
    -------
    mse : float
        Test MSE; about 1/6 means nothing was learned, NaN that training diverged.
    model : SequenceRegressor
        Only with ``return_model=True``.
    """
    _check_cell(cell)
    seq_len = check_int("seq_len", seq_len, minimum=2)
    steps = check_int("steps", steps)
    batch_size = check_int("batch_size", batch_size)
    hidden_size = check_int("hidden_size", hidden_size)
    lr = _check_positive("lr", lr)
    clip = _check_positive("clip", clip)
    seed = _check_seed(seed)
    test_size = check_int("test_size", test_size)

    model = SequenceRegressor(cell=cell, input_size=2, hidden_size=hidden_size, seed=seed)
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


def _span_figure(table, cells):
    fig, ax = _figure(width=7.5, height=4.5)
    for cell in cells:
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


def memory_span(
    seq_lens=(10, 20, 50, 100, 200), cells=("rnn", "lstm"), steps=3000, plot=True, **kwargs
):
    """Test MSE on the adding problem for each cell and sequence length.

    Parameters
    ----------
    seq_lens : sequence of int
        Sequence lengths T >= 2 (run in ascending order, each once).
    cells : sequence of {"rnn", "lstm"}
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
    cells = list(dict.fromkeys(_check_cell(c, f"cells[{i}]") for i, c in enumerate(cells)))
    if not seq_lens or not cells:
        raise ValueError("seq_lens and cells must each name at least one setting")
    rows = []
    for cell in cells:
        for T in seq_lens:
            start = time.perf_counter()
            mse = adding_problem(cell, T, steps=steps, **kwargs)
            seconds = time.perf_counter() - start
            rows.append({"cell": cell, "seq_len": T, "test_mse": mse, "seconds": seconds})
    table = _frame(rows)
    sentences = [
        _span_sentence(cell, seq_lens, [r["test_mse"] for r in rows if r["cell"] == cell])
        for cell in cells
    ]
    caption = (
        f"Test MSE on the adding problem (the sum of two marked values, one in each half of a "
        f"sequence of length T) after {steps} Adam steps on fresh batches, against T, on log "
        f"scales. The dashed line is the MSE of always predicting the mean, 1/6; the dotted "
        f"line {LEARNED_MSE}. " + " ".join(sentences)
    )
    return Result(
        name="memory_span",
        title="Memory span: the LSTM bridges lags at which the RNN predicts only the mean",
        table=table,
        figure=_span_figure(table, cells) if plot else None,
        caption=caption,
        numbers={f"{r['cell']}_mse_at_{r['seq_len']}": r["test_mse"] for r in rows},
    )


def _fade(ratio):
    """A gradient ratio (lag k over lag 0) in words."""
    if ratio == 0:
        return "has vanished below the floating-point range"
    if ratio < 1e-2:
        return f"has shrunk by {-math.log10(ratio):.0f} orders of magnitude ({ratio:.1e})"
    if ratio < 1:
        return f"stays within a factor {1 / ratio:.2g} ({ratio:.2g})"
    return f"is {ratio:.2g} times as large"


def _fading_figure(table, probe_len, train_len):
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
    the defaults the trained networks are those of :func:`memory_span` at
    length 50, and the whole function takes about 20 s on two cores.

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
    seed = _check_seed(seed)
    train_len = min(seq_len, 50)
    lag = min(50, seq_len - 1)
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
    table = _frame(rows)

    def ratio(cell, suffix):
        return _fade(numbers[f"{cell}_ratio_lag{lag}{suffix}"])

    caption = (
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
    return Result(
        name="fading_gradients",
        title="Fading gradients: what the RNN loses over the lags, the LSTM keeps",
        table=table,
        figure=_fading_figure(table, seq_len, train_len) if plot else None,
        caption=caption,
        numbers=numbers,
    )
