"""rnnkit.experiments.memory_span: the adding problem and the memory-span experiment."""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from rnnkit.experiments._result import Result
from rnnkit.experiments.memory_span import (
    MEAN_MSE,
    _span_sentence,
    adding_problem,
    adding_problem_batch,
    memory_span,
)
from rnnkit.models import SequenceRegressor

CELLS = ("rnn", "gru", "lstm")


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
        ({"cell": "cnn"}, "cell"),
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


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"steps": 2.5}, "steps"), ({"lr": "0.1"}, "lr"), ({"seed": 1.5}, "seed")],
)
def test_an_argument_of_the_wrong_kind_is_a_type_error(kwargs, name):
    with pytest.raises(TypeError, match=name):
        adding_problem("rnn", 10, **kwargs)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: adding_problem_batch(0, 5, 0), "batch_size"),
        (lambda: adding_problem_batch(3, 1, 0), "seq_len"),
        (lambda: memory_span(seq_lens=(10, 1), steps=1), r"seq_lens\[1\]"),
        (lambda: memory_span(cells=("lstm", "cnn"), steps=1), r"cells\[1\]"),
        (lambda: memory_span(seq_lens=(), steps=1), "seq_lens"),
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


# ---------------------------------------------------------------------------- the experiment


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
    assert list(result.table["seq_len"]) == [4, 6] * 3
    assert list(dict.fromkeys(result.table["cell"])) == ["rnn", "gru", "lstm"]
    assert set(result.numbers) == {f"{c}_mse_at_{T}" for c in CELLS for T in (4, 6)}
    assert isinstance(result.figure, Figure)
    for name in ("The RNN", "The GRU", "The LSTM"):
        assert name in result.caption
    assert memory_span(seq_lens=(4,), cells=("rnn",), steps=2, plot=False).figure is None
