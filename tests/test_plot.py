"""Pictures of a run: every line visible, legends beside the data, zooms that fit the block."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg

from rnnkit import plot
from rnnkit.train import History


def run_frame(n, seed=0):
    rng = np.random.default_rng(seed)
    actual = 50 + np.cumsum(rng.normal(0, 1, n))
    index = pd.date_range("2020-01-01", periods=n, freq="D", name="time")
    naive = np.concatenate([[actual[0]], actual[:-1]])
    return pd.DataFrame(
        {
            "actual": actual,
            "Naive": naive,
            "Drift": naive + 0.1,
            "RNN": naive + rng.normal(0, 0.2, n),
            "LSTM": naive + rng.normal(0, 0.1, n),
        },
        index=index,
    )


def drawn(fig):
    FigureCanvasAgg(fig).draw()
    return fig


def labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def assert_legend_beside_the_data(fig):
    """One legend, the figure's, overlapping no panel."""
    renderer = fig.canvas.get_renderer()
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), ax.get_title()


@pytest.mark.parametrize("n", [500, 40])
def test_predictions_show_every_model_and_a_zoom_that_fits(n):
    frame = run_frame(n)
    fig = drawn(plot.predictions(frame, zoom=60))
    _, error, tail = fig.axes
    assert labels(tail) == ["actual", "Naive", "RNN", "LSTM"]  # networks and naive
    assert len(error.get_lines()) == 3  # one ratio per model, naive's flat at 1
    naive_ratio = error.get_lines()[0].get_ydata()
    np.testing.assert_allclose(naive_ratio[~np.isnan(naive_ratio)], 1.0)
    shown = len(tail.get_lines()[0].get_xdata())
    assert shown == min(60, n)
    assert tail.get_title() == (
        "The last 60 steps" if n > 60 else f"All {n} steps of the test block"
    )
    assert_legend_beside_the_data(fig)


def test_multi_step_forecasts_get_a_panel_per_step():
    frames = {step: run_frame(100, seed=step) for step in range(1, 7)}
    fig = drawn(plot.predictions_by_step(frames, zoom=30))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        f"{k} step{'s' if k > 1 else ''} ahead: the last 30 targets" for k in (1, 3, 4, 6)
    ]
    assert_legend_beside_the_data(fig)


def test_loss_curves_keep_their_legend_off_the_curves():
    history = History("val_loss")
    history.train_loss, history.val_loss, history.best_epoch = [3.0, 2.0, 1.5], [3.1, 2.2, 2.0], 3
    fig = drawn(plot.loss_curves({"LSTM": history, "RNN": history}))
    assert_legend_beside_the_data(fig)
