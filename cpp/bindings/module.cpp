// rnnkit._core. The bindings are the only C++ that knows Python: checks.hpp
// holds what every area shares, and each register_*.cpp binds one area.
#include <pybind11/pybind11.h>

#include "register.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() =
      "rnnkit's compiled core: RNN, GRU and LSTM layers forward and backward through time,\n"
      "the optimizers' updates, and Inference, a trained network for a batch of one.\n\n"
      "Sequences are time-major (T, B, features); weights follow PyTorch's layout.\n"
      "All arrays of a call are float32 or all float64; outputs have that dtype.\n"
      "Inputs that are not C-contiguous are copied; inputs are never modified.\n"
      "Every kernel releases the GIL while it computes (Inference: a call of more than\n"
      "about 100,000 multiply-adds; a shorter one costs less than the handover).";
  m.attr("__version__") = RNNKIT_VERSION;

  rnnkit::bindings::register_recurrent(m);
  rnnkit::bindings::register_inference(m);
  rnnkit::bindings::register_optim(m);
  rnnkit::bindings::register_runtime(m);
}
