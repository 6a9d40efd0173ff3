"""The README's first command: the sine-wave demo trains and its loss falls."""

import numpy as np
import pytest
from _problems import assert_close, numerical_gradient

from rnnkit import demo
from rnnkit.__main__ import main


def test_demo_learns_the_sine_wave():
    lines = []
    train, val = demo.run(epochs=3, hidden=16, log=lines.append)
    # Predicting the mean of a unit sine scores an MSE of 0.5.
    assert train[-1] < train[0] / 5
    assert val[-1] < 0.05
    assert len(lines) == 2 + 3
    assert all(np.isfinite(train + val))


def test_demo_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x, y = (a.astype(np.float64) for a in demo.sine_windows(5, 6, rng))
    params = {k: v.astype(np.float64) for k, v in demo.init_params(3, rng).items()}
    _, grads = demo.loss_and_grads(params, x, y)
    for name, value in params.items():
        expected = numerical_gradient(lambda: demo.loss_and_grads(params, x, y)[0], value)
        assert_close(grads[name], expected, np.float64, name, rtol=1e-7)


def test_cli_runs_the_demo(capsys):
    main(["demo", "--epochs", "1", "--hidden", "4"])
    out = capsys.readouterr().out
    assert "train MSE" in out
    assert len(out.strip().splitlines()) == 3


def test_cli_rejects_a_bad_epoch_count(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--epochs", "0"])
    assert info.value.code == 2
    assert "--epochs" in capsys.readouterr().err
