"""rnnkit: recurrent networks for time series on the CPU.

``rnnkit.core`` runs RNN and LSTM layers forward and backward through time in
C++; ``rnnkit.reference`` is the same in pure NumPy. On top of it:
``rnnkit.data`` (splits, scalers, windows), ``rnnkit.models`` (layers and a
sequence regressor), ``rnnkit.train`` (the training loop), ``rnnkit.baselines``
and ``rnnkit.metrics`` (honest comparisons), ``rnnkit.datasets`` (bundled WTI
prices and synthetic series), and :class:`Forecaster`, which ties them together.
"""

from . import baselines, core, data, datasets, metrics, models, reference, train
from ._config import show_config
from .core import num_threads, set_num_threads
from .forecaster import Forecaster
from .io import load, save

__version__: str = core.build_info()["version"]

__all__ = [
    "Forecaster",
    "__version__",
    "baselines",
    "core",
    "data",
    "datasets",
    "load",
    "metrics",
    "models",
    "num_threads",
    "reference",
    "save",
    "set_num_threads",
    "show_config",
    "train",
]
