"""Longer than the lookback: a stateful LSTM against a windowed one on a level that flips
every 100 steps, seen through a lookback of 30.

The series repeats with period 200: +1 for 100 steps, -1 for 100, plus Gaussian noise.
Both networks forecast the next ``horizon`` values. A window of 30 steps mostly holds a
flat level: it says nothing about when the next flip comes, so a windowed network can
only turn its forecast once a flip is inside its window. A stateful network reads the
rows in order and carries its state on (:class:`rnnkit.Forecaster` with
``stateful=True``, trained by truncated BPTT): it can count the steps since the last
flip, which is the whole of what there is to know. Both are scored with the baselines
on the same test targets (:meth:`rnnkit.Forecaster.evaluate`).

What it showed when written (defaults, seeds 0-2): the stateful LSTM's test RMSE over
the 10 steps ahead was 0.13-0.15, near the noise's 0.1; the windowed LSTM's about 0.46,
little below the naive forecast's 0.49.
"""

import time
import warnings

import numpy as np

from .._checks import check_int, check_positive, check_seed
from ..forecaster import Forecaster, ThinDataWarning
from ..plot import BASELINE_COLOR, _figure
from ._common import threads
from ._result import Result
from ._result import frame as _frame

__all__ = ["flipping_level", "long_memory"]

STATEFUL, WINDOWED = "stateful LSTM", "windowed LSTM"
COLORS = {STATEFUL: "tab:red", WINDOWED: "tab:blue"}


def flipping_level(n, period=200, noise=0.1, seed=0):
    """A level of +1 for ``period / 2`` steps, then -1 for as many, and so on, plus Gaussian
    noise of standard deviation ``noise``: ndarray (n,)."""
    level = np.where(np.arange(n) % period < period // 2, 1.0, -1.0)
    return level + noise * np.random.default_rng(seed).standard_normal(n)


def long_memory(
    period=200,
    lookback=30,
    horizon=10,
    n=6000,
    noise=0.1,
    seeds=(0, 1, 2),
    hidden_size=32,
    epochs=800,
    tbptt=200,
    streams=2,
    lr=0.01,
    forget_bias=3.0,
    windowed_patience=20,
    plot=True,
    num_threads=1,
):
    """A stateful LSTM, a windowed LSTM and the baselines on a level that flips every
    ``period / 2`` steps, forecast ``horizon`` steps ahead through a ``lookback`` window.

    Each seed draws its own series (:func:`flipping_level`), split 70/15/15 in time
    order (``transform="none"``, standardised on the training block), and fits two
    :class:`rnnkit.Forecaster` of the same size and learning rate. The stateful one
    (``stateful=True``) reads the training rows in ``streams`` contiguous streams, in
    chunks of ``tbptt`` steps, for all ``epochs`` (its validation loss stalls for long
    stretches while it learns to count, so early stopping would end it too soon); the
    best validation epoch is kept. The windowed one reads windows of ``lookback`` rows
    and stops once its validation loss has not improved for ``windowed_patience``
    epochs (at most ``epochs``): nothing in its windows tells when a flip comes.

    Parameters
    ----------
    period, noise : the series (see :func:`flipping_level`); n : its length.
    lookback : int
        The windowed network's window, the baselines' too.
    horizon : int
        Steps forecast at once; the RMSE is over all of them.
    seeds : sequence of int
        One series and one pair of networks per seed.
    hidden_size, epochs, lr, forget_bias
        Both networks.
    tbptt, streams
        The stateful network's chunk length and number of streams (``batch_size``).
    windowed_patience : int
    plot : bool
    num_threads : int or None
        Threads of the compiled core (None: leave them).

    Returns
    -------
    Result
        ``name="long_memory"``; a table row per seed and model (the two networks and
        the baselines): rmse over every step ahead, ``rmse_step_1`` and
        ``rmse_step_{horizon}``, train_seconds, epochs (run) and best_epoch; numbers:
        the mean over seeds of ``stateful_rmse``, ``windowed_rmse`` and
        ``naive_rmse``, ``noise``, and ``excess_removed``, the share of the windowed
        network's mean squared error above the noise's that the stateful one removes.
    """
    _frame([])  # the table needs pandas: fail before any training, not after
    period, horizon = check_int("period", period), check_int("horizon", horizon)
    if period < 2 or period % 2:
        raise ValueError(f"period must be an even int >= 2, got {period}")
    check_positive("noise", noise)
    seeds = [check_seed(f"seeds[{i}]", s) for i, s in enumerate(seeds)]
    if not seeds or None in seeds:
        raise ValueError(f"seeds must be one or more ints >= 0, got {seeds!r}")
    common = {
        "cell": "lstm", "lookback": lookback, "horizon": horizon, "transform": "none",
        "hidden_size": hidden_size, "lr": lr, "forget_bias": forget_bias, "epochs": epochs,
        "verbose": 0,
    }  # fmt: skip
    networks = {
        STATEFUL: {"stateful": True, "tbptt": tbptt, "batch_size": streams, "patience": None},
        WINDOWED: {"patience": windowed_patience},
    }
    # every argument checked before the first network trains
    for settings in networks.values():
        Forecaster(**common, **settings)._prepare(flipping_level(n, period, noise))
    rows, shown = [], {}
    with threads(num_threads), warnings.catch_warnings():
        # thin data is part of the setting: the same networks on every seed
        warnings.simplefilter("ignore", ThinDataWarning)
        for seed in seeds:
            series = flipping_level(n, period, noise, seed)
            baselines = []
            for name, settings in networks.items():
                forecaster, seconds = _fit(Forecaster(**common, **settings, seed=seed), series)
                network, others = _rows(forecaster, name, seed, seconds, horizon)
                rows.append(network)
                baselines = baselines or others  # the same targets for both: once a seed
                if seed == seeds[0]:
                    shown[name] = forecaster
            rows += baselines
    table = _frame(rows)
    numbers = _numbers(table, noise)
    return Result(
        name="long_memory",
        title="A stateful LSTM remembers past its lookback; a windowed one cannot",
        table=table,
        figure=_draw(shown, table, horizon, period) if plot else None,
        caption=_caption(numbers, table, period, lookback, horizon, noise, seeds, networks),
        numbers=numbers,
    )


def _fit(forecaster, series):
    start = time.perf_counter()
    forecaster.fit(series)
    return forecaster, time.perf_counter() - start


def _rows(forecaster, name, seed, seconds, horizon):
    """A fitted Forecaster's test table as rows: (its network's, named ``name``; the
    baselines')."""
    steps = {k: forecaster.test_predictions(step=k) for k in (1, horizon)}
    network, baselines = None, []
    for row in forecaster.evaluate(as_frame=False):
        is_net = row["model"] == forecaster.name
        out = {
            "seed": seed,
            "model": name if is_net else row["model"],
            "rmse": row["rmse"],
            **{f"rmse_step_{k}": _rmse(table, row["model"]) for k, table in steps.items()},
            "train_seconds": seconds if is_net else 0.0,
            "epochs": forecaster.history_.stopped_epoch if is_net else 0,
            "best_epoch": forecaster.history_.best_epoch if is_net else 0,
        }
        if is_net:
            network = out
        else:
            baselines.append(out)
    return network, baselines


def _rmse(table, column):
    return float(np.sqrt(np.mean((np.asarray(table[column]) - np.asarray(table["actual"])) ** 2)))


def _numbers(table, noise):
    mean = table.groupby("model", sort=False)["rmse"].mean()
    stateful, windowed = float(mean[STATEFUL]), float(mean[WINDOWED])
    excess = windowed**2 - noise**2
    return {
        "stateful_rmse": stateful,
        "windowed_rmse": windowed,
        "naive_rmse": float(mean["Naive"]),
        "noise": float(noise),
        "excess_removed": (windowed**2 - stateful**2) / excess if excess > 0 else float("nan"),
    }


def _caption(numbers, table, period, lookback, horizon, noise, seeds, networks):
    by_seed = table.pivot(index="seed", columns="model", values="rmse")
    wins = int((by_seed[STATEFUL] < by_seed[WINDOWED]).sum())
    spread = {
        name: f" ({by_seed[name].min():.3f}-{by_seed[name].max():.3f})" if len(seeds) > 1 else ""
        for name in (STATEFUL, WINDOWED)
    }
    stateful, windowed = numbers["stateful_rmse"], numbers["windowed_rmse"]
    best_baseline = (
        table[~table["model"].isin([STATEFUL, WINDOWED])].groupby("model")["rmse"].mean()
    )
    if stateful < 0.5 * windowed:
        verdict = (
            f"The stateful LSTM learned what the windowed one cannot: it removes "
            f"{100 * numbers['excess_removed']:.0f}% of the windowed network's squared error "
            f"above the noise's, by counting the steps since the last flip in its state"
        )
    elif wins == len(seeds):
        verdict = (
            "The stateful LSTM did better on every seed, but far from the noise: with this "
            "budget it learned only part of the count"
        )
    else:
        verdict = (
            f"With this budget the stateful LSTM did not learn the count (better on {wins} "
            f"of {len(seeds)} seeds)"
        )
    return (
        f"A level flips between +1 and -1 every {period // 2} steps (period {period}), with "
        f"noise of standard deviation {noise:g}; each network forecasts the next {horizon} "
        f"values. A window of {lookback} steps mostly sees a flat level, so the windowed "
        f"LSTM (patience {networks[WINDOWED]['patience']}) can only turn its forecast after "
        f"a flip has entered its window; the stateful LSTM reads the rows in order "
        f"({networks[STATEFUL]['batch_size']} streams, chunks of "
        f"{networks[STATEFUL]['tbptt']} steps, its state carried into validation and test). "
        f"Test RMSE over the {horizon} steps, mean of {len(seeds)} seed(s): stateful "
        f"{stateful:.3f}{spread[STATEFUL]}, windowed {windowed:.3f}{spread[WINDOWED]}, "
        f"naive {numbers['naive_rmse']:.3f}, best baseline "
        f"{best_baseline.idxmin()} {best_baseline.min():.3f}; the noise alone gives "
        f"{noise:g}. {verdict}. The picture shows the forecasts made {horizon} steps "
        f"ahead around flips of the test block (first seed)."
    )


def _draw(shown, table, horizon, period):
    figure, (left, right) = _figure(1, 2, width=11.0, height=4.0, width_ratios=(2.2, 1))
    stateful = shown[STATEFUL].test_predictions(step=horizon)
    windowed = shown[WINDOWED].test_predictions(step=horizon)
    actual = np.asarray(stateful["actual"])
    # two flips of the test block, from a quarter period before the first
    flips = np.flatnonzero(np.diff(np.sign(actual)) != 0)
    start = max(int(flips[0]) - period // 4, 0) if len(flips) else 0
    shown_steps = slice(start, min(start + period + period // 2, len(actual)))
    x = np.arange(len(actual))[shown_steps]
    left.plot(x, actual[shown_steps], color="black", linewidth=0.8, label="actual")
    for name, frame in ((WINDOWED, windowed), (STATEFUL, stateful)):
        left.plot(x, np.asarray(frame["LSTM"])[shown_steps], color=COLORS[name], label=name)
    left.set_xlabel("test target (steps)")
    left.set_ylabel("value")
    left.set_title(f"Forecasts made {horizon} steps ahead, around flips")
    left.legend(loc="center left", fontsize="small")
    mean = table.groupby("model", sort=False)["rmse"].mean().sort_values()
    colors = [COLORS.get(name, BASELINE_COLOR) for name in mean.index]
    right.barh(mean.index, mean.to_numpy(), color=colors)
    for i, name in enumerate(mean.index):
        values = table.loc[table["model"] == name, "rmse"]
        right.plot(values, [i] * len(values), "k.", markersize=4)
    right.invert_yaxis()
    right.set_xlabel(f"test RMSE over {horizon} steps")
    right.set_title("Same test targets (bars: mean, dots: seeds)", fontsize="medium")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return figure
