"""Metrics: each against numbers worked out by hand, the edge cases, the table, bad input."""

import sys

import numpy as np
import pytest

from rnnkit.metrics import (
    directional_accuracy,
    evaluate,
    mae,
    mape,
    mse,
    rmse,
    skill,
    smape,
)

# errors y_true - y_pred = -1, 0, 3
Y_TRUE = [1.0, 2.0, 4.0]
Y_PRED = [2.0, 2.0, 1.0]

HAND = {
    mse: (1 + 0 + 9) / 3,
    rmse: np.sqrt(10 / 3),
    mae: (1 + 0 + 3) / 3,
    mape: 100 * (1 / 1 + 0 / 2 + 3 / 4) / 3,
    smape: 200 * (1 / 3 + 0 / 4 + 3 / 5) / 3,
}


@pytest.mark.parametrize("metric", list(HAND), ids=lambda f: f.__name__)
def test_metric_by_hand(metric):
    value = metric(Y_TRUE, Y_PRED)
    assert type(value) is float
    assert value == pytest.approx(HAND[metric], rel=1e-14)


@pytest.mark.parametrize("metric", list(HAND), ids=lambda f: f.__name__)
def test_metric_flattens_any_shape(metric):
    # the same three values in an (N, horizon) table, with a zero-error step added
    truth = np.array([[1.0, 2.0], [4.0, 5.0]])
    pred = np.array([[2.0, 2.0], [1.0, 5.0]])
    expected = metric([*Y_TRUE, 5.0], [*Y_PRED, 5.0])
    assert metric(truth, pred) == pytest.approx(expected, rel=1e-14)


def test_metrics_accept_pandas():
    pd = pytest.importorskip("pandas")
    assert rmse(pd.Series(Y_TRUE), np.array(Y_PRED)) == pytest.approx(np.sqrt(10 / 3))


def test_smape_counts_zero_over_zero_as_perfect():
    # steps: 0 vs 0 scores 0; 1 vs 3 scores 200 * 2 / 4 = 100
    assert smape([0.0, 1.0], [0.0, 3.0]) == 50.0
    assert smape([0.0], [0.0]) == 0.0
    assert smape([1.0], [-1.0]) == 200.0


def test_mape_rejects_zeros_in_y_true():
    with pytest.raises(ValueError, match="y_true has 1 zero"):
        mape([0.0, 1.0], [0.5, 1.0])
    assert mape([1.0, 2.0], [0.0, 0.0]) == 100.0


def test_directional_accuracy_by_hand():
    # true changes from 1: +, -, flat, +; predicted: +, +, flat, flat -> right, wrong, right, wrong
    assert directional_accuracy([2.0, 0.0, 1.0, 3.0], [3.0, 2.0, 1.0, 1.0], 1.0) == 0.5


def test_naive_directional_accuracy_is_the_share_of_flat_steps():
    # the naive forecast never moves: right only on the two steps where the truth stays at 2
    assert directional_accuracy([1.0, 2.0, 2.0], [2.0, 2.0, 2.0], 2.0) == pytest.approx(2 / 3)
    assert directional_accuracy([3.0, 1.0], [2.0, 2.0], 2.0) == 0.0


def test_directional_accuracy_repeats_last_over_the_steps():
    # row = [a at t+1, b at t+1, a at t+2, b at t+2] with last a = 10, b = 20
    # true: +, -, +, -; predicted: +, +, -, - -> right, wrong, wrong, right
    truth = [[11.0, 19.0, 12.0, 18.0]]
    pred = [[12.0, 21.0, 9.0, 19.0]]
    assert directional_accuracy(truth, pred, [[10.0, 20.0]]) == 0.5
    assert directional_accuracy(truth, pred, np.tile([[10.0, 20.0]], 2)) == 0.5


def test_directional_accuracy_one_last_value_per_window():
    # last (N,) is a column even when N equals the number of steps: 0 for row 0, 10 for row 1,
    # so every true and predicted change is up; NumPy's row broadcasting would give 0.75
    truth = [[1.0, 2.0], [11.0, 12.0]]
    pred = [[15.0, 15.0], [15.0, 15.0]]
    assert directional_accuracy(truth, pred, [0.0, 10.0]) == 1.0
    assert directional_accuracy(truth, pred, [[0.0], [10.0]]) == 1.0


def test_directional_accuracy_rejects_a_last_that_does_not_fit():
    with pytest.raises(ValueError, match=r"last of shape \(3,\) does not fit y_true of shape"):
        directional_accuracy([[1.0, 2.0]], [[1.0, 2.0]], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="last must be finite"):
        directional_accuracy([1.0], [1.0], np.nan)


def test_skill_by_hand():
    naive = [0.0, 0.0, 0.0]  # rmse sqrt((1 + 4 + 16) / 3) = sqrt(7)
    assert skill(Y_TRUE, Y_PRED, naive) == pytest.approx(1 - np.sqrt(10 / 21), rel=1e-14)
    assert skill(Y_TRUE, Y_TRUE, naive) == 1.0
    assert skill(Y_TRUE, naive, naive) == 0.0
    # errors -2, -4, -8: rmse sqrt(84 / 3) = 2 sqrt(7), twice the naive one
    assert skill(Y_TRUE, [3.0, 6.0, 12.0], naive) == pytest.approx(-1.0, rel=1e-14)


def test_skill_when_the_naive_forecast_is_perfect():
    assert skill([1.0, 1.0], [1.0, 1.0], [1.0, 1.0]) == 0.0
    assert skill([1.0, 1.0], [1.0, 2.0], [1.0, 1.0]) == -np.inf


def test_skill_checks_y_naive():
    with pytest.raises(ValueError, match=r"y_true and y_naive must have the same shape"):
        skill(Y_TRUE, Y_PRED, [0.0, 0.0])


@pytest.mark.parametrize(
    ("metric", "extra"),
    [*((m, ()) for m in HAND), (skill, (Y_TRUE,)), (directional_accuracy, (1.0,))],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_shape_mismatch_names_both_shapes(metric, extra):
    words = r"y_true and y_pred must have the same shape, got \(3,\) and \(3, 1\)"
    with pytest.raises(ValueError, match=words):
        metric(Y_TRUE, np.array(Y_PRED)[:, None], *extra)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_rejected(bad):
    with pytest.raises(ValueError, match="y_pred must be finite, got 1 NaN or inf"):
        mse(Y_TRUE, [1.0, bad, 2.0])
    with pytest.raises(ValueError, match="y_true must be finite"):
        mae([bad], [1.0])


def test_empty_and_non_numeric_input():
    with pytest.raises(ValueError, match="empty"):
        rmse([], [])
    with pytest.raises(TypeError, match="y_true must be an array of numbers"):
        rmse(["a", "b"], [1.0, 2.0])


# Two windows, horizon 2: last values 10 and 20.
TRUTH = np.array([[11.0, 12.0], [19.0, 20.0]])
LAST = np.array([[10.0], [20.0]])
MODEL = np.array([[11.0, 13.0], [21.0, 19.0]])


def test_evaluate_rows_match_the_metrics():
    rows = evaluate(TRUTH, {"model": MODEL, "Naive": np.tile(LAST, 2)}, LAST, as_frame=False)
    assert [row["model"] for row in rows] == ["model", "Naive"]
    model, naive = rows
    assert model == {
        "model": "model",
        "rmse": rmse(TRUTH, MODEL),
        "mae": mae(TRUTH, MODEL),
        "mape": mape(TRUTH, MODEL),
        "smape": smape(TRUTH, MODEL),
        "directional_accuracy": directional_accuracy(TRUTH, MODEL, LAST),
        "skill": skill(TRUTH, MODEL, np.tile(LAST, 2)),
    }
    # by hand: errors 0, -1, -2, 1 -> rmse sqrt(6 / 4); naive errors 1, 2, -1, 0 -> sqrt(6 / 4)
    assert model["rmse"] == pytest.approx(np.sqrt(1.5))
    assert model["skill"] == pytest.approx(0.0, abs=1e-15)
    assert model["directional_accuracy"] == 0.5  # up/up right, up/up right, down/up, flat/down
    assert naive["skill"] == 0.0


def test_evaluate_with_a_given_reference():
    rows = evaluate(TRUTH, {"m": MODEL}, LAST, y_naive=np.zeros((2, 2)), as_frame=False)
    assert rows[0]["skill"] == pytest.approx(skill(TRUTH, MODEL, np.zeros((2, 2))))


def test_evaluate_reports_nan_mape_when_y_true_has_zeros():
    (row,) = evaluate([[0.0, 1.0]], {"m": [[0.5, 1.0]]}, 0.5, as_frame=False)
    assert np.isnan(row["mape"])
    assert row["smape"] == pytest.approx(100.0)


def test_evaluate_as_a_data_frame():
    pytest.importorskip("pandas")
    for as_frame in (None, True):
        table = evaluate(TRUTH, {"a": MODEL, "b": TRUTH}, LAST, as_frame=as_frame)
        assert list(table.index) == ["a", "b"]
        assert table.index.name == "model"
        assert list(table.columns) == [
            "rmse",
            "mae",
            "mape",
            "smape",
            "directional_accuracy",
            "skill",
        ]
        assert table.loc["b", "skill"] == 1.0


def test_evaluate_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    assert isinstance(evaluate(TRUTH, {"a": MODEL}, LAST), list)
    with pytest.raises(ImportError, match=r"pip install 'rnnkit\[pandas\]'"):
        evaluate(TRUTH, {"a": MODEL}, LAST, as_frame=True)


def test_evaluate_bad_input():
    with pytest.raises(TypeError, match="predictions must be a mapping"):
        evaluate(TRUTH, [MODEL], LAST)
    with pytest.raises(ValueError, match="predictions is empty"):
        evaluate(TRUTH, {}, LAST)
    with pytest.raises(ValueError, match=r"y_true and predictions\['lstm'\] must have the same"):
        evaluate(TRUTH, {"lstm": MODEL[:1]}, LAST)
    with pytest.raises(TypeError, match="as_frame must be None, True or False"):
        evaluate(TRUTH, {"a": MODEL}, LAST, as_frame="yes")


def test_a_table_of_metrics_prints_whole_and_tells_close_models_apart():
    pd = pytest.importorskip("pandas")
    truth = np.array([1.0, 1.1, 1.2, 1.3]) * 1e-3
    forecasts = {
        "a": truth + np.array([1.0, -1.0, 1.0, -1.0]) * 1.30e-6,
        "b": truth + np.array([1.0, -1.0, 1.0, -1.0]) * 1.31e-6,
    }
    table = evaluate(truth, forecasts, last=truth - 1e-4)
    assert isinstance(table, pd.DataFrame)
    text = repr(table)
    assert max(map(len, text.splitlines())) <= 80
    a, b = (line.split()[1] for line in text.splitlines()[2:])
    assert a != b  # 0.0000013 and 0.00000131 print differently
    assert a == "0.000001300"
    assert type(table[["rmse"]]) is pd.DataFrame  # selections are plain pandas


def test_a_table_with_a_row_of_gaps_still_prints():
    pytest.importorskip("pandas")
    truth = np.array([1.0, 2.0, 3.0])
    table = evaluate(truth, {"a": truth + 0.1}, last=truth - 1.0)
    table["parameters"] = 3
    table.loc["empty"] = np.nan  # parameters becomes float
    lines = repr(table).splitlines()
    assert lines[-1].split()[0] == "empty"
    assert set(lines[-1].split()[1:]) == {"NaN"}
