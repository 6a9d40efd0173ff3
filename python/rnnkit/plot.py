"""Pictures of a run: how training went, what the models forecast, how far off they were.

Each function returns a matplotlib Figure built without pyplot (no global state,
no window), ready for ``fig.savefig(path)`` or display in a notebook.
matplotlib is optional: ``pip install 'rnnkit[plot]'``.
"""

import numpy as np

NETWORK_COLORS = {"LSTM": "tab:red", "GRU": "tab:green", "RNN": "tab:blue"}
NAIVE = "Naive"
BASELINE_COLOR = "0.6"  # bars of baselines


def _figure(*subplots, width=9.0, height=4.5, **subplot_args):
    """A pyplot-free Figure and its axes (``Figure.subplots(*subplots, **subplot_args)``)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("plotting needs matplotlib: pip install 'rnnkit[plot]'") from err
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(*subplots, **subplot_args)


def loss_curves(histories):
    """Training and validation loss per epoch for each network.

    Parameters
    ----------
    histories : dict of name -> rnnkit.train.History

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _figure()
    for name, history in histories.items():
        train, val, best = np.asarray(history.train_loss), history.val_loss, history.best_epoch
        color = NETWORK_COLORS.get(name)
        epochs = np.arange(1, len(train) + 1)
        ax.plot(epochs, train, color=color, label=f"{name} train")
        if len(val):
            ax.plot(epochs[: len(val)], val, color=color, linestyle="--", label=f"{name} val")
            if best:  # epochs count from 1; 0 means the initial weights were kept
                ax.plot(best, val[best - 1], "o", color=color, markersize=6)
    lines = [line.get_ydata() for line in ax.get_lines()]
    low, high = min(np.min(v) for v in lines), max(np.max(v) for v in lines)
    if low > 0 and high / low > 10:  # a log scale only helps when the loss spans decades
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (scaled units)")
    ax.set_title("Training: dashed is validation, the dot the epoch whose weights were kept")
    _legend_above(fig, ax)
    ax.grid(alpha=0.3)
    return fig


def _default_models(frame):
    return [c for c in frame.columns if c in NETWORK_COLORS or c == NAIVE]


def _style(name):
    """Networks solid in their colours; baselines dotted grey with dots, drawn on top, so
    that a baseline a network follows closely still shows through it."""
    if name in NETWORK_COLORS:
        return {"color": NETWORK_COLORS[name], "linestyle": "-", "linewidth": 1.2, "zorder": 2}
    return {"color": "0.35", "linestyle": ":", "linewidth": 1.2, "marker": ".",
            "markersize": 3, "zorder": 3}  # fmt: skip


def _banded(frame, models, band):
    """The model whose interval predictions() draws: ``band``, or by default the last
    network among ``models`` whose interval the frame holds; None for none."""
    held = [m for m in models if f"{m} lower" in frame and f"{m} upper" in frame]
    if band is None:
        return next((m for m in reversed(held) if m in NETWORK_COLORS), held[-1] if held else None)
    if band not in held:
        raise ValueError(
            f"band must be a drawn model whose interval the frame holds ({held}), got {band!r}"
        )
    return band


def _draw_forecasts(ax, part, models, units, band=None):
    """The actual values and each model's forecasts on ``ax``, and model ``band``'s
    interval ("<band> lower" to "<band> upper") as a band behind them."""
    ax.plot(part.index, part["actual"], color="black", linewidth=1.4, label="actual", zorder=1)
    for name in models:
        ax.plot(part.index, part[name], label=name, **_style(name))
    if band is not None:
        ax.fill_between(
            part.index, part[f"{band} lower"], part[f"{band} upper"],
            color=NETWORK_COLORS.get(band, "0.35"), alpha=0.18, linewidth=0,
            label=f"{band} interval", zorder=0,
        )  # fmt: skip
    ax.set_ylabel(units)
    ax.grid(alpha=0.3)


def _legend_above(fig, ax):
    """One legend for the figure, above the panels: it never covers a line."""
    handles, labels = ax.get_legend_handles_labels()
    # at most five a row: eight models and a band would run off a 9-inch figure
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 5),
               fontsize="small")  # fmt: skip


def rolling_window(n):
    """Steps of the rolling error: about a twentieth of the test block, 5 to 60."""
    return int(np.clip(n // 20, 5, 60))


def predictions(frame, models=None, zoom=60, units="price", band=None):
    """The test block: what happened, each model's error over time, and a close view.

    Three panels sharing nothing but colours: the actual values over the whole test
    block (the close view's span shaded); each model's rolling RMSE over the block,
    where models that overlap as price lines can be told apart; and the last ``zoom``
    steps (all of them when the block is shorter) with every forecast drawn.

    Parameters
    ----------
    frame : pandas DataFrame
        ``Forecaster.test_predictions(step)``: an "actual" column and one per model,
        indexed by the target's time; from ``test_predictions(step, interval=)``, the
        close view draws one model's interval as a band.
    models : list of str, optional
        Columns to draw (default: every network and the naive forecast).
    zoom : int
        Steps in the close view, at most the block's length.
    units : str
        Label of the y axes.
    band : str, optional
        The model whose interval is drawn (default: the last network drawn that has
        one, else the last model); one band, since several would hide each other.

    Returns
    -------
    matplotlib.figure.Figure
    """
    models = _default_models(frame) if models is None else list(models)
    band = _banded(frame, models, band)
    n = len(frame)
    shown = min(int(zoom), n)
    fig, (whole, error, tail) = _figure(3, 1, height=9.0)
    whole.plot(frame.index, frame["actual"], color="black", linewidth=0.8)
    if shown < n:
        whole.axvspan(frame.index[-shown], frame.index[-1], color="tab:orange", alpha=0.15)
    whole.set_ylabel(units)
    whole.grid(alpha=0.3)
    whole.set_title(f"What happened over the {n} test steps (shaded: the close view below)")
    window = rolling_window(n)

    def rolling_rmse(name):
        squared = (frame[name] - frame["actual"]) ** 2
        return np.sqrt(squared.rolling(window, min_periods=window).mean())

    # relative to the naive forecast: models whose price lines overlap part here
    reference = rolling_rmse(NAIVE) if NAIVE in frame else None
    for name in models:
        ratio = rolling_rmse(name) if reference is None else rolling_rmse(name) / reference
        error.plot(frame.index, ratio, **{**_style(name), "marker": None})
    if reference is not None:
        error.set_ylabel("RMSE / naive's")
        error.set_title(
            f"Each model's error over time: RMSE of the last {window} steps over the naive "
            "forecast's (below 1 beats it)"
        )
    else:
        error.set_ylabel(f"RMSE ({units})")
        error.set_title(f"Each model's error over time: RMSE of the last {window} steps")
    error.grid(alpha=0.3)
    _draw_forecasts(tail, frame.iloc[-shown:], models, units, band)
    tail.set_title(f"The last {shown} steps" if shown < n else f"All {n} steps of the test block")
    _legend_above(fig, tail)
    return fig


def predictions_by_step(frames, models=None, zoom=60, units="price"):
    """Multi-step forecasts: a close view of the last ``zoom`` targets for several steps
    ahead (all of them up to 4, else the first, two between and the last).

    Parameters
    ----------
    frames : dict of int -> pandas DataFrame
        ``Forecaster.test_predictions(step)`` for each step.
    models, zoom, units
        As :func:`predictions`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    steps = sorted(frames)
    if len(steps) > 4:
        steps = sorted({steps[round(k * (len(steps) - 1) / 3)] for k in range(4)})
    fig, axes = _figure(len(steps), 1, height=2.6 * len(steps) + 0.8, squeeze=False)
    for ax, step in zip(axes[:, 0], steps, strict=True):
        frame = frames[step]
        chosen = _default_models(frame) if models is None else list(models)
        shown = min(int(zoom), len(frame))
        _draw_forecasts(ax, frame.iloc[-shown:], chosen, units)
        ax.set_title(f"{step} step{'s' if step > 1 else ''} ahead: the last {shown} targets")
    _legend_above(fig, axes[0, 0])
    return fig


def error_by_model(table, metric="rmse"):
    """Test error of every model as bars, the naive forecast's level as a line.

    Parameters
    ----------
    table : pandas DataFrame
        ``Forecaster.evaluate()``: one row per model, indexed by name.
    metric : str
        Column to draw.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ordered = table.sort_values(metric)
    fig, ax = _figure(width=8.0, height=4.0)
    colors = [NETWORK_COLORS.get(name, BASELINE_COLOR) for name in ordered.index]
    bars = ax.barh(ordered.index, ordered[metric], color=colors)
    if "skill" in ordered:
        pairs = zip(ordered[metric], ordered["skill"], strict=True)
        labels = [f"{v:.4g}  (skill {s:+.4f})" for v, s in pairs]
        ax.bar_label(bars, labels=labels, padding=3, fontsize="small")
    if NAIVE in ordered.index:
        ax.axvline(ordered.loc[NAIVE, metric], color="black", linestyle=":", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlabel(f"test {metric.upper()} (lower is better; skill = 1 - RMSE / RMSE of naive)")
    ax.set_xlim(0, ordered[metric].max() * 1.35)
    ax.set_title("Error by model on the same test windows")
    return fig


def sweep_heatmap(table, x, y=None, metric=None):
    """A sweep's mean validation score over two of its parameters, the best cell framed.

    Each cell is the best configuration with those two values (the best mean over the
    folds, whatever the other parameters); without ``y``, one row over ``x``.

    Parameters
    ----------
    table : pandas DataFrame
        :func:`rnnkit.sweep`'s rows.
    x, y : str
        Parameters of the sweep: the columns and the rows of the map.
    metric : str or None
        The score (see :func:`rnnkit.rank`); None: the one rank uses by default.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import pandas as pd

    from ._table import decimals
    from .sweeps import HIGHER_IS_BETTER, METRIC, rank, varying

    metric = METRIC if metric is None else metric

    ranked = rank(table, metric)
    naive = ranked[f"naive_{metric}"].mean()
    ranked = ranked[ranked["failed"] == 0]  # a configuration with a failed fold: no cell
    axes = [y, x] if y is not None else [x]
    labels = {name: pd.unique(table[name].map(str)) for name in axes}  # the grid's order
    best = ranked.assign(**{n: ranked[n].map(str) for n in axes}).groupby(axes)[metric]
    best = best.max() if metric in HIGHER_IS_BETTER else best.min()
    if y is None:
        grid = best.reindex(labels[x]).to_frame().T
    else:
        grid = best.unstack(x).reindex(index=labels[y], columns=labels[x])
    values = grid.to_numpy(dtype=float)
    fig, ax = _figure(width=max(6.0, 1.2 * values.shape[1] + 3.0),
                      height=0.8 * values.shape[0] + 2.2)  # fmt: skip
    # the better, the darker, whichever way the score goes
    image = ax.imshow(values, cmap="viridis_r" if metric in HIGHER_IS_BETTER else "viridis")
    fig.colorbar(image, ax=ax, label=f"mean validation {metric}")
    ax.set_xticks(range(values.shape[1]), labels[x])
    ax.set_xlabel(x)
    ax.set_yticks(range(values.shape[0]), labels[y] if y is not None else [""])
    if y is not None:
        ax.set_ylabel(y)
    shown = f"{{:.{decimals(values)}f}}"  # the digits that tell the cells apart
    for (row, column), value in np.ndenumerate(values):
        if np.isnan(value):
            ax.text(column, row, "no score", ha="center", va="center")
            continue
        red, green, blue, _ = image.cmap(image.norm(value))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        ax.text(column, row, shown.format(value), ha="center", va="center",
                color="white" if dark else "black")  # fmt: skip
    if np.isfinite(values).any():
        pick = np.nanargmax if metric in HIGHER_IS_BETTER else np.nanargmin
        row, column = np.unravel_index(pick(values), values.shape)
        ax.add_patch(_frame_cell(row, column))
    better = "higher" if metric in HIGHER_IS_BETTER else "lower"
    lines = [f"Mean validation {metric} over the folds ({better} is better)"]
    if set(varying(table)) - set(axes):
        lines.append("each cell: the best over the other parameters")
    lines.append(f"the naive forecast's: {shown.format(naive)}")
    ax.set_title("\n".join(lines), fontsize="medium")
    return fig


def _frame_cell(row, column):
    from matplotlib.patches import Rectangle

    return Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2)
