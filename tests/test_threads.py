"""Threads: OpenMP thread counts give identical results, Python threads run
kernels side by side because every kernel releases the GIL, and a model takes
one fit at a time while any number of threads predict with it."""

import copy
import pickle
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _problems import (
    CELLS,
    LSTM_VARIANT_CELLS,
    backward,
    forward,
    make_output_grads,
    make_problem,
    run_python,
)

import rnnkit
from rnnkit import core
from rnnkit.models import SequenceRegressor
from rnnkit.train import fit, mse_loss

OPENMP = core.build_info()["openmp"]


@pytest.fixture
def restore_threads():
    before, dynamic = core.num_threads(), core.dynamic()
    yield
    core.set_num_threads(before)
    core.set_dynamic(dynamic)


def fixed_threads(n):
    """n threads in every region above the threshold of work, whatever ran faster lately."""
    core.set_num_threads(n)
    core.set_dynamic(False)


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
# batch); and a long sequence, whose input gradients and bias sums, taken a chunk
# of steps at a time, split by rows and by columns (4H, here no whole number of
# cache lines).
# Each is large enough that the regions really fork.
# the sixth: inputs projected before the steps (I >= 32), in chunks of steps; the last:
# steps split by tiles, the last thread's share ending with a compact tile (194 units
# leave 2 past whole vectors on every path)
SPLITS = [
    (4, 256, 8, 256), (6, 64, 3, 32), (5, 34, 9, 64), (3, 131, 4, 64), (64, 64, 3, 36),
    (20, 64, 40, 96), (4, 9, 5, 194),
]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS + LSTM_VARIANT_CELLS)
@pytest.mark.parametrize(("T", "B", "I", "H"), SPLITS)
def test_one_and_two_threads_agree_bitwise(cell, dtype, T, B, I, H, restore_threads):
    # The threads split rows and output tiles, never a sum, so results are
    # equal to the last bit.
    rng = np.random.default_rng(7)
    problem = make_problem(rng, cell, T, B, I, H, dtype)
    grads = make_output_grads(rng, cell, T, B, H, dtype)
    fixed_threads(1)
    serial = training_step(cell, problem, grads)
    fixed_threads(2)
    core._core._busy_threads_peak(reset=True)
    assert_identical(training_step(cell, problem, grads), serial)
    assert core._core._busy_threads_peak() == (2 if OPENMP else 1)  # a second thread did run


@pytest.mark.parametrize("cell", CELLS)
def test_regions_that_choose_their_threads_agree_bitwise(cell, restore_threads):
    # With dynamic threads each region runs on one thread or two, whichever was
    # faster lately, which may change from call to call: never the results.
    rng = np.random.default_rng(9)
    problem = make_problem(rng, cell, 12, 64, 4, 128, np.float32)
    grads = make_output_grads(rng, cell, 12, 64, 128, np.float32)
    fixed_threads(1)
    serial = training_step(cell, problem, grads)
    core.set_num_threads(2)
    core.set_dynamic(True)
    for _ in range(30):
        assert_identical(training_step(cell, problem, grads), serial)


def test_set_dynamic_takes_a_bool_only(restore_threads):
    for bad in (1, 0, "yes", None):
        with pytest.raises(TypeError, match="set_dynamic: on must be True or False, got"):
            core.set_dynamic(bad)
    core.set_dynamic(False)
    assert core.dynamic() is False
    core.set_dynamic(True)
    assert core.dynamic() is OPENMP  # always False in a serial build


def test_a_team_smaller_than_asked_for_neither_hangs_nor_changes_results():
    # OMP_THREAD_LIMIT=1 makes OpenMP run every region on one thread whatever
    # num_threads asks: the threads that wait for each other must count the
    # team that runs.
    import os

    script = (
        "import numpy as np, rnnkit\n"
        "from rnnkit import core\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.standard_normal((20, 64, 4)).astype(np.float32)\n"
        "w_ih = (0.1 * rng.standard_normal((512, 4))).astype(np.float32)\n"
        "w_hh = (0.1 * rng.standard_normal((512, 128))).astype(np.float32)\n"
        "b = np.zeros(512, np.float32)\n"
        "def run():\n"
        "    y, h, c, g, s = core.lstm_forward(x, None, None, w_ih, w_hh, b, b)\n"
        "    return y.tobytes() + core.lstm_backward(x, None, None, w_ih, w_hh, y, g, s, y,"
        " None, None)[3].tobytes()\n"
        "core.set_num_threads(1); one = run()\n"
        "core.set_num_threads(2); core.set_dynamic(False)\n"
        "print(run() == one)\n"
    )
    done = run_python(script, env={**os.environ, "OMP_THREAD_LIMIT": "1"}, timeout=60)
    assert done.stdout.strip() == "True"


# ---------------------------------------------------------------------------- nested


def _threads_at_once(callers, threads):
    """The most threads that ran kernels at once while `callers` Python threads each ran
    large LSTM steps together, with `threads` per region and no dynamic choice."""
    rng = np.random.default_rng(3)
    problem = make_problem(rng, "lstm", 8, 64, 4, 128, np.float32)
    grads = make_output_grads(rng, "lstm", 8, 64, 128, np.float32)
    fixed_threads(threads)
    start = threading.Barrier(callers)

    def caller(_):
        start.wait()
        for _ in range(5):
            training_step("lstm", problem, grads)

    core._core._busy_threads_peak(reset=True)
    with ThreadPoolExecutor(max_workers=callers) as pool:
        list(pool.map(caller, range(callers)))
    return core._core._busy_threads_peak()


def test_one_caller_gets_every_thread(restore_threads):
    assert _threads_at_once(1, 2) == (2 if OPENMP else 1)


@pytest.mark.parametrize("callers", [2, 3])
def test_python_threads_calling_at_once_never_run_more_threads_than_set(callers, restore_threads):
    # The rule: the threads running kernels (callers and their helpers) never
    # exceed set_num_threads(); a caller is never refused, so callers beyond it
    # run on their own thread each, with no helpers. Without the budget, two
    # callers with two threads each would run four.
    assert _threads_at_once(callers, 2) <= max(2, callers)
    assert _threads_at_once(callers, 4) <= max(4, callers)


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


# ---------------------------------------------------------------------------- one model, threads

WAIT = 60  # seconds: a bound on every wait, so a broken test fails instead of hanging


def small_problem(cell="lstm", n=40):
    rng = np.random.default_rng(3)
    model = SequenceRegressor(cell=cell, input_size=2, hidden_size=8, output_size=1, seed=0)
    X = rng.standard_normal((n, 6, 2)).astype(np.float32)
    y = X[:, -3:, 0].sum(axis=1, keepdims=True)
    return model, X, y


def test_a_second_concurrent_fit_of_one_model_is_refused():
    # The first fit pauses in its callback after epoch 1, so the second one certainly
    # starts while the first is training: before the lock it ran and the two fits
    # interleaved on the model's saved activations and parameters.
    model, X, y = small_problem()
    paused, resume = threading.Event(), threading.Event()
    result = {}

    def pause_once(epoch, history):
        if epoch == 1:
            paused.set()
            assert resume.wait(WAIT)
        return False

    def first():
        result["history"] = fit(model, X, y, epochs=3, verbose=0, callbacks=[pause_once])

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert paused.wait(WAIT)
        before = model.state_dict()
        with pytest.raises(RuntimeError, match="being trained in another thread"):
            fit(model, X, y, epochs=1, verbose=0)
        for name, value in model.state_dict().items():  # the refused fit touched nothing
            np.testing.assert_array_equal(value, before[name], err_msg=name)
    finally:
        resume.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    assert result["history"].stop_reason.startswith("completed 3 epochs")
    assert fit(model, X, y, epochs=1, verbose=0).stopped_epoch == 1  # free again


class Stop(Exception):
    pass


def raise_stop(epoch, history):
    raise Stop


def raise_interrupt(epoch, history):
    raise KeyboardInterrupt


@pytest.mark.parametrize("error", ["callback", "interrupt", "own_fit"])
def test_a_model_can_be_trained_again_after_a_fit_that_raised(error):
    model, X, y = small_problem()

    def fit_again(epoch, history):  # a fit from its own callback: refused, not deadlocked
        fit(model, X, y, epochs=1, verbose=0)

    callback, expected = {
        "callback": (raise_stop, Stop),
        "interrupt": (raise_interrupt, KeyboardInterrupt),
        "own_fit": (fit_again, RuntimeError),
    }[error]
    with pytest.raises(expected):
        fit(model, X, y, epochs=3, verbose=0, callbacks=[callback])
    # in another thread too: nothing of the failed fit is left holding the model
    with ThreadPoolExecutor(max_workers=1) as pool:
        history = pool.submit(fit, model, X, y, epochs=2, verbose=0).result(WAIT)
    assert history.stop_reason.startswith("completed 2 epochs")


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_threads_predicting_at_once_match_serial_predictions(cell):
    model, X, y = small_problem(cell, n=97)
    fit(model, X, y, epochs=2, verbose=0)
    model.forward(X[:5])  # activations a backward would use: predict must leave them
    kept = model.recurrent.activations
    sizes = [None, 1, 7, 64]  # different batch shapes in flight at once
    serial = {size: model.predict(X, batch_size=size) for size in sizes}
    start = threading.Barrier(len(sizes))

    def predict_many(size):
        start.wait(WAIT)
        return [model.predict(X, batch_size=size) for _ in range(20)]

    with ThreadPoolExecutor(max_workers=len(sizes)) as pool:
        runs = list(pool.map(predict_many, sizes))
    for size, results in zip(sizes, runs, strict=True):
        for got in results:
            np.testing.assert_array_equal(got, serial[size], err_msg=f"batch_size={size}")
    for now, before in zip(model.recurrent.activations, kept, strict=True):
        for name in before:
            np.testing.assert_array_equal(now[name], before[name], err_msg=name)
    np.testing.assert_array_equal(serial[None], model.forward(X))  # forward's, bit for bit


def test_predicting_in_another_thread_during_training_changes_nothing(one_thread):
    # The loss runs between a training step's forward and its backward: a predict there,
    # from another thread and of another batch size, once replaced the activations that
    # backward was about to use (a shape error, or silently wrong gradients).
    model, X, y = small_problem()
    twin = copy.deepcopy(model)
    pool = ThreadPoolExecutor(max_workers=1)

    def loss_with_a_predict(pred, target):
        assert pool.submit(model.predict, X[:3]).result(WAIT).shape == (3, 1)
        return mse_loss(pred, target)

    with pool:
        history = fit(model, X, y, epochs=2, batch_size=16, loss=loss_with_a_predict, verbose=0)
    plain = fit(twin, X, y, epochs=2, batch_size=16, loss=mse_loss, verbose=0)
    assert history.train_loss == plain.train_loss
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, twin.params[name], err_msg=name)


def test_a_trained_model_still_pickles_copies_and_saves():
    model, X, y = small_problem()
    fit(model, X, y, epochs=1, verbose=0)
    want = model.predict(X)
    for other in (
        pickle.loads(pickle.dumps(model)),
        copy.deepcopy(model),
        copy.copy(model),
        SequenceRegressor.from_state(*model.to_state()),
    ):
        np.testing.assert_array_equal(other.predict(X), want)
    clone = copy.deepcopy(model)  # a copy is another model, free to train
    fit(clone, X, y, epochs=1, verbose=0)
    fit(model, X, y, epochs=1, verbose=0)


# ---------------------------------------------------------------------------- threadpoolctl


def test_threadpoolctl_sees_and_limits_rnnkits_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = rnnkit.num_threads()
    (pool,) = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "rnnkit"]
    assert pool["num_threads"] == before
    assert pool["version"] == rnnkit.__version__
    with threadpoolctl.threadpool_limits(limits=1):
        assert rnnkit.num_threads() == 1
    assert rnnkit.num_threads() == before
    with threadpoolctl.threadpool_limits(limits=1, user_api="rnnkit"):
        assert rnnkit.num_threads() == 1
    assert rnnkit.num_threads() == before

    @threadpoolctl.threadpool_limits.wrap(limits=1)
    def inside():
        return rnnkit.num_threads()

    assert inside() == 1
    assert rnnkit.num_threads() == before


def test_without_threadpoolctl_rnnkit_imports_as_before():
    script = (
        "import sys; sys.modules['threadpoolctl'] = None\n"
        "import rnnkit\n"
        "print(rnnkit.num_threads() >= 1)\n"
    )
    done = run_python(script)
    assert done.stdout.strip() == "True"


# ---------------------------------------------------------------------------- fork


def _forward_sum(_=None):
    """An LSTM forward big enough for two threads; its sum, and the child's thread facts."""
    rng = np.random.default_rng(0)
    T, B, I, H = 30, 64, 4, 128
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    w_ih = (0.1 * rng.standard_normal((4 * H, I))).astype(np.float32)
    w_hh = (0.1 * rng.standard_normal((4 * H, H))).astype(np.float32)
    b = np.zeros(4 * H, np.float32)
    y, *_ = core.lstm_forward(x, None, None, w_ih, w_hh, b, b)
    return y.tobytes(), core.num_threads(), core.threads_source()


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
# Python 3.12+ warns that forking a process with threads may deadlock: the point here
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_runs_the_kernels_without_hanging_and_the_parent_goes_on():
    import multiprocessing

    before, dynamic = core.num_threads(), core.dynamic()
    try:
        fixed_threads(2)
        parent, _, _ = _forward_sum()  # the parent's OpenMP threads exist from here on
        with multiprocessing.get_context("fork").Pool(2) as pool:
            children = pool.map_async(_forward_sum, range(4)).get(timeout=60)
        for result, threads, source in children:
            assert result == parent  # bitwise, on one thread
            if core.build_info()["openmp"]:
                assert (threads, source) == (1, "fork")
        assert _forward_sum()[0] == parent
        assert core.num_threads() == 2 or not OPENMP
    finally:
        core.set_num_threads(before)
        core.set_dynamic(dynamic)
