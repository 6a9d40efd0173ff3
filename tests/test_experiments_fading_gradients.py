"""rnnkit.experiments.fading_gradients: gradient flow per lag and the fading-gradients experiment."""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from rnnkit.experiments._result import Result
from rnnkit.experiments.fading_gradients import fading_gradients, gradient_flow
from rnnkit.experiments.memory_span import adding_problem_batch
from rnnkit.models import SequenceRegressor

CELLS = ("rnn", "lstm")


# ---------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: fading_gradients(seq_len=1), "seq_len"),
        (lambda: fading_gradients(train_steps=0), "train_steps"),
    ],
)
def test_fading_gradients_rejects_bad_arguments_by_name(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ---------------------------------------------------------------------------- gradient flow


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS)
def test_gradient_flow_has_one_finite_value_per_lag(cell, dtype):
    model = SequenceRegressor(cell, input_size=2, hidden_size=5, output_size=2, dtype=dtype, seed=0)
    X, _ = adding_problem_batch(3, 9, 0)
    flow = gradient_flow(model, X)
    assert flow.shape == (9,)
    assert flow.dtype == np.float64
    assert np.all(np.isfinite(flow))
    assert np.all(flow > 0)


@pytest.mark.parametrize("cell", CELLS)
def test_lag_zero_matches_finite_differences(cell):
    model = SequenceRegressor(
        cell, input_size=3, hidden_size=4, output_size=2, dtype=np.float64, seed=0
    )
    x = np.random.default_rng(1).standard_normal((5, 6, 3))
    eps = 1e-6
    # The sequences are independent, so perturbing feature j of every last step at once
    # gives each sequence's own derivative.
    columns = []
    for j in range(3):
        up, down = x.copy(), x.copy()
        up[:, -1, j] += eps
        down[:, -1, j] -= eps
        columns.append((model.predict(up) - model.predict(down)).sum(axis=1) / (2 * eps))
    expected = np.linalg.norm(np.stack(columns, axis=1), axis=1).mean()
    assert gradient_flow(model, x)[0] == pytest.approx(expected, rel=1e-7)


def test_an_rnn_with_small_recurrent_weights_forgets_geometrically():
    model = SequenceRegressor("rnn", input_size=2, hidden_size=6, dtype=np.float64, seed=0)
    model.params["weight_hh_l0"] *= 0.1
    X, _ = adding_problem_batch(4, 12, 0)
    flow = gradient_flow(model, X)
    assert np.all(np.diff(flow) < 0)
    assert flow[-1] / flow[0] < 1e-8


# ---------------------------------------------------------------------------- the experiment


def test_fading_gradients_on_tiny_settings():
    result = fading_gradients(seq_len=8, hidden_size=8, train_steps=5)
    assert isinstance(result, Result)
    assert result.name == "fading_gradients"
    table = result.table
    assert list(table.columns) == ["cell", "stage", "lag", "grad_norm"]
    assert len(table) == 2 * 2 * 8
    assert set(table["stage"]) == {"initial", "trained"}
    for cell in CELLS:
        for suffix in ("", "_trained"):
            assert f"{cell}_ratio_lag7{suffix}" in result.numbers
        assert math.isfinite(result.numbers[f"{cell}_trained_mse"])
    assert isinstance(result.figure, Figure)
    assert len(result.figure.axes[0].get_lines()) == 4
    assert fading_gradients(seq_len=4, hidden_size=4, train_steps=1, plot=False).figure is None
