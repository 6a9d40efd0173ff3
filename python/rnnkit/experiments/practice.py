"""Practical questions about RNNs and LSTMs, answered by measuring them.

Three experiments, each returning a :class:`~rnnkit.experiments._result.Result`:

:func:`cost`
    What an LSTM costs against a vanilla RNN of the same hidden size: parameters
    (counted) and training time per epoch (measured), against the common claim
    that "LSTMs take 2-3x longer to train".
:func:`lookback_sweep`
    How far back a network should look: one model per lookback on the WTI daily
    log returns, every lookback trained and validated on the same targets.
:func:`volatility`
    Volatility clusters, so tomorrow's absolute (or squared) return is partly
    predictable: an LSTM against EWMA (RiskMetrics), a rolling mean and, when the
    optional ``arch`` package is installed, a GARCH(1,1).

Honesty rules kept throughout: blocks are cut in time order (train, then
validation, then test), nothing is fitted on data after the training block
(scalers, GARCH parameters, scale constants), validation is only used for early
stopping, and every model is scored on the same targets.

Timings run the compiled core on one thread by default (``num_threads=1``,
restored afterwards): on a small shared machine the multi-threaded kernels'
times swing with the load of other processes, which would say more about the
machine than about the cells.
"""

import contextlib
import time
import warnings

import numpy as np

from .. import core as _core
from .. import data as _data
from .. import datasets as _datasets
from ..models import SequenceRegressor
from ..plot import _figure
from ..train import fit as _fit
from ._result import Result
from ._result import frame as _frame

__all__ = ["cost", "lookback_sweep", "volatility"]

CLAIM_LOW, CLAIM_HIGH = 2.0, 3.0  # "LSTMs take 2-3x longer to train"
VAL, TEST = 0.15, 0.15  # the Forecaster's default split, in time order
RISKMETRICS_LAMBDA = 0.94  # J.P. Morgan RiskMetrics (1996) decay for daily data
TARGETS = ("abs_return", "squared_return")


# ---------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _threads(n):
    """Run the compiled core on ``n`` threads inside the block (None: leave it alone)."""
    if n is None:
        yield
        return
    before = _core.num_threads()
    _core.set_num_threads(int(n))
    try:
        yield
    finally:
        _core.set_num_threads(before)


def _price_series(series, n=None):
    """(prices float64 (n,), dates or None) of the bundled WTI series or of ``series``.

    ``series`` may be prices as a NumPy array, a pandas Series or a
    :class:`rnnkit.datasets.GarchSeries`; ``n`` keeps the last ``n`` prices.
    """
    dates = None
    if series is None:
        # as_frame=False: NumPy arrays, so the default run needs no pandas for the data
        dates, prices = _datasets.load_wti(as_frame=False)
    elif isinstance(series, _datasets.GarchSeries):
        prices = series.prices
    elif hasattr(series, "index") and hasattr(series, "to_numpy"):
        if getattr(series, "ndim", 1) != 1:
            raise ValueError("series must be one price series (1-D), not a table")
        prices, dates = series.to_numpy(np.float64), series.index.to_numpy()
    else:
        prices = series
    prices = np.asarray(prices, dtype=np.float64)
    if prices.ndim != 1:
        raise ValueError(f"series must be 1-D prices, got shape {prices.shape}")
    if not np.all(np.isfinite(prices)):
        raise ValueError("series has NaN or inf prices; drop or fill them first")
    if n is not None:
        n = int(n)
        if n < 2:
            raise ValueError(f"n must be at least 2 prices, got {n}")
        prices = prices[-n:]
        dates = None if dates is None else dates[-n:]
    return prices, dates


def _blocks(n_rows):
    """(train_end, val_end): rows [0, train_end) train, then validation, then test."""
    train, val, _ = _data.split_by_time(np.arange(n_rows), VAL, TEST)
    return len(train), len(train) + len(val)


def _window_inputs(table, lookback, targets):
    """Windows (len(targets), lookback, F): the ``lookback`` rows before each target row.

    The window of target row t is rows t - lookback .. t - 1: only the past.
    """
    view = np.lib.stride_tricks.sliding_window_view(table, lookback, axis=0)
    # view[j] covers rows j .. j + lookback - 1 with time on the last axis
    return np.ascontiguousarray(view[np.asarray(targets) - lookback].transpose(0, 2, 1))


def _train(cell, inputs, hidden_size, X, y, val, epochs, patience, seed):
    """A fresh SequenceRegressor trained with early stopping: (model, History, seconds)."""
    model = SequenceRegressor(
        cell=cell,
        input_size=inputs,
        hidden_size=hidden_size,
        forget_bias=1.0 if cell == "lstm" else 0.0,  # the Forecaster's default
        seed=seed,
    )
    start = time.perf_counter()
    history = _fit(
        model, X, y, validation_data=val, epochs=epochs, patience=patience, seed=seed, verbose=0
    )
    return model, history, time.perf_counter() - start


def _pct(ratio):
    """A ratio as a signed percentage change: 0.97 -> '-3.0%'."""
    return f"{100.0 * (ratio - 1.0):+.1f}%"


def _paired_t(loss_a, loss_b):
    """t statistic of mean(loss_a - loss_b) over the same days (negative: a is better).

    A rough yardstick for "is this difference noise?": it treats the days as
    independent, which daily errors are not quite (volatility clusters), so |t| of
    2 or 3 is weak evidence, below 1 none.
    """
    d = np.asarray(loss_a, dtype=np.float64) - np.asarray(loss_b, dtype=np.float64)
    spread = d.std(ddof=1) if len(d) > 1 else 0.0
    return float(d.mean() / (spread / np.sqrt(len(d)))) if spread > 0 else 0.0


# ---------------------------------------------------------------------------- cost


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
    """Parameters and training time of an RNN and an LSTM of the same hidden size.

    Both networks read windows of GARCH(1,1) log returns (synthetic: only the time is
    of interest, so no split is made) and are trained with :func:`rnnkit.train.fit`,
    no validation, ``patience=None``, identical batches. Seconds per epoch is the
    median over the epochs after the first (the first pays for allocations and
    cold caches); with ``epochs=1`` the only epoch is used.

    Parameters
    ----------
    hidden_size : int
        H of both networks.
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
        ``recurrent_param_ratio`` (exactly 4 for one layer) and ``time_ratio``.
    """
    returns = _datasets.garch_series(n_windows + lookback + 1, seed=seed, return_components=True)
    # standardised with its own statistics: harmless here, nothing is evaluated
    r = returns.returns / returns.returns.std()
    windows = _data.make_windows(r, lookback, 1)
    rows = []
    with _threads(num_threads):
        for cell in ("rnn", "lstm"):
            model = SequenceRegressor(cell=cell, input_size=1, hidden_size=hidden_size, seed=seed)
            history = _fit(
                model, windows.X, windows.y, epochs=epochs, batch_size=batch_size,
                patience=None, seed=seed, verbose=0,
            )  # fmt: skip
            times = history.epoch_time[1:] or history.epoch_time
            recurrent = sum(p.size for p in model.recurrent.params.values())
            rows.append(
                {
                    "cell": cell.upper(),
                    "parameters": model.num_parameters(),
                    "recurrent_parameters": recurrent,
                    "seconds_per_epoch": float(np.median(times)),
                }
            )
    table = _frame(rows)
    rnn, lstm = rows
    param_ratio = lstm["parameters"] / rnn["parameters"]
    recurrent_ratio = lstm["recurrent_parameters"] / rnn["recurrent_parameters"]
    time_ratio = lstm["seconds_per_epoch"] / rnn["seconds_per_epoch"]
    holds = CLAIM_LOW <= time_ratio <= CLAIM_HIGH
    if holds:
        verdict = "within the claimed 2-3x"
    elif time_ratio < CLAIM_LOW:
        verdict = "less than the claimed 2-3x"
    else:
        verdict = "more than the claimed 2-3x"
    threads = "the current number of" if num_threads is None else f"{num_threads}"
    which = {1: "its only epoch", 2: "its second epoch"}.get(epochs, f"median of epochs 2-{epochs}")
    caption = (
        f"At hidden size {hidden_size} the LSTM has {lstm['parameters']:,} parameters and "
        f"the RNN {rnn['parameters']:,}: {param_ratio:.4f}x in all, exactly "
        f"{recurrent_ratio:g}x in the recurrent layer ({lstm['recurrent_parameters']:,} vs "
        f"{rnn['recurrent_parameters']:,}: four gate blocks instead of one), diluted by the "
        f"linear head both share ({hidden_size + 1} parameters). One training epoch over "
        f"{n_windows:,} windows of {lookback} steps (batch {batch_size}, {threads} core "
        f"thread{'' if num_threads == 1 else 's'}, {which}) took {lstm['seconds_per_epoch']:.3g} s "
        f"for the LSTM against {rnn['seconds_per_epoch']:.3g} s for the RNN: "
        f"{time_ratio:.2f}x, {verdict}. The LSTM does about 4x the matrix work per step"
        + (
            "; what is not proportional to the gates (the head, the loss, the optimizer "
            "step, the per-batch overhead) pulls the time ratio below 4"
            if time_ratio < 4
            else ", and four gates' activations on top"
        )
        + ". Timings depend on the machine and its load; the parameter counts do not."
    )
    figure = None
    if plot:
        figure, (left, right) = _figure(1, 2, width=9.0, height=3.8)
        colors = ["tab:blue", "tab:red"]
        cells = [row["cell"] for row in rows]
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
        left.set_title(f"Parameters at H={hidden_size}: LSTM/RNN = {param_ratio:.3f}")
        right.set_title(f"Training time per epoch: LSTM/RNN = {time_ratio:.2f}")
    return Result(
        name="cost",
        title="An LSTM has four times an RNN's recurrent weights: does it take 2-3x longer "
        "to train?",
        table=table,
        figure=figure,
        caption=caption,
        numbers={
            "param_ratio": param_ratio,
            "recurrent_param_ratio": recurrent_ratio,
            "time_ratio": time_ratio,
        },
    )


# ---------------------------------------------------------------------------- lookback


def _lookback_blocks(n_returns, lookbacks):
    """Target rows (train, val) shared by every lookback.

    Validation targets are the validation block's returns; training targets are the
    training block's returns from row ``max(lookbacks)`` on, since before it the
    longest lookback has no full window. Every lookback thus learns from and is
    judged on the very same targets; only how far back its inputs reach differs.
    """
    train_end, val_end = _blocks(n_returns)
    longest = max(lookbacks)
    if train_end - longest < 2 or val_end == train_end:
        raise ValueError(
            f"the series is too short: {n_returns} returns leave {train_end} for training "
            f"and {val_end - train_end} for validation, but the longest lookback is {longest}"
        )
    return np.arange(longest, train_end), np.arange(train_end, val_end), train_end


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
    if cell not in ("lstm", "rnn"):
        raise ValueError(f"cell must be 'lstm' or 'rnn', got {cell!r}")
    lookbacks = sorted({int(lb) for lb in lookbacks})
    if not lookbacks or lookbacks[0] < 1:
        raise ValueError(f"lookbacks must be positive integers, got {lookbacks}")
    prices, _ = _price_series(series)
    returns = _data.log_returns(prices)
    train_rows, val_rows, train_end = _lookback_blocks(len(returns), lookbacks)
    scaler = _data.StandardScaler().fit(returns[:train_end])
    scaled = scaler.transform(returns)
    y_train, y_val = scaled[train_rows, None], scaled[val_rows, None]
    naive = scaler.transform(np.zeros(1))[0]  # a zero return, in scaled units
    naive_loss = (y_val[:, 0] - naive) ** 2
    naive_mse = float(naive_loss.mean())
    table = scaled[:, None]
    rows = []
    with _threads(num_threads):
        for lookback in lookbacks:
            X_train = _window_inputs(table, lookback, train_rows)
            X_val = _window_inputs(table, lookback, val_rows)
            model, history, seconds = _train(
                cell, 1, hidden_size, X_train, y_train, (X_val, y_val), epochs, patience, seed
            )
            # the best epoch's weights are restored: score them per day, in float64
            loss = (model.predict(X_val)[:, 0] - y_val[:, 0]) ** 2
            val_mse = float(loss.mean())
            rows.append(
                {
                    "lookback": lookback,
                    "val_mse": val_mse,
                    "vs_naive": val_mse / naive_mse - 1.0,
                    "t_vs_naive": _paired_t(loss, naive_loss),
                    "train_seconds": seconds,
                    "epochs": history.stopped_epoch,
                    "best_epoch": history.best_epoch,
                    "train_targets": len(y_train),
                    "val_targets": len(y_val),
                }
            )
    frame = _frame(rows)
    best = min(rows, key=lambda row: row["val_mse"])
    shortest, longest = rows[0], rows[-1]
    name = cell.upper()
    source = "WTI" if series is None else "the given series'"

    def versus_best(row, side):
        if row is best:
            return f"no lookback was too {side}: {row['lookback']} steps was the best"
        ratio = row["val_mse"] / best["val_mse"]
        return f"too {side}, {row['lookback']} steps scored {_pct(ratio)} against the best"

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
    caption = (
        f"One {name} (H={hidden_size}) per lookback on {source} daily log returns, all "
        f"trained on the same {len(y_train):,} targets and scored on the same "
        f"{len(y_val):,} validation days (MSE of the next return in units of the training "
        f"block's variance; early stopping, patience {patience}, at most {epochs} epochs). "
        f"Just right: {best['lookback']} steps, validation MSE {best['val_mse']:.4f}, "
        f"{against_naive} the naive forecast's {naive_mse:.4f} (an unchanged price; paired "
        f"t {best['t_vs_naive']:+.2f}). {too_short[0].upper()}{too_short[1:]}; "
        f"{versus_best(longest, 'long')}. The whole spread across lookbacks is "
        f"{100 * spread:.2f}% of the naive error, {meaning}; training time grows with the "
        f"lookback ({shortest['train_seconds']:.2f} s at {shortest['lookback']}, "
        f"{longest['train_seconds']:.2f} s at {longest['lookback']})."
    )
    figure = None
    if plot:
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
    return Result(
        name="lookback",
        title="How far back should the network look? Too short, too long, just right",
        table=frame,
        figure=figure,
        caption=caption,
        numbers={
            "best_lookback": float(best["lookback"]),
            "best_val_mse": best["val_mse"],
            "naive_val_mse": naive_mse,
            "best_vs_naive": best["vs_naive"],
        },
    )


# ---------------------------------------------------------------------------- volatility


def _target(returns, target):
    """What is forecast for each day: the absolute or the squared return."""
    return np.abs(returns) if target == "abs_return" else returns**2


def _ewma_variance(returns, train_end, lam=RISKMETRICS_LAMBDA):
    """RiskMetrics variance forecasts: element t is the forecast of r_t**2 made at t - 1.

    ``v_{t+1} = lam v_t + (1 - lam) r_t**2``, started at the training block's mean
    square (training data only); element t never reads r_t or anything after it.
    """
    variance = np.empty(len(returns))
    v = float(np.mean(returns[:train_end] ** 2))
    # a recursion: each step needs the previous one
    for t, r in enumerate(returns.tolist()):
        variance[t] = v
        v = lam * v + (1.0 - lam) * r * r
    return variance


def _rolling_mean(values, window):
    """Element t is the mean of values[t - window : t] (NaN for t < window): the past only."""
    sums = np.concatenate(([0.0], np.cumsum(values)))
    out = np.full(len(values), np.nan)
    out[window:] = (sums[window:-1] - sums[: -window - 1]) / window
    return out


def _import_arch_model():
    """arch's ``arch_model``, or None when the optional arch package is not installed."""
    try:
        from arch import arch_model
    except ImportError:
        return None
    return arch_model


def _garch_variance(returns, train_end):
    """GARCH(1,1) one-step variance forecasts (element t: of r_t, made at t - 1), or None.

    The parameters are estimated by arch on the training block only; the variance
    recursion is then run here over the whole series with the parameters fixed, so
    element t reads returns before t only. (arch's own filter on the full series
    would clip variances with bounds computed from the whole sample, test included.)

    Returns
    -------
    (variance (n,), params dict, converged bool) or None without arch
    """
    arch_model = _import_arch_model()
    if arch_model is None:
        return None
    model = arch_model(returns[:train_end], mean="Constant", vol="GARCH", p=1, q=1)
    with warnings.catch_warnings():
        # convergence trouble is reported through the flag below, not as a warning
        warnings.simplefilter("ignore")
        fitted = model.fit(disp="off")
    params = {k: float(v) for k, v in fitted.params.items()}
    mu, omega = params["mu"], params["omega"]
    alpha, beta = params["alpha[1]"], params["beta[1]"]
    eps = returns - mu
    # start at the unconditional variance, or the training residuals' when it is infinite
    v = omega / (1 - alpha - beta) if alpha + beta < 1 else float(np.mean(eps[:train_end] ** 2))
    variance = np.empty(len(returns))
    for t, e in enumerate(eps.tolist()):
        variance[t] = v
        v = omega + alpha * e * e + beta * v
    return variance + mu**2, params, fitted.convergence_flag == 0


def _scale_to_train(forecast, target, train_rows):
    """The least-squares constant c for ``c * forecast`` on the training targets only.

    A variance forecast predicts E[r**2] directly, but E|r| is only proportional to
    the volatility (sqrt(2/pi) for normal returns, less for fat tails), so for the
    absolute return each volatility model gets its constant fitted on training days.
    """
    f, y = forecast[train_rows], target[train_rows]
    return float(f @ y / (f @ f))


def _volatility_forecasts(
    returns, lookback, hidden_size, epochs, seed, target, patience=8, num_threads=1
):
    """Every model's forecast of the target for every day from ``lookback`` on.

    Parameters
    ----------
    returns : ndarray (n,)
        Log returns in percent, time order.

    Returns
    -------
    dict with ``forecasts`` (name -> ndarray (n,), NaN before ``lookback``),
    ``target`` (n,), the block bounds ``train_end`` and ``val_end``, ``scaler`` (the
    LSTM's input scaler), ``history``, ``garch`` (None or (params, converged)) and
    ``scales`` (the abs-return constants).
    """
    n = len(returns)
    train_end, val_end = _blocks(n)
    if train_end - lookback < 10 or val_end in (train_end, n):
        raise ValueError(
            f"the series is too short: {n} returns with lookback {lookback} leave too few "
            "training, validation or test days"
        )
    y = _target(returns, target)
    days = np.arange(lookback, n)
    train = days[days < train_end]
    val = days[(days >= train_end) & (days < val_end)]

    # LSTM: inputs are the past returns and their absolute values; both scalers are
    # fitted on the training block's rows only
    features = np.column_stack([returns, np.abs(returns)])
    scaler = _data.StandardScaler().fit(features[:train_end])
    target_scaler = _data.StandardScaler().fit(y[:train_end])
    scaled = scaler.transform(features)
    y_scaled = target_scaler.transform(y)[:, None]
    with _threads(num_threads):
        X = _window_inputs(scaled, lookback, days)
        is_train, is_val = days < train_end, (days >= train_end) & (days < val_end)
        model, history, seconds = _train(
            "lstm", 2, hidden_size, X[is_train], y_scaled[train],
            (X[is_val], y_scaled[val]), epochs, patience, seed,
        )  # fmt: skip
        predicted = target_scaler.inverse_transform_column(model.predict(X)[:, 0], 0)
    forecasts = {"LSTM": np.full(n, np.nan)}
    # a negative absolute or squared return is impossible: clip, using no data
    forecasts["LSTM"][days] = np.maximum(predicted, 0.0)

    scales = {}
    ewma = _ewma_variance(returns, train_end)
    garch = _garch_variance(returns, train_end)
    models = {f"EWMA({RISKMETRICS_LAMBDA:g})": ewma}
    if garch is not None:
        models["GARCH(1,1)"] = garch[0]
    for name, variance in models.items():
        if target == "abs_return":
            volatility = np.sqrt(variance)
            scales[name] = _scale_to_train(volatility, y, train)
            forecasts[name] = scales[name] * volatility
        else:
            forecasts[name] = variance
    forecasts[f"Rolling mean({lookback})"] = _rolling_mean(y, lookback)
    return {
        "forecasts": forecasts,
        "target": y,
        "train_end": train_end,
        "val_end": val_end,
        "scaler": scaler,
        "history": history,
        "train_seconds": seconds,
        "garch": None if garch is None else garch[1:],
        "scales": scales,
    }


def volatility(
    n=None,
    lookback=20,
    hidden_size=32,
    epochs=40,
    seed=0,
    series=None,
    target="abs_return",
    plot=True,
    patience=8,
    num_threads=1,
):
    """Forecast tomorrow's absolute (or squared) log return: an LSTM against EWMA and GARCH.

    The series (bundled WTI prices by default) becomes daily log returns in percent,
    split in time order 70/15/15 into train, validation (the LSTM's early stopping
    only) and test. Every model forecasts day t from days before t and is scored on
    the same test days:

    * LSTM: windows of the past ``lookback`` returns and their absolute values
      (scaled with statistics of the training block), trained on the training days;
      negative forecasts are clipped to 0.
    * EWMA: RiskMetrics, ``v_{t+1} = 0.94 v_t + 0.06 r_t**2``.
    * Rolling mean of the target over the last ``lookback`` days.
    * GARCH(1,1) with a constant mean, estimated by ``arch`` on the training block
      only, then filtered with fixed parameters; skipped when arch is not installed.

    A variance forecast is the squared-return forecast; for the absolute return the
    volatility ``sqrt(v)`` is multiplied by a constant fitted by least squares on the
    training days (``sqrt(2/pi)`` for normal returns; fat tails lower it).

    Parameters
    ----------
    n : int, optional
        Use only the last ``n`` prices of the series.
    lookback : int
        Days in the LSTM's windows and in the rolling mean.
    hidden_size : int
    epochs : int
        At most this many; early stopping on the validation block with ``patience``.
    seed : int
    series : prices, optional
        NumPy array, pandas Series or GarchSeries (e.g. ``rnnkit.datasets.garch_series``).
    target : {"abs_return", "squared_return"}
        In percent, or percent squared.
    plot : bool
    patience : int
    num_threads : int or None
        Threads of the compiled core (see the module docstring).

    Returns
    -------
    Result
        ``name="volatility"``; table columns model, rmse, mae (test block, the target's
        units); numbers ``rmse_<model>`` for lstm, ewma, rolling and garch (when run).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    prices, dates = _price_series(series, n)
    # percent: readable errors, and the scale arch's optimizer expects
    returns = 100.0 * _data.log_returns(prices)
    dates = None if dates is None else dates[1:]
    out = _volatility_forecasts(
        returns, lookback, hidden_size, epochs, seed, target, patience, num_threads
    )
    test = np.arange(out["val_end"], len(returns))
    actual = out["target"][test]
    rows, squared = [], {}
    for name, forecast in out["forecasts"].items():
        error = forecast[test] - actual
        squared[name] = error**2
        rows.append(
            {
                "model": name,
                "rmse": float(np.sqrt(np.mean(error**2))),
                "mae": float(np.mean(np.abs(error))),
            }
        )
    table = _frame(rows)
    keys = {"LSTM": "lstm", "EWMA": "ewma", "GARCH": "garch", "Rolling": "rolling"}
    numbers = {}
    for row in rows:
        key = next(v for k, v in keys.items() if row["model"].startswith(k))
        numbers[f"rmse_{key}"] = row["rmse"]

    ranked = sorted(rows, key=lambda row: row["rmse"])
    winner, second = ranked[0], ranked[1]
    mae_winner = min(rows, key=lambda row: row["mae"])
    t = _paired_t(squared[winner["model"]], squared[second["model"]])
    lstm = next(row for row in rows if row["model"] == "LSTM")
    unit = "percentage points" if target == "abs_return" else "percent squared"
    what = "absolute" if target == "abs_return" else "squared"
    source = "the WTI series" if series is None else "the given series"
    if n is not None:
        source += f" (its last {len(prices):,} prices)"
    span = ""
    if dates is not None:
        first, last = (str(np.datetime64(d, "D")) for d in (dates[test[0]], dates[test[-1]]))
        span = f" ({first} to {last})"
    if out["garch"] is None:
        garch_note = "GARCH(1,1) skipped: the optional arch package is not installed."
    else:
        params, converged = out["garch"]
        garch_note = (
            f"GARCH(1,1) fitted on the training block: alpha {params['alpha[1]']:.3f}, "
            f"beta {params['beta[1]']:.3f}"
            + ("" if converged else " (the optimizer reported no convergence)")
            + "."
        )
    lstm_note = (
        ""
        if winner is lstm
        else f" The LSTM is {_pct(lstm['rmse'] / winner['rmse'])} behind it in RMSE."
    )
    if mae_winner is winner:
        mae_note = "It also has the lowest MAE"
    else:
        mae_note = f"By MAE, {mae_winner['model']} wins instead"
    caption = (
        f"Next-day {what} log return of {source}, forecast on the same "
        f"{len(test):,} test days{span}; errors in {unit}. By RMSE, {winner['model']} wins "
        f"with {winner['rmse']:.4g}, {_pct(winner['rmse'] / second['rmse'])} against "
        f"{second['model']} (paired t on squared errors {t:+.2f}: "
        + ("a small margin" if abs(t) < 2 else "a clear margin")
        + f").{lstm_note} {mae_note} ({mae_winner['mae']:.4g}). RMSE: "
        + ", ".join(f"{row['model']} {row['rmse']:.4g}" for row in ranked)
        + f". {garch_note} Everything fitted (scalers, the LSTM, GARCH parameters, "
        "scale constants) saw the training block only; the validation block only stopped "
        "the LSTM's training."
    )
    figure = None
    if plot:
        figure = _volatility_figure(out, test, dates, table, what, unit)
    return Result(
        name="volatility",
        title="Volatility clusters: is tomorrow's absolute return forecast better by an LSTM "
        "than by EWMA or GARCH?",
        table=table,
        figure=figure,
        caption=caption,
        numbers=numbers,
    )


def _volatility_figure(out, test, dates, table, what, unit, last=250):
    figure, (top, bottom) = _figure(2, 1, width=10.0, height=7.0)
    shown = test[-last:]
    x = shown if dates is None else dates[shown]
    top.plot(x, out["target"][shown], color="0.75", linewidth=0.8, label=f"{what} return")
    colors = {"LSTM": "tab:red", "EWMA": "tab:green", "GARCH": "tab:purple"}
    for name, forecast in out["forecasts"].items():
        color = next((c for k, c in colors.items() if name.startswith(k)), "tab:brown")
        top.plot(x, forecast[shown], color=color, linewidth=1.2, label=name)
    top.set_ylabel(unit)
    top.set_title(f"The last {len(shown)} test days: what happened and each one-day forecast")
    top.legend(ncols=len(out["forecasts"]) + 1, fontsize="small")
    top.grid(alpha=0.3)
    ordered = table.sort_values("rmse")
    height = 0.4
    positions = np.arange(len(ordered))
    for offset, column in ((-height / 2, "rmse"), (height / 2, "mae")):
        bars = bottom.barh(positions + offset, ordered[column], height, label=column.upper())
        bottom.bar_label(bars, fmt="%.4g", padding=2, fontsize="small")
    bottom.set_yticks(positions, list(ordered["model"]))
    bottom.invert_yaxis()
    bottom.set_xlim(0, ordered[["rmse", "mae"]].to_numpy().max() * 1.2)
    bottom.set_xlabel(f"test error ({unit}; lower is better)")
    bottom.set_title("Error on the whole test block")
    bottom.legend()
    return figure
