"""Run-time dispatch of the kernels (products and cells), and the float activations' error bound.

Every instruction set this CPU runs is checked against the reference, so a
machine with AVX-512 tests all three paths and an older one what it has.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from _problems import CELLS, LSTM_VARIANT_CELLS, check_against_reference

from rnnkit import core

PATHS = core.supported_simd_paths()


def test_the_portable_path_is_always_there():
    assert PATHS[-1] == "portable"
    assert core.simd_path() in PATHS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS + LSTM_VARIANT_CELLS)
@pytest.mark.parametrize(
    ("T", "B", "I", "H"),
    # the last: inputs projected before the steps, in more than one chunk of steps
    [(1, 1, 1, 1), (7, 13, 3, 37), (3, 130, 5, 300), (5, 9, 4, 2), (20, 7, 40, 37)],
)
def test_every_path_matches_the_reference(simd_path, cell, T, B, I, H, dtype):
    assert core.simd_path() == simd_path
    check_against_reference(cell, T, B, I, H, dtype, with_state=True, with_dy=True, seed=11)


def test_an_unknown_or_unsupported_path_is_refused():
    before = core.simd_path()
    with pytest.raises(
        ValueError, match=r"^set_simd_path: this CPU and build run .*'portable'; got 'sse9'$"
    ):
        core.set_simd_path("sse9")
    assert core.simd_path() == before


@pytest.mark.parametrize("forced", PATHS)
def test_the_environment_variable_forces_a_lower_path(forced):
    code = "from rnnkit import core; print(core.simd_path())"
    env = {**os.environ, "RNNKIT_SIMD": forced}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == forced


def float_activations(z):
    """tanh(z) and sigmoid(z) as the float32 LSTM computes them: the g and i gates."""
    n = z.size
    x = z.astype(np.float32).reshape(1, n, 1)
    w_ih = np.ones((4, 1), np.float32)
    w_hh = np.zeros((4, 1), np.float32)
    b = np.zeros(4, np.float32)
    gates = core.lstm_forward(x, None, None, w_ih, w_hh, b, b)[3].reshape(n, 4)
    return gates[:, 2].astype(np.float64), gates[:, 0].astype(np.float64)


def test_float_tanh_and_sigmoid_are_within_their_bound(simd_path):
    # The bound stated in activations.hpp, on every path: absolute error below 5e-7 (tanh) and half that
    # (sigmoid), against float64 on the same float32 inputs, over and past the clamp.
    z = np.linspace(-20, 20, 400_001).astype(np.float32).astype(np.float64)
    tanh, sigmoid = float_activations(z)
    assert np.max(np.abs(tanh - np.tanh(z))) < 5e-7
    assert np.max(np.abs(sigmoid - 0.5 * (1 + np.tanh(z / 2)))) < 2.5e-7 + 6e-8
    assert np.all(np.abs(tanh) <= 1)
    assert np.all((sigmoid >= 0) & (sigmoid <= 1))
