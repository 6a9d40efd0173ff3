"""rnnkit: recurrent networks for time series on the CPU.

``rnnkit.core`` runs RNN and LSTM layers forward and backward through time in
C++; ``rnnkit.reference`` is the same in pure NumPy. On top of it:
``rnnkit.data`` (splits, scalers, windows), ``rnnkit.models`` (layers and a
sequence regressor), ``rnnkit.train`` (the training loop), ``rnnkit.baselines``
and ``rnnkit.metrics`` (honest comparisons), ``rnnkit.datasets`` (bundled WTI
prices and synthetic series), and :class:`Forecaster`, which ties them together.
``rnnkit.inspect`` (gates), ``rnnkit.plot``, ``rnnkit.experiments`` and
``rnnkit.sklearn`` are imported when first used.
"""

import importlib

from . import _threadpool, baselines, core, data, datasets, metrics, models, reference, train
from ._config import show_config
from .core import num_threads, set_num_threads
from .forecaster import Forecaster, ThinDataWarning
from .io import load, save
from .sweeps import fit_many, rank, sweep

_threadpool.register()  # threadpoolctl, when installed, sees and limits the kernels' threads

# Imported on first use: they bring matplotlib or scikit-learn, which ``import rnnkit``
# should not pay for.
_LAZY = ("experiments", "inspect", "plot", "sklearn")


def __getattr__(name):
    if name in _LAZY:
        try:
            return importlib.import_module(f".{name}", __name__)
        except ImportError as err:
            # an AttributeError, so that hasattr, help() and autodoc carry on without it
            raise AttributeError(f"rnnkit.{name} is unavailable: {err}") from err
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])


__version__: str = core.build_info()["version"]

__all__ = [
    "Forecaster",
    "ThinDataWarning",
    "__version__",
    "baselines",
    "core",
    "data",
    "datasets",
    "fit_many",
    "load",
    "metrics",
    "models",
    "num_threads",
    "rank",
    "reference",
    "save",
    "set_num_threads",
    "show_config",
    "sweep",
    "train",
]
