"""Pictures of a run: how training went, what the models forecast, how far off they were.

Each function returns a matplotlib Figure built without pyplot (no global state,
no window), ready for ``fig.savefig(path)`` or display in a notebook.
matplotlib is optional: ``pip install 'rnnkit[plot]'``.
"""

import numpy as np

NETWORK_COLORS = {"LSTM": "tab:red", "RNN": "tab:blue"}
NAIVE = "Naive"
BASELINE_COLOR = "0.6"


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
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def predictions(frame, models=None, zoom=60, units="price"):
    """The test block: actual values against each model's forecast.

    Parameters
    ----------
    frame : pandas DataFrame
        ``Forecaster.test_predictions()``: an "actual" column and one per model,
        indexed by the target's time.
    models : list of str, optional
        Columns to draw (default: every network and the naive forecast).
    zoom : int
        The lower panel shows the last ``zoom`` steps, where the lines can be told apart.
    units : str
        Label of the y axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if models is None:
        models = [c for c in frame.columns if c in NETWORK_COLORS or c == NAIVE]
    fig, (whole, tail) = _figure(2, 1, height=7.0)
    for ax, part in ((whole, frame), (tail, frame.iloc[-zoom:])):
        ax.plot(part.index, part["actual"], color="black", linewidth=1.2, label="actual")
        for name in sorted(models, key=lambda m: m in NETWORK_COLORS):
            color = NETWORK_COLORS.get(name, BASELINE_COLOR)
            style = "-" if name in NETWORK_COLORS else ":"
            ax.plot(part.index, part[name], color=color, linestyle=style, linewidth=1, label=name)
        ax.set_ylabel(units)
        ax.grid(alpha=0.3)
    whole.set_title("Test block: one-step forecasts against what happened")
    tail.set_title(f"The last {min(zoom, len(frame))} steps")
    whole.legend(ncols=len(models) + 1, fontsize="small")
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
