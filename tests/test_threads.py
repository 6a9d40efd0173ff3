"""Threads: OpenMP thread counts give identical results, and Python threads
run kernels side by side because every kernel releases the GIL."""

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _problems import CELLS, backward, forward, make_output_grads, make_problem

from rnnkit import core


@pytest.fixture
def restore_threads():
    before = core.num_threads()
    yield
    core.set_num_threads(before)


def training_step(cell, problem, grads):
    out = forward(core, cell, problem)
    return {**out, **{f"d{k}": v for k, v in backward(core, cell, problem, out, grads).items()}}


def assert_identical(got, want):
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_set_num_threads_round_trips(restore_threads):
    core.set_num_threads(1)
    assert core.num_threads() == 1
    core.set_num_threads(3)
    assert core.num_threads() == (3 if core.build_info()["openmp"] else 1)


# (T, B, I, H) for each way two threads share a layer: every product split by
# columns, step by step (weights too large for one core's cache), and the batch
# split by rows through all steps (small weights, I <= 4 and I > 4, and an odd
# batch). Each is large enough that the regions really fork.
SPLITS = [(4, 256, 8, 256), (6, 64, 3, 32), (5, 34, 9, 20), (3, 131, 4, 64)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("T", "B", "I", "H"), SPLITS)
def test_one_and_two_threads_agree_bitwise(cell, dtype, T, B, I, H, restore_threads):
    # The threads split rows and output tiles, never a sum, so results are
    # equal to the last bit.
    rng = np.random.default_rng(7)
    problem = make_problem(rng, cell, T, B, I, H, dtype)
    grads = make_output_grads(rng, cell, T, B, H, dtype)
    core.set_num_threads(1)
    serial = training_step(cell, problem, grads)
    core.set_num_threads(2)
    assert_identical(training_step(cell, problem, grads), serial)


@pytest.mark.parametrize("threads", [1, 2])
def test_python_threads_at_once_match_serial_runs(threads, restore_threads):
    core.set_num_threads(threads)
    rng = np.random.default_rng(8)
    jobs = []
    for k in range(8):
        cell = CELLS[k % len(CELLS)]
        dtype = (np.float32, np.float64)[k % 2]
        jobs.append(
            (
                cell,
                make_problem(rng, cell, 10, 16, 4, 48, dtype),
                make_output_grads(rng, cell, 10, 16, 48, dtype),
            )
        )
    serial = [training_step(*job) for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            concurrent = list(pool.map(lambda job: training_step(*job), jobs))
            for got, want in zip(concurrent, serial, strict=True):
                assert_identical(got, want)


@pytest.mark.parametrize("function", ["forward", "backward"])
@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm"])
def test_kernels_release_the_gil(cell, function):
    """While a kernel runs in a worker thread, the main thread runs Python.

    With a switch interval far longer than the test, a thread holding the GIL
    never hands it over: the main thread can only count while the worker is
    inside a kernel that released it. If the kernel kept the GIL, the worker
    would read the same count before and after its call.
    """
    rng = np.random.default_rng(9)
    problem = make_problem(rng, cell, 200, 32, 8, 64, np.float64)
    out = forward(core, cell, problem)
    grads = make_output_grads(rng, cell, 200, 32, 64, np.float64)
    count = [0]
    seen = {}
    entering = threading.Event()

    def worker():
        entering.set()
        before = count[0]
        if function == "forward":
            forward(core, cell, problem)
        else:
            backward(core, cell, problem, out, grads)
        seen["during"] = count[0] - before

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        entering.wait()  # blocks, so the worker holds the GIL until its kernel drops it
        while count[0] < 1000:
            count[0] += 1
        thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert seen["during"] > 0
