"""Training time, rnnkit's trainer vs plain PyTorch: the course model and the adding problem.

Two problems, each trained by two implementations from the same initial weights on the same
batches in the same order, side by side in one run, taking turns (who goes first alternates,
a short pause before each turn) so that machine noise hits both alike:

- rnnkit: ``rnnkit.train.fit`` on a ``rnnkit.models.SequenceRegressor``, called once per
  turn with one ``rnnkit.train.Adam`` instance throughout (Adam's moments and step count
  carry on from turn to turn exactly as in one ``fit`` call);
- PyTorch: the same loop written plainly, ``torch.nn.LSTM(batch_first=True)`` and
  ``torch.nn.Linear`` on the last hidden state, ``torch.optim.Adam``, on rnnkit's initial
  weights.

**The course model** (``--problems course``) is an LSTM with 50 hidden units and a linear
head on the last hidden state, trained on windows of 30 steps in shuffled mini-batches of 32
with Adam (lr 1e-3) and the mean squared error, in float32, with no validation and no
gradient clipping. The series is the 4,999 log returns of ``rnnkit.datasets.garch_series(5000,
seed=0)``, standardised over the whole series (there is no held-out part to leak into),
which ``rnnkit.data.make_windows`` cuts into 4,969 windows: 156 optimizer steps an epoch.
A turn is one epoch, ``fit(model, X, y, epochs=1, ...)``; the PyTorch loop visits the
windows in the same order as ``fit`` (the same NumPy permutation). The table shows each
one's median (and fastest) seconds per epoch after one warm-up epoch, the ratio torch /
rnnkit (> 1: rnnkit is faster) and the mean training loss of the last epoch. The returns
are close to unpredictable, so that loss stays near 1 whatever the weights; the sharper
evidence that both sides ran the same computation is the largest difference between the two
sets of trained weights, printed below the table (float32 rounding: about 1e-6; a different
batch order: about 1e-2).

**The adding problem** (``--problems adding``) of Hochreiter & Schmidhuber (1997), as
``rnnkit.experiments.adding_problem("lstm", 50)`` sets it up: sequences of 50 steps with two
channels (values uniform in [0, 1), and a marker at one step of each half), the target the
sum of the two marked values; an LSTM with 64 hidden units and a linear head, seed 0, Adam
(lr 1e-3) on the MSE with the global gradient norm clipped to 1, 3,000 steps, each on a fresh
batch of 64 (``adding_problem_batch``, from the stream ``adding_problem`` trains on), in
float32. Those batches are drawn before timing and stacked in order; the 3,000 steps run in
10 turns, each a ``fit(model, X[turn], y[turn], epochs=1, batch_size=64, shuffle=False,
clip_norm=1.0, ...)`` over its 300 batches, and the PyTorch loop (``clip_grad_norm_(1.0)``
before every step) takes the same batches in the same order. The table shows each one's
seconds for all 3,000 steps end to end (every turn, the first included), its median
milliseconds per step over turns 2-10, the ratios torch / rnnkit, the mean training loss
over the last turn's batches and the MSE on ``adding_problem``'s 2,000 held-out test
sequences (1/6 is the level of predicting the mean; an LSTM that learned the task is near
0.005). The largest difference between the two sides' weights after every turn is printed
below it: float32 rounding (about 1e-7) while the loss stays at the level of predicting the
mean; once the network starts to learn the task (after some 1,200 steps), the dynamics
amplify those rounding differences and the two runs part ways (about 1e-1 at the end), each
learning the task. A gap of 1e-3 or more after the first turn is flagged as a different
computation.

Usage::

    python benchmarks/fit_vs_torch.py [--threads N] [--problems course,adding]
                                      [--epochs E] [--steps S]

``--threads`` sets the threads of rnnkit's core (fixed teams, as ``compare.set_threads``
explains), of NumPy's BLAS (through threadpoolctl, when installed) and of torch (default:
each library's own). ``--problems`` chooses the problems (default both). ``--epochs`` is
the course model's, counting the warm-up epoch (default 20); ``--steps`` the adding
problem's optimizer steps, a multiple of 10 (default 3000). Needs torch.
"""

import argparse
import inspect
import statistics
import sys
import time

import numpy as np
from common import import_torch
from compare import add_threads_argument, machine_facts, set_threads

import rnnkit
from rnnkit.experiments import adding_problem, adding_problem_batch

PROBLEMS = ("course", "adding")

LOOKBACK, BATCH, HIDDEN, LR = 30, 32, 50, 1e-3
SERIES_LENGTH = 5000
# Every epoch shuffles with its own seed, the same for both sides (see rnnkit_epoch).
SEED = 0
# A pause before every timed turn: the OpenMP workers of the side that ran before spin for
# a while after its last parallel region and would take a core from the other side (both
# libraries link a libgomp; whichever is loaded first serves both, its pool sized per region).
SETTLE_S = 0.05

# The adding problem as rnnkit.experiments.adding_problem sets it up: its defaults (steps,
# batch_size, hidden_size, lr, clip, seed, test_size), taken from its signature.
ADDING = {
    name: p.default
    for name, p in inspect.signature(adding_problem).parameters.items()
    if p.default is not inspect.Parameter.empty
}
ADDING_SEQ_LEN = 50
# the adding problem's steps run in this many turns, the first one a warm-up
ADDING_TURNS = 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_threads_argument(parser, "NumPy's BLAS and torch")
    parser.add_argument(
        "--problems",
        default=",".join(PROBLEMS),
        type=lambda text: text.split(","),
        help="comma-separated problems among %(default)s (default: both)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=20,
        help="the course model's epochs on each side, the first one a warm-up (default "
        "%(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=ADDING["steps"],
        help=f"the adding problem's optimizer steps on each side, in {ADDING_TURNS} turns, "
        "the first one a warm-up (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if unknown := set(args.problems) - set(PROBLEMS):
        parser.error(f"unknown problem(s) {sorted(unknown)}; choose among {list(PROBLEMS)}")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: one warm-up epoch, then timed ones")
    if args.steps < ADDING_TURNS or args.steps % ADDING_TURNS:
        parser.error(f"--steps must be a positive multiple of {ADDING_TURNS}, one part per turn")
    return args


def course_data():
    """The windows X (N, 30, 1) and next-step targets y (N, 1), float32 and C-contiguous."""
    prices = rnnkit.datasets.garch_series(SERIES_LENGTH, seed=0)
    returns = rnnkit.data.StandardScaler().fit_transform(rnnkit.data.log_returns(prices))
    X, y, _ = rnnkit.data.make_windows(returns, lookback=LOOKBACK)
    # Converted once here, so that neither side pays for a float64 -> float32 copy per epoch.
    return np.ascontiguousarray(X, np.float32), np.ascontiguousarray(y, np.float32)


def adding_data(steps, seq_len=ADDING_SEQ_LEN):
    """The batches ``adding_problem("lstm", seq_len, steps=steps)`` trains on, and its test set.

    ``adding_problem`` spawns two streams from its seed, draws one batch per step from the
    first and its test set from the second; so does this, with its defaults.

    Returns
    -------
    X, y : ndarray (steps * batch_size, seq_len, 2) and (steps * batch_size, 1), float32
        The training batches stacked in the order they are drawn: batch k is rows
        ``k * batch_size`` to ``(k + 1) * batch_size``.
    X_test, y_test : ndarray (test_size, seq_len, 2) and (test_size, 1), float32
    """
    train_stream, test_stream = np.random.SeedSequence(ADDING["seed"]).spawn(2)
    train_rng = np.random.default_rng(train_stream)
    batches = [adding_problem_batch(ADDING["batch_size"], seq_len, train_rng) for _ in range(steps)]
    X, y = (np.concatenate(parts) for parts in zip(*batches, strict=True))
    test = adding_problem_batch(ADDING["test_size"], seq_len, np.random.default_rng(test_stream))
    return X, y, *test


def rnnkit_epoch(model, optimizer, X, y, seed, batch_size=BATCH, clip_norm=None, shuffle=True):
    """One epoch of ``rnnkit.train.fit``: (mean training loss, fit's own epoch time in s)."""
    history = rnnkit.train.fit(
        model, X, y,
        epochs=1, batch_size=batch_size, optimizer=optimizer, loss="mse",
        # the course model trains without clipping, the adding problem clips; the PyTorch
        # loop does the same
        clip_norm=clip_norm,
        # with one epoch per call there is nothing to stop early or to restore: skip the
        # bookkeeping, which also keeps the weights exactly those of the last step
        patience=None, restore_best_weights=False,
        # fit shuffles its first epoch with default_rng(seed).permutation(len(X)), or reads
        # the windows in order without shuffle: torch_epoch visits them in that same order
        shuffle=shuffle, seed=seed, verbose=0,
    )  # fmt: skip
    return history.train_loss[0], history.epoch_time[0]


def torch_model(torch, state):
    """``nn.LSTM`` + ``nn.Linear`` holding rnnkit's weights (its state_dict keys are torch's)."""
    input_size, hidden = state["weight_ih_l0"].shape[1], state["weight_hh_l0"].shape[1]

    class CourseModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(input_size, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, 1)

        def forward(self, x):
            _, (h_n, _) = self.lstm(x)
            return self.head(h_n[-1])  # h_n is (layers, N, H): the last layer's final state

    model = CourseModel()
    # the recurrent keys are those of nn.LSTM; strict loading fails on any mismatch
    state = {
        k if k.startswith("head.") else f"lstm.{k}": torch.from_numpy(v) for k, v in state.items()
    }
    model.load_state_dict(state, strict=True)
    return model


def torch_epoch(torch, model, optimizer, X, y, order, batch_size=BATCH, clip_norm=None):
    """One epoch of the plain PyTorch loop over ``order``: the mean training loss."""
    mse = torch.nn.functional.mse_loss
    total = 0.0
    for start in range(0, len(order), batch_size):
        batch = torch.from_numpy(order[start : start + batch_size])
        optimizer.zero_grad(set_to_none=True)
        loss = mse(model(X[batch]), y[batch])
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        total += loss.item() * len(batch)  # weighted by batch size, as fit does
    return total / len(order)


def take_turns(runs, turns, what, after_turn=None):
    """Call every side's ``run(turn)`` for each turn, the sides taking turns (who goes first
    alternates), each call after a pause of SETTLE_S; per side, the wall times (s), the
    losses and fit's own epoch times (None for the PyTorch loop) of every turn, and the
    values of ``after_turn()`` (untimed) after every turn if given."""
    results = {name: {"wall": [], "loss": [], "inner": []} for name in runs}
    checks = []
    for turn in range(turns):
        names = list(runs) if turn % 2 == 0 else list(runs)[::-1]
        for name in names:
            time.sleep(SETTLE_S)
            start = time.perf_counter()
            loss, inner = runs[name](turn)
            results[name]["wall"].append(time.perf_counter() - start)
            results[name]["loss"].append(loss)
            results[name]["inner"].append(inner)
        if after_turn is not None:
            checks.append(after_turn())
        print(f"{what} {turn + 1}/{turns} done", file=sys.stderr, flush=True)
    return results, checks


def weight_gap(model, twin):
    """The largest |difference| between the two sides' weights, and the largest |weight|."""
    trained = {k: v.detach().numpy() for k, v in twin.state_dict().items()}
    trained = {k.removeprefix("lstm."): v for k, v in trained.items()}
    gap = max(float(np.max(np.abs(p - trained[k]))) for k, p in model.params.items())
    scale = max(float(np.max(np.abs(p))) for p in model.params.values())
    return gap, scale


def train_side_by_side(torch, epochs, X, y):
    """Train both sides on the course model epoch by epoch in turns; per side, epoch times
    and losses, then the weight gap and scale."""
    model = rnnkit.models.SequenceRegressor(
        cell="lstm", input_size=1, hidden_size=HIDDEN, output_size=1, seed=0
    )
    twin = torch_model(torch, model.state_dict())
    # One optimizer instance across the fit calls, so Adam's moments and step count carry on
    # from epoch to epoch exactly as in one fit(epochs=E) call.
    optimizer = rnnkit.train.Adam(lr=LR)
    torch_optimizer = torch.optim.Adam(twin.parameters(), lr=LR)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)  # views of the same memory

    def rnnkit_run(epoch):
        return rnnkit_epoch(model, optimizer, X, y, SEED + epoch)

    def torch_run(epoch):
        order = np.random.default_rng(SEED + epoch).permutation(len(X))
        return torch_epoch(torch, twin, torch_optimizer, X_t, y_t, order), None

    results, _ = take_turns({"rnnkit": rnnkit_run, "torch": torch_run}, epochs, "epoch")
    return results, *weight_gap(model, twin)


def train_adding(torch, steps, X, y, X_test, y_test):
    """Train both sides on the adding problem, ``steps // ADDING_TURNS`` batches a turn;
    per side, turn times and losses, then the test MSEs, the weight gap after every turn and
    the weight scale at the end."""
    model = rnnkit.models.SequenceRegressor(
        cell="lstm", input_size=2, hidden_size=ADDING["hidden_size"], seed=ADDING["seed"]
    )
    twin = torch_model(torch, model.state_dict())
    optimizer = rnnkit.train.Adam(lr=ADDING["lr"])
    torch_optimizer = torch.optim.Adam(twin.parameters(), lr=ADDING["lr"])
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    rows = steps // ADDING_TURNS * ADDING["batch_size"]  # windows per turn
    batch, clip = ADDING["batch_size"], ADDING["clip"]

    def rnnkit_run(turn):
        part = slice(turn * rows, (turn + 1) * rows)
        return rnnkit_epoch(
            model, optimizer, X[part], y[part], SEED, batch_size=batch, clip_norm=clip,
            shuffle=False,
        )  # fmt: skip

    def torch_run(turn):
        part = slice(turn * rows, (turn + 1) * rows)
        order = np.arange(rows)  # fit's order without shuffle
        loss = torch_epoch(
            torch, twin, torch_optimizer, X_t[part], y_t[part], order, batch_size=batch,
            clip_norm=clip,
        )  # fmt: skip
        return loss, None

    runs = {"rnnkit": rnnkit_run, "torch": torch_run}
    results, gaps = take_turns(
        runs, ADDING_TURNS, f"adding problem: {steps // ADDING_TURNS} steps,",
        after_turn=lambda: weight_gap(model, twin)[0],
    )  # fmt: skip
    with torch.no_grad():
        pred = twin(torch.from_numpy(X_test)).numpy()
    test_mse = {
        "rnnkit": float(rnnkit.train.evaluate(model, X_test, y_test)),
        "torch": float(np.mean(np.square(pred.astype(np.float64) - y_test))),
    }
    return results, test_mse, gaps, weight_gap(model, twin)[1]


def markdown_table(results):
    """Seconds per epoch (median and fastest, warm-up left out), their ratio, final losses."""
    median = {name: statistics.median(r["wall"][1:]) for name, r in results.items()}
    fastest = {name: min(r["wall"][1:]) for name, r in results.items()}
    lines = [
        "| implementation | s per epoch (median) | fastest epoch | final train loss |",
        "|---|---|---|---|",
    ]
    for name, label in (("rnnkit", "rnnkit.train.fit"), ("torch", "PyTorch loop")):
        loss = results[name]["loss"][-1]
        lines.append(f"| {label} | {median[name]:.4f} | {fastest[name]:.4f} | {loss:.6f} |")
    ratio = {name: d["torch"] / d["rnnkit"] for name, d in (("m", median), ("f", fastest))}
    lines.append(f"| torch / rnnkit | {ratio['m']:.2f}x | {ratio['f']:.2f}x | |")
    return "\n".join(lines)


def adding_table(results, test_mse, steps):
    """Seconds for all steps, ms per step (median turn, warm-up left out), their ratios,
    the last turn's training loss and the test MSE."""
    per_turn = steps // ADDING_TURNS
    total = {name: sum(r["wall"]) for name, r in results.items()}
    per_step = {
        name: 1e3 * statistics.median(r["wall"][1:]) / per_turn for name, r in results.items()
    }
    head = f"s for {steps:,} steps | ms per step (median turn) | final train loss | test MSE"
    lines = [f"| implementation | {head} |", "|---|---|---|---|---|"]
    for name, label in (("rnnkit", "rnnkit.train.fit"), ("torch", "PyTorch loop")):
        loss = results[name]["loss"][-1]
        lines.append(
            f"| {label} | {total[name]:.2f} | {per_step[name]:.3f} | {loss:.6f} "
            f"| {test_mse[name]:.6f} |"
        )
    ratio = {name: d["torch"] / d["rnnkit"] for name, d in (("t", total), ("s", per_step))}
    lines.append(f"| torch / rnnkit | {ratio['t']:.2f}x | {ratio['s']:.2f}x | | |")
    return "\n".join(lines)


def fit_setup_ms(results):
    """The median ms of rnnkit's wall time per turn outside fit's own epoch loop (warm-up
    left out)."""
    rnnkit_results = results["rnnkit"]
    setup = [w - i for w, i in zip(rnnkit_results["wall"], rnnkit_results["inner"], strict=True)]
    return 1e3 * statistics.median(setup[1:])


def run_course(torch, epochs):
    X, y = course_data()
    results, gap, scale = train_side_by_side(torch, epochs, X, y)
    print(
        f"LSTM H={HIDDEN} + linear head, lookback {LOOKBACK}, batch {BATCH}, Adam lr {LR:g}, "
        f"MSE, fp32, no clipping; {len(X)} windows of standardised GARCH(1,1) log returns "
        f"(garch_series({SERIES_LENGTH}, seed=0)), {-(-len(X) // BATCH)} steps an epoch. "
        f"Seconds per epoch: median and fastest of epochs 2-{epochs}, the two sides "
        f"taking turns epoch by epoch. Final train loss: mean over epoch {epochs}'s "
        "batches.\n"
    )
    print(markdown_table(results))
    print(
        f"\nLargest |difference| between the two sides' weights after {epochs} epochs: "
        f"{gap:.2e} (largest |weight| {scale:.2f}). Of rnnkit's time per epoch, "
        f"{fit_setup_ms(results):.2f} ms (median) is fit's own setup outside its epoch loop."
    )
    # Float32 rounding alone leaves the weights within ~1e-5 of each other after a few
    # epochs; a different batch order or update rule shows up as ~1e-3 or more.
    if not gap < 1e-3:
        print("\nWARNING: the two sides' weights differ: they did not run the same computation.")


def run_adding(torch, steps):
    X, y, X_test, y_test = adding_data(steps)
    results, test_mse, gaps, scale = train_adding(torch, steps, X, y, X_test, y_test)
    per_turn = steps // ADDING_TURNS
    print(
        f"Adding problem (Hochreiter & Schmidhuber), T = {ADDING_SEQ_LEN}: LSTM "
        f"H={ADDING['hidden_size']} + linear head, {steps:,} Adam steps (lr {ADDING['lr']:g}) "
        f"on fresh batches of {ADDING['batch_size']}, MSE, fp32, global gradient norm clipped "
        f"to {ADDING['clip']:g}, as rnnkit.experiments.adding_problem('lstm', "
        f"{ADDING_SEQ_LEN}). The two sides take turns, {ADDING_TURNS} turns of {per_turn} "
        f"steps each; s for {steps:,} steps: all turns, end to end; ms per step: the median "
        f"turn of turns 2-{ADDING_TURNS} over its {per_turn} steps. Final train loss: mean over "
        f"the last turn's batches; test MSE: {ADDING['test_size']:,} held-out sequences "
        "(predicting the mean: 1/6 = 0.167).\n"
    )
    print(adding_table(results, test_mse, steps))
    listed = ", ".join(f"{gap:.1e}" for gap in gaps)
    print(
        f"\nLargest |difference| between the two sides' weights after each turn of {per_turn} "
        f"steps: {listed} (largest |weight| at the end {scale:.2f}). While the loss stays "
        "near 1/6 the two runs agree to float32 rounding; once the network starts to learn the "
        "task, rounding differences grow and the two runs part ways (each still learns: see "
        f"the test MSEs). Of rnnkit's time per turn, {fit_setup_ms(results):.2f} ms (median) "
        "is fit's own setup outside its epoch loop."
    )
    # the first turn ends before the network learns anything: there, rounding alone
    # leaves the weights within ~1e-6 of each other
    if not gaps[0] < 1e-3:
        print(
            "\nWARNING: the two sides' weights differ after the first turn: they did not run "
            "the same computation."
        )


def main(argv=None):
    args = parse_args(argv)
    torch = import_torch()
    if torch is None:
        sys.exit("fit_vs_torch.py needs torch: pip install torch==2.13.0 (CPU build)")
    limit, blas = set_threads(args.threads, torch)
    facts = machine_facts(torch, blas)

    print(f"Machine: {facts}")
    with limit:
        for problem in args.problems:
            print()
            if problem == "course":
                run_course(torch, args.epochs)
            else:
                run_adding(torch, args.steps)


if __name__ == "__main__":
    main()
