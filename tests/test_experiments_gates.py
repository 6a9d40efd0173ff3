"""rnnkit.experiments.gates: the event series and the event-memory experiment (tiny settings)."""

import importlib
import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from rnnkit.experiments._result import Result
from rnnkit.experiments.event_memory import NOISE, _memory, event_memory, event_series

TINY = {"duration": 3, "n": 300, "hidden_size": 4, "lookback": 8, "epochs": 2}

COLUMNS = [
    "step",
    "lstm_cell_diff",
    "lstm_hidden_diff",
    "rnn_hidden_diff",
    "lstm_forget_gate",
    "lstm_forget_gate_no_event",
    "lstm_forecast_shift",
    "rnn_forecast_shift",
    "trend_ahead",
]


@pytest.fixture(scope="module")
def tiny():
    return event_memory(**TINY)


# ---------------------------------------------------------------------------- the series


@pytest.mark.parametrize(("duration", "lookback"), [(5, 10), (20, 40)])
def test_each_event_shifts_the_trend_for_exactly_duration_steps(duration, lookback):
    inputs, trend, events = event_series(2000, duration, shift=0.5, seed=3, lookback=lookback)
    assert inputs.shape == (2000, 2)
    signal = inputs[:, 1]
    np.testing.assert_array_equal(np.flatnonzero(signal), events)
    assert set(signal[events]) <= {-1.0, 1.0}
    assert len(events) >= 2000 // (7 * duration) - 1
    gaps = np.diff(events)
    assert gaps.min() >= max(3 * duration, lookback)
    assert gaps.max() <= 7 * duration
    expected = np.zeros(2000)
    for e in events:
        expected[e + 1 : e + 1 + duration] = signal[e] * 0.5 * NOISE
    np.testing.assert_array_equal(trend, expected)
    noise = inputs[:, 0] - trend
    assert noise.std() == pytest.approx(NOISE, rel=0.1)


def test_the_series_is_reproducible_from_its_seed():
    a, b, c = event_series(500, 5, seed=1), event_series(500, 5, seed=1), event_series(500, 5)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_memory_is_the_first_step_after_which_the_curve_stays_below_the_threshold():
    assert _memory(np.array([1.0, 0.8, 0.4, 0.6, 0.3, 0.1]), 0.5) == (4, False)
    assert _memory(np.array([1.0, 0.2, 0.1]), 0.5) == (1, False)
    assert _memory(np.array([1.0, 0.9, 0.7]), 0.5) == (3, True)


# ---------------------------------------------------------------------------- the experiment


def test_tiny_run_returns_a_result_with_table_figure_and_numbers(tiny):
    assert isinstance(tiny, Result)
    assert tiny.name == "event_memory"
    assert tiny.title
    assert isinstance(tiny.figure, Figure)
    assert len(tiny.figure.axes) == 3
    assert list(tiny.table.columns) == COLUMNS
    steps = TINY["lookback"] - 2
    assert len(tiny.table) == steps
    np.testing.assert_array_equal(tiny.table["step"], np.arange(steps))
    np.testing.assert_array_equal(tiny.table["trend_ahead"], np.arange(steps) < TINY["duration"])
    for column in ("lstm_cell_diff", "lstm_hidden_diff", "rnn_hidden_diff"):
        assert tiny.table[column].iloc[0] == pytest.approx(1.0)  # relative to the event step
        assert np.all(tiny.table[column] >= 0)
    gates = tiny.table[["lstm_forget_gate", "lstm_forget_gate_no_event"]].to_numpy()
    assert np.all((gates > 0) & (gates < 1))


def test_the_numbers_are_finite_and_quoted_in_the_caption(tiny):
    numbers = tiny.numbers
    for key in ("lstm_memory_steps", "rnn_memory_steps", "lstm_test_mse", "rnn_test_mse"):
        assert math.isfinite(numbers[key])
    assert 0 <= numbers["rnn_memory_steps"] <= numbers["steps_observed"]
    assert numbers["events_measured"] >= 1
    assert numbers["oracle_test_mse"] > 0
    assert f"{numbers['lstm_test_mse']:.3f}" in tiny.caption
    assert f"{numbers['lstm_forget_gate']:.2f}" in tiny.caption


def test_without_plot_there_is_no_figure():
    result = event_memory(**TINY, plot=False)
    assert result.figure is None
    assert list(result.table.columns) == COLUMNS


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lookback": 5}, "lookback must be at least duration"),
        ({"duration": 5, "lookback": 10, "n": 25}, "fewer than 2 events"),
        ({"threshold": 1.5}, "threshold"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        event_memory(**(TINY | kwargs), plot=False)


@pytest.mark.slow
def test_with_the_defaults_the_lstm_keeps_the_event_longer_than_the_rnn():
    result = event_memory(plot=False)
    numbers = result.numbers
    assert numbers["lstm_memory_steps"] > 2 * numbers["rnn_memory_steps"]
    assert numbers["lstm_cell_imprint_at_duration"] > numbers["rnn_hidden_imprint_at_duration"]
    # both networks learn the trend: their forecasts carry most of it while it lasts
    assert numbers["lstm_forecast_shift_during"] > 0.6
    assert numbers["lstm_test_mse"] < numbers["zero_test_mse"]


def test_gates_at_work_draws_every_gate_of_one_held_out_window():
    from matplotlib.figure import Figure

    from rnnkit.experiments import gates_at_work

    result = gates_at_work(**TINY)
    assert result.name == "gates"
    assert isinstance(result.figure, Figure)
    assert len(result.figure.axes) >= 5  # i, f, o, c, h (and their colorbars)
    columns = ["step", "input_gate", "forget_gate", "output_gate", "mean_abs_cell"]
    assert list(result.table.columns) == columns
    gates_only = result.table[["input_gate", "forget_gate", "output_gate"]].to_numpy()
    assert ((gates_only > 0) & (gates_only < 1)).all()
    assert result.table["step"].iloc[0] < 0  # the window starts before its event
    assert all(f"{v:.2f}" in result.caption for v in result.numbers.values())


def test_gates_at_work_looks_into_event_memorys_networks_without_training(tiny, monkeypatch):
    from rnnkit.experiments import gates_at_work

    # the function of the same name hides the module from attribute access
    module = importlib.import_module("rnnkit.experiments.event_memory")

    fresh = gates_at_work(**TINY, plot=False)  # trains its own, the same as tiny's

    def no_training(*args, **kwargs):
        raise AssertionError("gates_at_work trained a network again")

    monkeypatch.setattr(module, "fit", no_training)
    reused = gates_at_work(memory=tiny, plot=False)
    assert reused.numbers == fresh.numbers
    with pytest.raises(TypeError, match="memory or event_memory's settings, not both"):
        gates_at_work(memory=tiny, n=300)
    with pytest.raises(TypeError, match="memory must be the Result of event_memory"):
        gates_at_work(memory=reused)


def test_the_report_trains_the_event_networks_once(monkeypatch):
    from rnnkit.experiments import runner

    module = importlib.import_module("rnnkit.experiments.event_memory")

    calls = []
    real_fit = module.fit

    def counting_fit(model, *args, **kwargs):
        calls.append(model.cell)
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(module, "fit", counting_fit)
    done = runner.run_all(only=["event_memory", "gates"], quick=True)
    assert [result.name for result, _ in done] == ["event_memory", "gates"]
    assert sorted(calls) == ["lstm", "rnn"]  # one LSTM and one RNN, for both experiments
