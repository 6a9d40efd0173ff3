"""rnnkit: recurrent networks for time series on the CPU.

``rnnkit.core`` runs RNN and LSTM layers forward and backward through time in
C++; ``rnnkit.reference`` is the same in pure NumPy.
"""

from . import core, reference
from ._config import show_config
from .core import num_threads, set_num_threads

__version__: str = core.build_info()["version"]

__all__ = ["__version__", "core", "num_threads", "reference", "set_num_threads", "show_config"]
