"""How far back a network should look: one model per lookback on daily log returns.

Every lookback is trained and validated on the same targets (the ``warmup`` of
:func:`rnnkit.data.split_windows`); only how far back its inputs reach differs.
"""

import numpy as np

from .._checks import check_choice, check_int
from ..data import TEST, VAL, split_windows
from ..models import CELLS
from ..plot import _figure
from ._common import paired_t, pct, price_series, threads, train
from ._result import Result
from ._result import frame as _frame

__all__ = ["lookback_sweep"]


def lookback_sweep(
    lookbacks=(5, 10, 20, 30, 60, 120),
    cell="lstm",
    hidden_size=32,
    epochs=30,
    seed=0,
    series=None,
    plot=True,
    patience=5,
    num_threads=1,
):
    """Validation error and training time of one network per lookback, on daily log returns.

    The series (bundled WTI prices by default) becomes log returns, split in time
    order 70/15/15 into train, validation and test; the test block is never touched
    here (choosing a lookback is a validation question, so the test block stays
    clean for a later judgement). The scaler is fitted on the training returns.
    Training targets start at row ``max(lookbacks)`` of the training block and
    validation targets are the whole validation block, for every lookback, so all
    lookbacks are trained and scored on the same targets; a validation window may
    reach back into the training block (that is the past, known at forecast time).

    Errors are the mean squared error of the next day's return in scaled units (the
    training block's standard deviation is 1), the loss early stopping watched. The
    naive forecast is "tomorrow's price = today's", a zero log return.

    Parameters
    ----------
    lookbacks : sequence of int
        Window lengths to try.
    cell : {"lstm", "rnn"}
    hidden_size : int
    epochs : int
        At most this many epochs; early stopping on validation with ``patience``.
    seed : int
        Seeds weights and batch order (the same for every lookback).
    series : prices, optional
        NumPy array, pandas Series or GarchSeries; default the bundled WTI series.
    plot : bool
    patience : int
        Epochs without a lower validation loss before stopping (best weights kept).
    num_threads : int or None
        Threads of the compiled core (see the module docstring).

    Returns
    -------
    Result
        ``name="lookback"``; table columns lookback, val_mse, vs_naive (val_mse /
        naive - 1), t_vs_naive (paired t of the daily squared errors against the naive
        forecast's; negative is better), train_seconds, epochs, best_epoch, train_targets,
        val_targets; numbers best_lookback, best_val_mse, naive_val_mse, best_vs_naive.
    """
    check_choice("cell", cell, CELLS)
    lookbacks = sorted({check_int(f"lookbacks[{i}]", lb) for i, lb in enumerate(lookbacks)})
    if not lookbacks:
        raise ValueError("lookbacks must hold at least one lookback, got none")
    rows, naive_mse = _compute(
        lookbacks, cell, hidden_size, epochs, seed, series, patience, num_threads
    )
    best = min(rows, key=lambda row: row["val_mse"])
    frame = _frame(rows)
    return Result(
        name="lookback",
        title="How far back should the network look? Too short, too long, just right",
        table=frame,
        figure=_draw(frame, rows, best, naive_mse, cell) if plot else None,
        caption=_caption(rows, best, naive_mse, cell, hidden_size, epochs, patience, series),
        numbers={
            "best_lookback": float(best["lookback"]),
            "best_val_mse": best["val_mse"],
            "naive_val_mse": naive_mse,
            "best_vs_naive": best["vs_naive"],
        },
    )


def _compute(lookbacks, cell, hidden_size, epochs, seed, series, patience, num_threads):
    """One row per lookback, and the naive forecast's validation MSE (scaled units)."""
    prices, _ = price_series(series)
    longest = max(lookbacks)
    rows = []
    with threads(num_threads):
        for lookback in lookbacks:
            split = split_windows(
                prices, lookback, transform="log_return", val=VAL, test=TEST, warmup=longest
            )
            train_block, val_block = split.train, split.val
            if len(train_block.X) < 2 or len(val_block.X) == 0:
                raise ValueError(
                    f"the series is too short: {len(prices)} prices leave "
                    f"{len(train_block.X)} training and {len(val_block.X)} validation targets "
                    f"after the longest lookback, {longest}"
                )
            # a zero return, the naive forecast, in scaled units
            naive = split.pipeline.scaler.transform(np.zeros((1, 1)))[0, 0]
            naive_loss = (val_block.y[:, 0] - naive) ** 2
            model, history, seconds = train(
                cell, 1, hidden_size, train_block.X, train_block.y,
                (val_block.X, val_block.y), epochs, patience, seed,
            )  # fmt: skip
            # the best epoch's weights are restored: score them per day, in float64
            loss = (model.predict(val_block.X)[:, 0] - val_block.y[:, 0]) ** 2
            val_mse = float(loss.mean())
            naive_mse = float(naive_loss.mean())
            rows.append(
                {
                    "lookback": lookback,
                    "val_mse": val_mse,
                    "vs_naive": val_mse / naive_mse - 1.0,
                    "t_vs_naive": paired_t(loss, naive_loss),
                    "train_seconds": seconds,
                    "epochs": history.stopped_epoch,
                    "best_epoch": history.best_epoch,
                    "train_targets": len(train_block.y),
                    "val_targets": len(val_block.y),
                }
            )
    return rows, naive_mse


def _caption(rows, best, naive_mse, cell, hidden_size, epochs, patience, series):
    shortest, longest = rows[0], rows[-1]
    name = cell.upper()
    source = "WTI" if series is None else "the given series'"

    def versus_best(row, side):
        if row is best:
            return f"no lookback was too {side}: {row['lookback']} steps was the best"
        ratio = row["val_mse"] / best["val_mse"]
        return f"too {side}, {row['lookback']} steps scored {pct(ratio)} against the best"

    if best["vs_naive"] < 0:
        against_naive = f"{-100 * best['vs_naive']:.2f}% below"
    else:
        against_naive = f"{100 * best['vs_naive']:.2f}% above (no lookback beat it)"
    spread = (max(r["val_mse"] for r in rows) - best["val_mse"]) / naive_mse
    too_short = versus_best(shortest, "short")
    if abs(best["t_vs_naive"]) < 2 and spread < 0.01:
        meaning = (
            "so on daily returns the lookback barely matters for accuracy: the differences "
            "are of the size of the noise"
        )
    else:
        meaning = "so the choice of lookback matters here"
    return (
        f"One {name} (H={hidden_size}) per lookback on {source} daily log returns, all "
        f"trained on the same {best['train_targets']:,} targets and scored on the same "
        f"{best['val_targets']:,} validation days (MSE of the next return in units of the "
        f"training block's variance; early stopping, patience {patience}, at most {epochs} "
        f"epochs). Just right: {best['lookback']} steps, validation MSE {best['val_mse']:.4f}, "
        f"{against_naive} the naive forecast's {naive_mse:.4f} (an unchanged price; paired "
        f"t {best['t_vs_naive']:+.2f}). {too_short[0].upper()}{too_short[1:]}; "
        f"{versus_best(longest, 'long')}. The whole spread across lookbacks is "
        f"{100 * spread:.2f}% of the naive error, {meaning}; training time grows with the "
        f"lookback ({shortest['train_seconds']:.2f} s at {shortest['lookback']}, "
        f"{longest['train_seconds']:.2f} s at {longest['lookback']})."
    )


def _draw(frame, rows, best, naive_mse, cell):
    name = cell.upper()
    figure, (left, right) = _figure(1, 2, width=10.0, height=4.0)
    x = [row["lookback"] for row in rows]
    color = "tab:red" if cell == "lstm" else "tab:blue"
    # relative to the naive forecast: the differences are far smaller than the MSE
    left.plot(x, 100 * frame["vs_naive"], "o-", color=color, label=name)
    left.axhline(0.0, color="black", linestyle=":", label=f"naive (MSE {naive_mse:.4f})")
    left.plot(best["lookback"], 100 * best["vs_naive"], "*", color="black", markersize=12)
    left.set_ylabel("validation MSE against naive (%)")
    left.set_title("Validation error, same targets for every lookback")
    left.legend()
    right.plot(x, frame["train_seconds"], "o-", color=color)
    right.set_ylabel("training seconds (early stopped)")
    right.set_title("Training time")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in x])
        ax.minorticks_off()
        ax.set_xlabel("lookback (days)")
        ax.grid(alpha=0.3)
    return figure
