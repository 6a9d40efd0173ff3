"""pytest-benchmark suite: one fp32 training step (forward + BPTT), rnnkit core vs NumPy.

Core and reference of one cell and shape share a benchmark group, so the table compares
them side by side. Every case checks before and after timing that the run agrees with the
float64 reference (all outputs and gradients). The directory is outside the project's
testpaths, so name it::

    python -m pytest benchmarks --benchmark-only           # timings
    python -m pytest benchmarks -q --benchmark-disable     # each case once: correctness only
"""

import itertools

import pytest
from common import (
    CELLS,
    SHAPES,
    disagreements,
    make_problem,
    reference_result,
    shape_label,
    training_step,
)

import rnnkit

IMPLEMENTATIONS = {"core": rnnkit.core, "reference": rnnkit.reference}

# the implementation varies fastest, so the two runs of one group are reported next to each other
CASES = list(itertools.product(CELLS, SHAPES, IMPLEMENTATIONS))


@pytest.mark.parametrize(
    ("cell", "shape", "impl"),
    CASES,
    ids=[f"{c}-{shape_label(s).replace(' ', '')}-{i}" for c, s, i in CASES],
)
def test_training_step(benchmark, cell, shape, impl):
    problem = make_problem(cell, shape)
    expected = reference_result(cell, problem)
    step = training_step(IMPLEMENTATIONS[impl], cell, problem)
    benchmark.group = f"{cell} {shape_label(shape)}"

    assert not disagreements(step(), expected)
    assert not disagreements(benchmark(step), expected)
