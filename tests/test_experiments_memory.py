"""rnnkit.experiments.memory: the adding problem, gradient flow per lag, and their experiments."""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from rnnkit.experiments._result import Result
from rnnkit.experiments.memory import (
    MEAN_MSE,
    _span_sentence,
    adding_problem,
    adding_problem_batch,
    fading_gradients,
    gradient_flow,
    memory_span,
)
from rnnkit.models import SequenceRegressor

CELLS = ("rnn", "lstm")


# ---------------------------------------------------------------------------- the batches


@pytest.mark.parametrize("T", [2, 7, 10])
def test_batch_has_two_markers_one_per_half_and_their_sum_as_target(T):
    X, y = adding_problem_batch(500, T, np.random.default_rng(0))
    assert X.shape == (500, T, 2)
    assert X.dtype == np.float32
    assert y.shape == (500, 1)
    assert y.dtype == np.float32
    values, marker = X[:, :, 0], X[:, :, 1]
    assert np.all((values >= 0) & (values < 1))
    assert np.all(np.isin(marker, (0.0, 1.0)))
    assert np.all(marker[:, : T // 2].sum(axis=1) == 1)
    assert np.all(marker[:, T // 2 :].sum(axis=1) == 1)
    np.testing.assert_allclose(y[:, 0], (values * marker).sum(axis=1), rtol=1e-6)


def test_batch_markers_cover_each_half_and_the_mean_predictor_scores_one_sixth():
    X, y = adding_problem_batch(20000, 10, 0)
    positions = np.nonzero(X[:, :, 1])[1]
    assert set(positions) == set(range(10))
    assert np.mean((y - 1.0) ** 2) == pytest.approx(MEAN_MSE, rel=0.05)


def test_batch_is_reproducible_and_advances_a_generator():
    a, b = adding_problem_batch(4, 6, 3), adding_problem_batch(4, 6, 3)
    np.testing.assert_array_equal(a[0], b[0])
    rng = np.random.default_rng(3)
    first, second = adding_problem_batch(4, 6, rng), adding_problem_batch(4, 6, rng)
    assert not np.array_equal(first[0], second[0])


# ---------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"cell": "gru"}, "cell"),
        ({"seq_len": 1}, "seq_len"),
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"clip": -1.0}, "clip"),
        ({"seed": -1}, "seed"),
        ({"test_size": 0}, "test_size"),
    ],
)
def test_adding_problem_rejects_bad_arguments_by_name(kwargs, name):
    args = {"cell": "lstm", "seq_len": 10, "steps": 1} | kwargs
    with pytest.raises(ValueError, match=name):
        adding_problem(**args)


def test_a_count_that_is_not_an_int_is_a_type_error():
    with pytest.raises(TypeError, match="steps"):
        adding_problem("rnn", 10, steps=2.5)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: adding_problem_batch(0, 5, 0), "batch_size"),
        (lambda: adding_problem_batch(3, 1, 0), "seq_len"),
        (lambda: memory_span(seq_lens=(10, 1), steps=1), r"seq_lens\[1\]"),
        (lambda: memory_span(cells=("lstm", "gru"), steps=1), r"cells\[1\]"),
        (lambda: memory_span(seq_lens=(), steps=1), "seq_lens"),
        (lambda: fading_gradients(seq_len=1), "seq_len"),
        (lambda: fading_gradients(train_steps=0), "train_steps"),
    ],
)
def test_the_other_functions_reject_bad_arguments_by_name(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ---------------------------------------------------------------------------- training


@pytest.mark.parametrize("cell", CELLS)
def test_a_tiny_run_is_finite_and_reproducible(cell):
    settings = {"steps": 30, "hidden_size": 8, "test_size": 200}
    mse = adding_problem(cell, 10, seed=1, **settings)
    assert isinstance(mse, float)
    assert math.isfinite(mse)
    again, model = adding_problem(cell, 10, seed=1, return_model=True, **settings)
    assert again == pytest.approx(mse, rel=1e-6)
    assert isinstance(model, SequenceRegressor)
    assert model.cell == cell
    assert adding_problem(cell, 10, seed=2, **settings) != pytest.approx(mse, rel=1e-6)


@pytest.mark.slow
def test_at_length_50_the_lstm_learns_and_the_rnn_predicts_the_mean():
    # The claim: a PyTorch LSTM reaches about 0.005 and a tanh RNN stays near 1/6.
    assert adding_problem("lstm", 50) < 0.02
    assert adding_problem("rnn", 50) > 0.1


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


# ---------------------------------------------------------------------------- the experiments


def test_span_sentence_says_where_learning_stops():
    text = _span_sentence("rnn", [10, 20, 50, 100], [0.01, 0.05, 0.16, 0.17])
    assert "stays below 0.02 up to T = 10" in text
    assert "mean-prediction level (MSE > 0.1) from T = 50 on" in text
    text = _span_sentence("lstm", [10, 50], [0.001, 0.004])
    assert "every length tried, up to T = 50" in text
    assert "still beats the mean at T = 50" in text
    assert "above 0.02 already at T = 10" in _span_sentence("rnn", [10, 50], [0.1, 0.2])
    text = _span_sentence("rnn", [10, 50], [0.15, 0.2])
    assert "mean-prediction level (MSE > 0.1) at every length tried, from T = 10" in text


def test_memory_span_on_tiny_settings():
    result = memory_span(seq_lens=(6, 4), steps=5, hidden_size=8, test_size=50)
    assert isinstance(result, Result)
    assert result.name == "memory_span"
    assert list(result.table.columns) == ["cell", "seq_len", "test_mse", "seconds"]
    assert list(result.table["seq_len"]) == [4, 6, 4, 6]
    assert set(result.numbers) == {f"{c}_mse_at_{T}" for c in CELLS for T in (4, 6)}
    assert isinstance(result.figure, Figure)
    assert "The RNN" in result.caption
    assert "The LSTM" in result.caption
    assert memory_span(seq_lens=(4,), cells=("rnn",), steps=2, plot=False).figure is None


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
