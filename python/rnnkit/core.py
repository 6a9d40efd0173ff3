"""The compiled kernels: RNN, LSTM and GRU layers forward and backward through time.

Sequences are time-major ``(T, B, features)`` and weights follow PyTorch's
layout (``w_ih (G*H, I)``, ``w_hh (G*H, H)``, biases ``(G*H,)``; G = 1 for the
RNN, 4 for the LSTM with gates i, f, g, o, 3 for the GRU with gates r, z, n). All arrays of one call are float32
or all float64 and the outputs have that dtype. An input that is not
C-contiguous is copied first; no input is ever modified. Every kernel releases
the GIL while it computes, so Python threads can run kernels side by side
(``Inference`` for a call of more than about 100,000 multiply-adds: a shorter one
costs less than handing the GIL over).

The optimizers' updates are here too (``adam_step``, ``sgd_step``, ``rmsprop_step`` and
``sum_of_squares`` for the gradient norm): one pass over every parameter array, in
place, as ``rnnkit.train``'s optimizers use them.

``Inference`` is a trained network (stacked layers and a linear head) compiled for a
batch of one: a window's forecast or one step of a carried state in a few microseconds,
for live forecasts (``SequenceRegressor.inference()`` builds one).

``rnnkit.reference`` holds the same functions in pure NumPy.
"""

try:
    from ._core import (
        Inference,
        adam_step,
        build_info,
        dynamic,
        gru_backward,
        gru_forward,
        lstm_backward,
        lstm_forward,
        num_threads,
        rmsprop_step,
        rnn_backward,
        rnn_forward,
        set_dynamic,
        set_simd_path,
        sgd_step,
        simd_path,
        sum_of_squares,
        supported_simd_paths,
    )
except ImportError as err:  # pragma: no cover - only without a built extension
    raise ImportError(
        "rnnkit's compiled core (rnnkit._core) could not be imported. Build and install the "
        "package from the repository root with `pip install .` (a C++17 compiler is needed); "
        "importing from the source tree without installing does not work."
    ) from err
import functools
import re

from . import _core, _threads


def _short_call_errors(function):
    """``function`` with pybind11's error for a call it cannot match (a misspelled
    keyword, a missing argument) shortened to the signature and the keywords given:
    pybind11's own message prints every array passed, thousands of lines."""

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except TypeError as err:
            message = str(err)
            if "incompatible function arguments" not in message:
                raise
            found = re.search(r"1\. \((.*?)\) ->", message)
            signature = found[1].replace(": object", "") if found else "?"
            raise TypeError(
                f"{function.__name__}: takes ({signature}); got {len(args)} positional "
                f"argument(s) and the keywords {sorted(kwargs) or 'none'}"
            ) from None

    return call


(lstm_forward, lstm_backward, gru_forward, gru_backward, rnn_forward, rnn_backward) = map(
    _short_call_errors,
    (lstm_forward, lstm_backward, gru_forward, gru_backward, rnn_forward, rnn_backward),
)


def set_num_threads(n):
    """Set the threads the kernels use, for every Python thread (no effect without OpenMP).

    rnnkit starts with the cores this process may run on (its CPU affinity, capped by a
    cgroup CPU quota), or ``RNNKIT_NUM_THREADS``, or ``OMP_NUM_THREADS``;
    :func:`threads_source` says which.
    """
    global _threads_source
    _core.set_num_threads(n)
    _threads_source = "set_num_threads()"


def threads_source():
    """Where :func:`num_threads` came from: "set_num_threads()", a variable's name
    ("RNNKIT_NUM_THREADS", "OMP_NUM_THREADS"), "cgroup CPU quota", "CPU affinity", or
    "fork" in a child of fork() whose parent's kernels had started threads (OpenMP
    cannot start threads there, so the child's kernels run on one)."""
    return "fork" if _core._serial_after_fork() else _threads_source


_default, _threads_source = _threads.default_threads()
_core.set_num_threads(_default)

__all__ = [
    "Inference",
    "adam_step",
    "build_info",
    "dynamic",
    "gru_backward",
    "gru_forward",
    "lstm_backward",
    "lstm_forward",
    "num_threads",
    "rmsprop_step",
    "rnn_backward",
    "rnn_forward",
    "set_dynamic",
    "set_num_threads",
    "set_simd_path",
    "sgd_step",
    "simd_path",
    "sum_of_squares",
    "supported_simd_paths",
    "threads_source",
]
