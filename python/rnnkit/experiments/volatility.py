"""Volatility clusters, so tomorrow's absolute (or squared) return is partly predictable:
an LSTM against EWMA (RiskMetrics), a rolling mean and, when the optional ``arch``
package is installed, a GARCH(1,1).
"""

import warnings

import numpy as np

from .. import data as _data
from .._checks import check_choice
from ..data import TEST, VAL
from ..plot import _figure
from ._common import paired_t, pct, price_series, threads, train
from ._result import Result
from ._result import frame as _frame

__all__ = ["volatility"]

RISKMETRICS_LAMBDA = 0.94  # J.P. Morgan RiskMetrics (1996) decay for daily data
TARGETS = ("abs_return", "squared_return")


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
    check_choice("target", target, TARGETS)
    prices, dates = price_series(series, n)
    # percent: readable errors, and the scale arch's optimizer expects
    returns = 100.0 * _data.log_returns(prices)
    dates = None if dates is None else dates[1:]
    out = _volatility_forecasts(
        returns, lookback, hidden_size, epochs, seed, target, patience, num_threads
    )
    rows, squared, test = _score(out, len(returns))
    table = _frame(rows)
    keys = {"LSTM": "lstm", "EWMA": "ewma", "GARCH": "garch", "Rolling": "rolling"}
    numbers = {}
    for row in rows:
        key = next(v for k, v in keys.items() if row["model"].startswith(k))
        numbers[f"rmse_{key}"] = row["rmse"]
    what = "absolute" if target == "abs_return" else "squared"
    unit = "percentage points" if target == "abs_return" else "percent squared"
    return Result(
        name="volatility",
        title="Volatility clusters: is tomorrow's absolute return forecast better by an LSTM "
        "than by EWMA or GARCH?",
        table=table,
        figure=_volatility_figure(out, test, dates, table, what, unit) if plot else None,
        caption=_caption(out, rows, squared, test, dates, target, series, n, len(prices)),
        numbers=numbers,
    )


def _score(out, n):
    """(rows of test RMSE and MAE per model, squared errors per model, the test days)."""
    test = np.arange(out["val_end"], n)
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
    return rows, squared, test


def _caption(out, rows, squared, test, dates, target, series, n, n_prices):
    ranked = sorted(rows, key=lambda row: row["rmse"])
    winner, second = ranked[0], ranked[1]
    mae_winner = min(rows, key=lambda row: row["mae"])
    t = paired_t(squared[winner["model"]], squared[second["model"]])
    lstm = next(row for row in rows if row["model"] == "LSTM")
    unit = "percentage points" if target == "abs_return" else "percent squared"
    what = "absolute" if target == "abs_return" else "squared"
    source = "the WTI series" if series is None else "the given series"
    if n is not None:
        source += f" (its last {n_prices:,} prices)"
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
        else f" The LSTM is {pct(lstm['rmse'] / winner['rmse'])} behind it in RMSE."
    )
    if mae_winner is winner:
        mae_note = "It also has the lowest MAE"
    else:
        mae_note = f"By MAE, {mae_winner['model']} wins instead"
    return (
        f"Next-day {what} log return of {source}, forecast on the same "
        f"{len(test):,} test days{span}; errors in {unit}. By RMSE, {winner['model']} wins "
        f"with {winner['rmse']:.4g}, {pct(winner['rmse'] / second['rmse'])} against "
        f"{second['model']} (paired t on squared errors {t:+.2f}: "
        + ("a small margin" if abs(t) < 2 else "a clear margin")
        + f").{lstm_note} {mae_note} ({mae_winner['mae']:.4g}). RMSE: "
        + ", ".join(f"{row['model']} {row['rmse']:.4g}" for row in ranked)
        + f". {garch_note} Everything fitted (scalers, the LSTM, GARCH parameters, "
        "scale constants) saw the training block only; the validation block only stopped "
        "the LSTM's training."
    )


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
    LSTM's scaler: returns, absolute returns and, for the squared return, the target),
    ``history``, ``garch`` (None or (params, converged)) and ``scales`` (the
    abs-return constants).
    """
    n = len(returns)
    y = _target(returns, target)
    # the LSTM reads the past returns and their absolute values; the target is the
    # absolute return itself or one more column, the squared return
    columns = [returns, np.abs(returns)] + ([] if target == "abs_return" else [y])
    with threads(num_threads):
        split = _data.split_windows(
            np.column_stack(columns), lookback, target=len(columns) - 1, inputs=[0, 1],
            transform="none", val=VAL, test=TEST,
        )  # fmt: skip
        blocks = split.train, split.val, split.test
        train_end, val_end = split.bounds
        if len(split.train.X) < 10 or val_end in (train_end, n):
            raise ValueError(
                f"the series is too short: {n} returns with lookback {lookback} leave too few "
                "training, validation or test days"
            )
        model, history, seconds = train(
            "lstm", 2, hidden_size, split.train.X, split.train.y,
            (split.val.X, split.val.y), epochs, patience, seed,
        )  # fmt: skip
        scaled = np.concatenate([model.predict(b.X) for b in blocks])
        predicted = split.pipeline.to_levels(scaled, None)[:, 0]
    forecasts = {"LSTM": np.full(n, np.nan)}
    # a negative absolute or squared return is impossible: clip, using no data
    forecasts["LSTM"][lookback:] = np.maximum(predicted, 0.0)
    train_days = np.arange(lookback, train_end)

    scales = {}
    ewma = _ewma_variance(returns, train_end)
    garch = _garch_variance(returns, train_end)
    models = {f"EWMA({RISKMETRICS_LAMBDA:g})": ewma}
    if garch is not None:
        models["GARCH(1,1)"] = garch[0]
    for name, variance in models.items():
        if target == "abs_return":
            volatility = np.sqrt(variance)
            scales[name] = _scale_to_train(volatility, y, train_days)
            forecasts[name] = scales[name] * volatility
        else:
            forecasts[name] = variance
    forecasts[f"Rolling mean({lookback})"] = _rolling_mean(y, lookback)
    return {
        "forecasts": forecasts,
        "target": y,
        "train_end": train_end,
        "val_end": val_end,
        "scaler": split.pipeline.scaler,
        "history": history,
        "train_seconds": seconds,
        "garch": None if garch is None else garch[1:],
        "scales": scales,
    }


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
