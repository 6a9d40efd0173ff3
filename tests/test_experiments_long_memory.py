"""rnnkit.experiments.long_memory: a stateful LSTM against a windowed one on a level that
flips every period / 2 steps, on quick settings (the full run is the report's)."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from rnnkit.experiments import Result, flipping_level, long_memory
from rnnkit.experiments.long_memory import STATEFUL, WINDOWED, _caption, _numbers
from rnnkit.experiments.runner import PLAN

QUICK = next(quick for name, *_, quick in PLAN if name == "long_memory")


def test_the_level_flips_every_half_period_around_plus_and_minus_one():
    level = flipping_level(1000, period=40, noise=0.0)
    np.testing.assert_array_equal(level[:20], 1.0)
    np.testing.assert_array_equal(level[20:40], -1.0)
    np.testing.assert_array_equal(level[40:], level[:-40])
    noisy = flipping_level(1000, period=40, noise=0.1, seed=3)
    assert np.std(noisy - level) == pytest.approx(0.1, rel=0.1)
    np.testing.assert_array_equal(noisy, flipping_level(1000, period=40, noise=0.1, seed=3))


def test_quick_settings_give_every_model_a_row_per_seed_a_caption_and_a_figure():
    result = long_memory(**{**QUICK, "seeds": (0, 1)})
    assert isinstance(result, Result)
    assert result.name == "long_memory"
    table = result.table
    assert list(table["model"][:2]) == [STATEFUL, WINDOWED]
    assert (table.groupby("model").size() == 2).all()
    assert {"Naive", "LinearRegression"} <= set(table["model"])
    assert {"rmse", "rmse_step_1", "rmse_step_10", "train_seconds"} <= set(table.columns)
    assert np.isfinite(table["rmse"]).all()
    assert set(result.numbers) == {"stateful_rmse", "windowed_rmse", "naive_rmse", "noise",
                                   "excess_removed"}  # fmt: skip
    assert f"stateful {result.numbers['stateful_rmse']:.3f}" in result.caption
    assert isinstance(result.figure, Figure)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"period": 201}, ValueError, "period must be an even int >= 2, got 201"),
        ({"noise": 0}, ValueError, "noise must be a positive finite number"),
        ({"seeds": ()}, ValueError, "seeds must be one or more ints"),
        ({"seeds": (0, -1)}, ValueError, r"seeds\[1\] must be None or an int >= 0"),
        ({"tbptt": 10**5}, ValueError, "tbptt must be at most"),
        ({"lookback": 0}, ValueError, "lookback must be an int >= 1"),
    ],
)
def test_bad_arguments_are_refused_by_name_before_training(kwargs, error, words):
    with pytest.raises(error, match=words):
        long_memory(**{**QUICK, **kwargs})


def table_of(stateful, windowed, naive=0.49):
    import pandas as pd

    rows = [(s, STATEFUL, v) for s, v in enumerate(stateful)]
    rows += [(s, WINDOWED, v) for s, v in enumerate(windowed)]
    rows += [(s, "Naive", naive) for s in range(len(stateful))]
    return pd.DataFrame(rows, columns=["seed", "model", "rmse"])


@pytest.mark.parametrize(
    ("stateful", "words"),
    [
        ((0.13, 0.15), "learned what the windowed one cannot: it removes 95% of"),
        ((0.40, 0.42), "better on every seed, but far from the noise"),
        ((0.40, 0.50), "did not learn the count (better on 1 of 2 seeds)"),
    ],
)
def test_the_caption_says_from_the_numbers_whether_the_count_was_learned(stateful, words):
    table = table_of(stateful, (0.46, 0.46))
    networks = {STATEFUL: {"batch_size": 2, "tbptt": 200}, WINDOWED: {"patience": 20}}
    text = _caption(_numbers(table, 0.1), table, 200, 30, 10, 0.1, (0, 1), networks)
    assert words in text
    assert "period 200" in text
