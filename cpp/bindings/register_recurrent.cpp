// rnnkit._core's recurrent layers: the RNN, the LSTM and the GRU, forward and backward
// through time. Each entry point checks its arguments with the Checker and
// dispatches on the dtype of x to one body for float32 and one for float64.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "checks.hpp"
#include "register.hpp"
#include "rnnkit/gru.hpp"
#include "rnnkit/lstm.hpp"
#include "rnnkit/rnn.hpp"

namespace rnnkit::bindings {
namespace {

// ---------------------------------------------------------------- RNN

template <class Real>
py::tuple rnn_forward_typed(const Checker& check, py::handle x, py::handle h0, py::handle w_ih,
                            py::handle w_hh, py::handle b_ih, py::handle b_hh,
                            py::handle nonlinearity, py::handle keep) {
  const auto [T, B, I] = check.sequence<Real>(x, "x");
  const index_t H = check.hidden_size<Real>(w_hh, "w_hh", 1);
  check.expect_optional<Real>(h0, "h0", "(B, H)", {B, H});
  check.expect<Real>(w_ih, "w_ih", "(H, I)", {H, I});
  check.expect<Real>(b_ih, "b_ih", "(H,)", {H});
  check.expect<Real>(b_hh, "b_hh", "(H,)", {H});
  const auto act = nonlinearity_of(check, nonlinearity);
  const Keep kept = keep_of(check, keep);
  if (kept != Keep::state) check.fits<Real>("y (T, B, H)", {T, B, H});

  const Input<Real> x_(x), h0_(h0), w_ih_(w_ih), w_hh_(w_hh), b_ih_(b_ih), b_hh_(b_hh);
  OptionalOutput<Real> y(kept != Keep::state, {T, B, H});
  auto h_n = output<Real>({B, H});
  {
    py::gil_scoped_release nogil;
    rnnkit::rnn_forward(y.data(), h_n.mutable_data(), x_.data(), h0_.data(), w_ih_.data(),
                        w_hh_.data(), b_ih_.data(), b_hh_.data(), T, B, I, H, act);
  }
  return py::make_tuple(y.object(), h_n);
}

template <class Real>
py::tuple rnn_backward_typed(const Checker& check, py::handle x, py::handle h0, py::handle w_ih,
                             py::handle w_hh, py::handle y, py::handle dy, py::handle dh_n,
                             py::handle nonlinearity) {
  const auto [T, B, I] = check.sequence<Real>(x, "x");
  const index_t H = check.hidden_size<Real>(w_hh, "w_hh", 1);
  check.expect_optional<Real>(h0, "h0", "(B, H)", {B, H});
  check.expect<Real>(w_ih, "w_ih", "(H, I)", {H, I});
  check.expect<Real>(y, "y", "(T, B, H)", {T, B, H});
  check.expect_optional<Real>(dy, "dy", "(T, B, H)", {T, B, H});
  check.expect_optional<Real>(dh_n, "dh_n", "(B, H)", {B, H});
  const auto act = nonlinearity_of(check, nonlinearity);
  check.fits<Real>("y (T, B, H)", {T, B, H});

  const Input<Real> x_(x), h0_(h0), w_ih_(w_ih), w_hh_(w_hh), y_(y), dy_(dy), dh_n_(dh_n);
  auto dx = output<Real>({T, B, I});
  auto dh0 = output<Real>({B, H});
  auto dw_ih = output<Real>({H, I});
  auto dw_hh = output<Real>({H, H});
  auto db_ih = output<Real>({H});
  auto db_hh = output<Real>({H});
  {
    py::gil_scoped_release nogil;
    rnnkit::rnn_backward(dx.mutable_data(), dh0.mutable_data(), dw_ih.mutable_data(),
                         dw_hh.mutable_data(), db_ih.mutable_data(), db_hh.mutable_data(),
                         y_.data(), x_.data(), h0_.data(), w_ih_.data(), w_hh_.data(), dy_.data(),
                         dh_n_.data(), T, B, I, H, act);
  }
  return py::make_tuple(dx, dh0, dw_ih, dw_hh, db_ih, db_hh);
}

py::tuple rnn_forward(py::handle x, py::handle h0, py::handle w_ih, py::handle w_hh,
                      py::handle b_ih, py::handle b_hh, py::handle nonlinearity, py::handle keep) {
  const Checker check("rnn_forward");
  return check.is_float32(x, "x")
             ? rnn_forward_typed<float>(check, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, keep)
             : rnn_forward_typed<double>(check, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, keep);
}

py::tuple rnn_backward(py::handle x, py::handle h0, py::handle w_ih, py::handle w_hh, py::handle y,
                       py::handle dy, py::handle dh_n, py::handle nonlinearity) {
  const Checker check("rnn_backward");
  return check.is_float32(x, "x")
             ? rnn_backward_typed<float>(check, x, h0, w_ih, w_hh, y, dy, dh_n, nonlinearity)
             : rnn_backward_typed<double>(check, x, h0, w_ih, w_hh, y, dy, dh_n, nonlinearity);
}

// ---------------------------------------------------------------- LSTM

template <class Real>
py::tuple lstm_forward_typed(const Checker& check, py::handle x, py::handle h0, py::handle c0,
                             py::handle w_ih, py::handle w_hh, py::handle b_ih, py::handle b_hh,
                             py::handle variant, py::handle keep) {
  const auto [T, B, I] = check.sequence<Real>(x, "x");
  const index_t H = check.hidden_size<Real>(w_hh, "w_hh", 4);
  check.expect_optional<Real>(h0, "h0", "(B, H)", {B, H});
  check.expect_optional<Real>(c0, "c0", "(B, H)", {B, H});
  check.expect<Real>(w_ih, "w_ih", "(4*H, I)", {4 * H, I});
  check.expect<Real>(b_ih, "b_ih", "(4*H,)", {4 * H});
  check.expect<Real>(b_hh, "b_hh", "(4*H,)", {4 * H});
  const auto kind = variant_of(check, variant);
  const Keep kept = keep_of(check, keep);
  if (kept == Keep::all) check.fits<Real>("gates (T, B, 4*H)", {T, B, 4 * H});
  if (kept == Keep::outputs) check.fits<Real>("y (T, B, H)", {T, B, H});

  const Input<Real> x_(x), h0_(h0), c0_(c0), w_ih_(w_ih), w_hh_(w_hh), b_ih_(b_ih), b_hh_(b_hh);
  OptionalOutput<Real> y(kept != Keep::state, {T, B, H});
  auto h_n = output<Real>({B, H});
  auto c_n = output<Real>({B, H});
  OptionalOutput<Real> gates(kept == Keep::all, {T, B, 4 * H});
  OptionalOutput<Real> cells(kept == Keep::all, {T, B, H});
  {
    py::gil_scoped_release nogil;
    rnnkit::lstm_forward(y.data(), h_n.mutable_data(), c_n.mutable_data(), gates.data(),
                         cells.data(), x_.data(), h0_.data(), c0_.data(), w_ih_.data(),
                         w_hh_.data(), b_ih_.data(), b_hh_.data(), T, B, I, H, kind);
  }
  return py::make_tuple(y.object(), h_n, c_n, gates.object(), cells.object());
}

template <class Real>
py::tuple lstm_backward_typed(const Checker& check, py::handle x, py::handle h0, py::handle c0,
                              py::handle w_ih, py::handle w_hh, py::handle y, py::handle gates,
                              py::handle cells, py::handle dy, py::handle dh_n, py::handle dc_n,
                              py::handle variant) {
  const auto [T, B, I] = check.sequence<Real>(x, "x");
  const index_t H = check.hidden_size<Real>(w_hh, "w_hh", 4);
  check.expect_optional<Real>(h0, "h0", "(B, H)", {B, H});
  check.expect_optional<Real>(c0, "c0", "(B, H)", {B, H});
  check.expect<Real>(w_ih, "w_ih", "(4*H, I)", {4 * H, I});
  check.expect<Real>(y, "y", "(T, B, H)", {T, B, H});
  check.expect<Real>(gates, "gates", "(T, B, 4*H)", {T, B, 4 * H});
  check.expect<Real>(cells, "cells", "(T, B, H)", {T, B, H});
  check.expect_optional<Real>(dy, "dy", "(T, B, H)", {T, B, H});
  check.expect_optional<Real>(dh_n, "dh_n", "(B, H)", {B, H});
  check.expect_optional<Real>(dc_n, "dc_n", "(B, H)", {B, H});
  const auto kind = variant_of(check, variant);
  check.fits<Real>("gates (T, B, 4*H)", {T, B, 4 * H});

  const Input<Real> x_(x), h0_(h0), c0_(c0), w_ih_(w_ih), w_hh_(w_hh), y_(y), gates_(gates),
      cells_(cells), dy_(dy), dh_n_(dh_n), dc_n_(dc_n);
  auto dx = output<Real>({T, B, I});
  auto dh0 = output<Real>({B, H});
  auto dc0 = output<Real>({B, H});
  auto dw_ih = output<Real>({4 * H, I});
  auto dw_hh = output<Real>({4 * H, H});
  auto db_ih = output<Real>({4 * H});
  auto db_hh = output<Real>({4 * H});
  {
    py::gil_scoped_release nogil;
    rnnkit::lstm_backward(dx.mutable_data(), dh0.mutable_data(), dc0.mutable_data(),
                          dw_ih.mutable_data(), dw_hh.mutable_data(), db_ih.mutable_data(),
                          db_hh.mutable_data(), y_.data(), gates_.data(), cells_.data(), x_.data(),
                          h0_.data(), c0_.data(), w_ih_.data(), w_hh_.data(), dy_.data(),
                          dh_n_.data(), dc_n_.data(), T, B, I, H, kind);
  }
  return py::make_tuple(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh);
}

py::tuple lstm_forward(py::handle x, py::handle h0, py::handle c0, py::handle w_ih, py::handle w_hh,
                       py::handle b_ih, py::handle b_hh, py::handle variant, py::handle keep) {
  const Checker check("lstm_forward");
  return check.is_float32(x, "x")
             ? lstm_forward_typed<float>(check, x, h0, c0, w_ih, w_hh, b_ih, b_hh, variant, keep)
             : lstm_forward_typed<double>(check, x, h0, c0, w_ih, w_hh, b_ih, b_hh, variant, keep);
}

py::tuple lstm_backward(py::handle x, py::handle h0, py::handle c0, py::handle w_ih,
                        py::handle w_hh, py::handle y, py::handle gates, py::handle cells,
                        py::handle dy, py::handle dh_n, py::handle dc_n, py::handle variant) {
  const Checker check("lstm_backward");
  return check.is_float32(x, "x")
             ? lstm_backward_typed<float>(check, x, h0, c0, w_ih, w_hh, y, gates, cells, dy, dh_n,
                                          dc_n, variant)
             : lstm_backward_typed<double>(check, x, h0, c0, w_ih, w_hh, y, gates, cells, dy, dh_n,
                                           dc_n, variant);
}

// ---------------------------------------------------------------- GRU
// Its saved gates are (T, B, 4, H), r, z, n and hn: of another rank than the
// LSTM's (T, B, 4*H), so that neither backward takes the other's.

template <class Real>
py::tuple gru_forward_typed(const Checker& check, py::handle x, py::handle h0, py::handle w_ih,
                            py::handle w_hh, py::handle b_ih, py::handle b_hh, py::handle keep) {
  const auto [T, B, I] = check.sequence<Real>(x, "x");
  const index_t H = check.hidden_size<Real>(w_hh, "w_hh", 3);
  check.expect_optional<Real>(h0, "h0", "(B, H)", {B, H});
  check.expect<Real>(w_ih, "w_ih", "(3*H, I)", {3 * H, I});
  check.expect<Real>(b_ih, "b_ih", "(3*H,)", {3 * H});
  check.expect<Real>(b_hh, "b_hh", "(3*H,)", {3 * H});
  const Keep kept = keep_of(check, keep);
  if (kept == Keep::all) check.fits<Real>("gates (T, B, 4, H)", {T, B, 4, H});
  if (kept == Keep::outputs) check.fits<Real>("y (T, B, H)", {T, B, H});

  const Input<Real> x_(x), h0_(h0), w_ih_(w_ih), w_hh_(w_hh), b_ih_(b_ih), b_hh_(b_hh);
  OptionalOutput<Real> y(kept != Keep::state, {T, B, H});
  auto h_n = output<Real>({B, H});
  OptionalOutput<Real> gates(kept == Keep::all, {T, B, 4, H});
  {
    py::gil_scoped_release nogil;
    rnnkit::gru_forward(y.data(), h_n.mutable_data(), gates.data(), x_.data(), h0_.data(),
                        w_ih_.data(), w_hh_.data(), b_ih_.data(), b_hh_.data(), T, B, I, H);
  }
  return py::make_tuple(y.object(), h_n, gates.object());
}

template <class Real>
py::tuple gru_backward_typed(const Checker& check, py::handle x, py::handle h0, py::handle w_ih,
                             py::handle w_hh, py::handle y, py::handle gates, py::handle dy,
                             py::handle dh_n) {
  const auto [T, B, I] = check.sequence<Real>(x, "x");
  const index_t H = check.hidden_size<Real>(w_hh, "w_hh", 3);
  check.expect_optional<Real>(h0, "h0", "(B, H)", {B, H});
  check.expect<Real>(w_ih, "w_ih", "(3*H, I)", {3 * H, I});
  check.expect<Real>(y, "y", "(T, B, H)", {T, B, H});
  check.expect<Real>(gates, "gates", "(T, B, 4, H)", {T, B, 4, H});
  check.expect_optional<Real>(dy, "dy", "(T, B, H)", {T, B, H});
  check.expect_optional<Real>(dh_n, "dh_n", "(B, H)", {B, H});
  check.fits<Real>("gates (T, B, 4, H)", {T, B, 4, H});
  // the backward's two blocks of gradients, dgi and dgh
  check.fits<Real>("its workspace (2, T, B, 3*H)", {2, T, B, 3 * H});

  const Input<Real> x_(x), h0_(h0), w_ih_(w_ih), w_hh_(w_hh), y_(y), gates_(gates), dy_(dy),
      dh_n_(dh_n);
  auto dx = output<Real>({T, B, I});
  auto dh0 = output<Real>({B, H});
  auto dw_ih = output<Real>({3 * H, I});
  auto dw_hh = output<Real>({3 * H, H});
  auto db_ih = output<Real>({3 * H});
  auto db_hh = output<Real>({3 * H});
  {
    py::gil_scoped_release nogil;
    rnnkit::gru_backward(dx.mutable_data(), dh0.mutable_data(), dw_ih.mutable_data(),
                         dw_hh.mutable_data(), db_ih.mutable_data(), db_hh.mutable_data(),
                         y_.data(), gates_.data(), x_.data(), h0_.data(), w_ih_.data(),
                         w_hh_.data(), dy_.data(), dh_n_.data(), T, B, I, H);
  }
  return py::make_tuple(dx, dh0, dw_ih, dw_hh, db_ih, db_hh);
}

py::tuple gru_forward(py::handle x, py::handle h0, py::handle w_ih, py::handle w_hh,
                      py::handle b_ih, py::handle b_hh, py::handle keep) {
  const Checker check("gru_forward");
  return check.is_float32(x, "x")
             ? gru_forward_typed<float>(check, x, h0, w_ih, w_hh, b_ih, b_hh, keep)
             : gru_forward_typed<double>(check, x, h0, w_ih, w_hh, b_ih, b_hh, keep);
}

py::tuple gru_backward(py::handle x, py::handle h0, py::handle w_ih, py::handle w_hh, py::handle y,
                       py::handle gates, py::handle dy, py::handle dh_n) {
  const Checker check("gru_backward");
  return check.is_float32(x, "x")
             ? gru_backward_typed<float>(check, x, h0, w_ih, w_hh, y, gates, dy, dh_n)
             : gru_backward_typed<double>(check, x, h0, w_ih, w_hh, y, gates, dy, dh_n);
}

}  // namespace

void register_recurrent(py::module_& m) {
  m.def("rnn_forward", &rnn_forward, py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("b_ih"), py::arg("b_hh"), py::arg("nonlinearity") = "tanh", py::arg("keep") = "all",
        R"doc(Run a vanilla RNN layer over a whole sequence.

h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

Parameters
----------
x : ndarray (T, B, I)
h0 : ndarray (B, H) or None
    Initial hidden state; None means zeros.
w_ih : ndarray (H, I)
w_hh : ndarray (H, H)
b_ih, b_hh : ndarray (H,)
nonlinearity : {"tanh", "relu"}
keep : {"all", "outputs", "state"}
    What the call keeps: "all" (default) and "outputs" alike keep y, all the
    backward pass needs; "state" the final state alone, for inference: memory
    then grows with the batch, not with T times the batch.

Returns
-------
y : ndarray (T, B, H), or None for keep="state"
    Hidden state after every step.
h_n : ndarray (B, H)
    Final hidden state (a copy of y[-1]).
)doc");

  m.def("rnn_backward", &rnn_backward, py::arg("x"), py::arg("h0"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("y"), py::arg("dy"), py::arg("dh_n"),
        py::arg("nonlinearity") = "tanh",
        R"doc(Backpropagate through time for rnn_forward.

Parameters
----------
x, h0, w_ih, w_hh, nonlinearity
    As given to rnn_forward.
y : ndarray (T, B, H)
    Output of rnn_forward (the activation's derivative is read off it).
dy : ndarray (T, B, H) or None
    dL/dy; None when the loss does not see the intermediate outputs.
dh_n : ndarray (B, H) or None
    dL/dh_n; None means zero.

Returns
-------
dx (T, B, I), dh0 (B, H), dw_ih (H, I), dw_hh (H, H), db_ih (H,), db_hh (H,)
    Gradients of the scalar loss L. dh0 is returned even when h0 was None;
    db_ih and db_hh are equal.
)doc");

  m.def("lstm_forward", &lstm_forward, py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("variant") = "vanilla",
        py::arg("keep") = "all",
        R"doc(Run an LSTM layer over a whole sequence (gate order i, f, g, o).

Parameters
----------
x : ndarray (T, B, I)
h0, c0 : ndarray (B, H) or None
    Initial hidden and cell states; None means zeros.
w_ih : ndarray (4*H, I)
w_hh : ndarray (4*H, H)
b_ih, b_hh : ndarray (4*H,)
variant : str
    "vanilla", or one of Greff et al.'s ("LSTM: A Search Space Odyssey", 2017),
    in any case: "nig" (no input gate, i = 1), "nfg" (no forget gate, f = 1),
    "nog" (no output gate, o = 1), "niaf" (no input activation: g is its
    pre-activation), "noaf" (no output activation: h = o * c), "cifg" (coupled
    input and forget gate: f = 1 - i). Every variant keeps the 4*H gate rows;
    the rows of a gate it does not use get exactly zero gradients.
keep : {"all", "outputs", "state"}
    What the call keeps: "all" (default) everything the backward pass needs;
    "outputs" y and the final state, the rest returned as None;
    "state" the final state alone. Inference keeps the least it needs:
    memory then grows with the batch, not with T times the batch.

Returns
-------
y : ndarray (T, B, H), or None for keep="state"
    Hidden state after every step.
h_n, c_n : ndarray (B, H)
    Final hidden and cell states.
gates : ndarray (T, B, 4*H), or None unless keep="all"
    Gates i, f, g, o after their activations (the values the variant used),
    saved for the backward pass.
cells : ndarray (T, B, H), or None unless keep="all"
    Cell states c_1 .. c_T, saved for the backward pass.
)doc");

  m.def("lstm_backward", &lstm_backward, py::arg("x"), py::arg("h0"), py::arg("c0"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("y"), py::arg("gates"), py::arg("cells"),
        py::arg("dy"), py::arg("dh_n"), py::arg("dc_n"), py::arg("variant") = "vanilla",
        R"doc(Backpropagate through time for lstm_forward.

Parameters
----------
x, h0, c0, w_ih, w_hh, variant
    As given to lstm_forward (gates saved by another variant's forward cannot be
    told apart by their shape: the variant must be the forward's).
y, gates, cells
    As returned by lstm_forward.
dy : ndarray (T, B, H) or None
    dL/dy; None when the loss does not see the intermediate outputs.
dh_n, dc_n : ndarray (B, H) or None
    dL/dh_n and dL/dc_n; None means zero.

Returns
-------
dx (T, B, I), dh0 (B, H), dc0 (B, H), dw_ih (4*H, I), dw_hh (4*H, H), db_ih (4*H,), db_hh (4*H,)
    Gradients of the scalar loss L. dh0 and dc0 are returned even when h0
    and c0 were None; db_ih and db_hh are equal.
)doc");

  m.def("gru_forward", &gru_forward, py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("b_ih"), py::arg("b_hh"), py::arg("keep") = "all",
        R"doc(Run a GRU layer over a whole sequence (gate order r, z, n), as torch.nn.GRU.

r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z alike,
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h.

Parameters
----------
x : ndarray (T, B, I)
h0 : ndarray (B, H) or None
    Initial hidden state; None means zeros.
w_ih : ndarray (3*H, I)
w_hh : ndarray (3*H, H)
b_ih, b_hh : ndarray (3*H,)
keep : {"all", "outputs", "state"}
    What the call keeps: "all" (default) everything the backward pass needs;
    "outputs" y and the final state, the rest returned as None;
    "state" the final state alone. Inference keeps the least it needs:
    memory then grows with the batch, not with T times the batch.

Returns
-------
y : ndarray (T, B, H), or None for keep="state"
    Hidden state after every step.
h_n : ndarray (B, H)
    Final hidden state (a copy of y[-1]).
gates : ndarray (T, B, 4, H), or None unless keep="all"
    gates[:, :, 0], [:, :, 1], [:, :, 2]: the reset gate r, the update gate z
    and the candidate n, after their activations; gates[:, :, 3]: W_hn h + b_hn,
    which the backward pass needs too.
)doc");

  m.def("gru_backward", &gru_backward, py::arg("x"), py::arg("h0"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("y"), py::arg("gates"), py::arg("dy"), py::arg("dh_n"),
        R"doc(Backpropagate through time for gru_forward.

Parameters
----------
x, h0, w_ih, w_hh
    As given to gru_forward.
y, gates
    As returned by gru_forward.
dy : ndarray (T, B, H) or None
    dL/dy; None when the loss does not see the intermediate outputs.
dh_n : ndarray (B, H) or None
    dL/dh_n; None means zero.

Returns
-------
dx (T, B, I), dh0 (B, H), dw_ih (3*H, I), dw_hh (3*H, H), db_ih (3*H,), db_hh (3*H,)
    Gradients of the scalar loss L. dh0 is returned even when h0 was None.
    db_hh differs from db_ih in n's rows (r scales the recurrent part).
)doc");
}

}  // namespace rnnkit::bindings
