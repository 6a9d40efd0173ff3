"""The lessons behind recurrent networks, as experiments you can run and look at.

Each function trains small models, returns its numbers and a picture in a
:class:`Result`, and states in its caption what the numbers say:

- :func:`adding_problem`, :func:`memory_span`: how far back an RNN and an LSTM
  can remember (the adding problem of Hochreiter & Schmidhuber, 1997);
- :func:`gradient_flow`, :func:`fading_gradients`: how the gradient of the last
  output fades with the distance to the input, before and after training;
- :func:`event_memory`: an LSTM's forget gate and cell state holding a one-off
  event while an RNN's hidden state lets it go (``rnnkit.inspect.gates`` shows
  the gates of any model, :func:`gates_at_work` draws them as heatmaps);
- :func:`cost`: parameters and training time of an LSTM and a GRU against an RNN;
- :func:`gate_ablation`: six LSTM variants of Greff et al. (2017), the GRU and the
  RNN on the adding problem and on volatility, against Greff et al.'s ranking;
- :func:`lookback_sweep`: validation error and training time against the
  look-back length, on the bundled WTI series;
- :func:`volatility`: next-day volatility from an LSTM against EWMA, a rolling
  mean and, with the optional ``arch`` package, GARCH(1,1);
- :func:`long_memory`: a stateful LSTM (its state carried from row to row, trained by
  truncated BPTT) against a windowed one, on a level that flips every 100 steps seen
  through a lookback of 30.

``rnnkit experiments`` runs them all into one report (:mod:`.runner`). pandas
and matplotlib are needed: ``pip install 'rnnkit[plot]'``.
"""

from ._result import Result
from .cost import cost
from .event_memory import event_memory, event_series
from .fading_gradients import fading_gradients, gradient_flow
from .gate_ablation import gate_ablation
from .gates import gates_at_work
from .long_memory import flipping_level, long_memory
from .lookback import lookback_sweep
from .memory_span import adding_problem, adding_problem_batch, memory_span
from .volatility import volatility

__all__ = [
    "Result",
    "adding_problem",
    "adding_problem_batch",
    "cost",
    "event_memory",
    "event_series",
    "fading_gradients",
    "flipping_level",
    "gate_ablation",
    "gates_at_work",
    "gradient_flow",
    "long_memory",
    "lookback_sweep",
    "memory_span",
    "volatility",
]
