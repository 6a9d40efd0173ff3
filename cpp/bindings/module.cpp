// rnnkit._core: the only file that knows Python.
//
// Every argument is checked (type, dtype, rank, every dimension against the
// others, sizes that would overflow) with the GIL held and before any work;
// then inputs that are not C-contiguous are copied (never modified), outputs
// are allocated here, and the GIL is released for the kernel alone.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "rnnkit/gemm.hpp"
#include "rnnkit/lstm.hpp"
#include "rnnkit/optim.hpp"
#include "rnnkit/parallel.hpp"
#include "rnnkit/rnn.hpp"

namespace py = pybind11;
using rnnkit::index_t;

namespace {

template <class Real>
using Array = py::array_t<Real, py::array::c_style>;

std::string shape_string(const index_t* dims, std::size_t rank) {
  std::string s = "(";
  for (std::size_t d = 0; d < rank; ++d) s += (d ? ", " : "") + std::to_string(dims[d]);
  return s + (rank == 1 ? ",)" : ")");
}

std::string shape_string(const std::vector<index_t>& dims) {
  return shape_string(dims.data(), dims.size());
}

std::string shape_string(const py::array& a) {
  const std::vector<index_t> dims(a.shape(), a.shape() + a.ndim());
  return shape_string(dims);
}

std::string type_name(py::handle obj) {
  return py::type::of(obj).attr("__name__").cast<std::string>();
}

std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

template <class Real>
bool has_dtype(const py::array& a) {
  return py::isinstance<py::array_t<Real>>(a);
}

template <class Real>
const char* real_name() {
  return sizeof(Real) == 4 ? "float32" : "float64";
}

// Checks the arguments of one call; every message starts with the function's
// name and names the argument, what was expected and what came.
class Checker {
 public:
  explicit Checker(const char* fn) : fn_(fn) {}

  [[noreturn]] void type_error(const std::string& what) const {
    throw py::type_error(std::string(fn_) + ": " + what);
  }
  [[noreturn]] void value_error(const std::string& what) const {
    throw py::value_error(std::string(fn_) + ": " + what);
  }

  py::array ndarray(py::handle obj, const char* name) const {
    if (!py::isinstance<py::array>(obj))
      type_error(std::string(name) + " must be a numpy.ndarray, got " +
                 (obj.is_none() ? std::string("None") : type_name(obj)));
    return py::reinterpret_borrow<py::array>(obj);
  }

  // The first array fixes the call's float type.
  bool is_float32(py::handle obj, const char* name) const {
    const py::array a = ndarray(obj, name);
    if (has_dtype<float>(a)) return true;
    if (has_dtype<double>(a)) return false;
    type_error(std::string(name) + " must have dtype float32 or float64, got " + dtype_name(a));
  }

  // x (T, B, I): the sequence whose sizes the other arguments must match.
  template <class Real>
  std::array<index_t, 3> sequence(py::handle obj, const char* name) const {
    const py::array a = typed<Real>(obj, name);
    if (a.ndim() != 3)
      value_error(std::string(name) + " must be a 3-D array (T, B, I), got a " +
                  std::to_string(a.ndim()) + "-D array of shape " + shape_string(a));
    const std::array<index_t, 3> dims{a.shape(0), a.shape(1), a.shape(2)};
    if (dims[0] < 1 || dims[1] < 1 || dims[2] < 1)
      value_error(std::string(name) +
                  " must have at least one step, one sequence and one feature (T, B, I >= 1), "
                  "got shape " +
                  shape_string(a));
    return dims;
  }

  // w_hh (G*H, H): its columns give the hidden size H.
  template <class Real>
  index_t hidden_size(py::handle obj, const char* name, index_t gates) const {
    const py::array a = typed<Real>(obj, name);
    const std::string doc = gates == 1 ? "(H, H)" : "(" + std::to_string(gates) + "*H, H)";
    if (a.ndim() != 2)
      value_error(std::string(name) + " must be a 2-D array " + doc + ", got a " +
                  std::to_string(a.ndim()) + "-D array of shape " + shape_string(a));
    const index_t H = a.shape(1);
    if (H < 1)
      value_error(std::string(name) + " must have at least one column (H >= 1), got shape " +
                  shape_string(a));
    if (H > std::numeric_limits<index_t>::max() / gates || a.shape(0) != gates * H)
      value_error(std::string(name) + " must have shape " + doc + " with H = " + std::to_string(H) +
                  " from its columns, i.e. " + shape_string(std::vector<index_t>{gates * H, H}) +
                  ", got " + shape_string(a));
    return H;
  }

  // An array whose every dimension is known; `doc` spells the shape in letters.
  template <class Real>
  void expect(py::handle obj, const char* name, const char* doc,
              const std::vector<index_t>& dims) const {
    const py::array a = typed<Real>(obj, name);
    const auto rank = static_cast<std::size_t>(a.ndim());
    if (rank != dims.size())
      value_error(std::string(name) + " must be a " + std::to_string(dims.size()) +
                  "-D array of shape " + doc + " = " + shape_string(dims) + ", got a " +
                  std::to_string(rank) + "-D array of shape " + shape_string(a));
    for (std::size_t d = 0; d < rank; ++d)
      if (a.shape(static_cast<py::ssize_t>(d)) != dims[d])
        value_error(std::string(name) + " must have shape " + doc + " = " + shape_string(dims) +
                    ", got " + shape_string(a));
  }

  // The same, or None.
  template <class Real>
  void expect_optional(py::handle obj, const char* name, const char* doc,
                       const std::vector<index_t>& dims) const {
    if (!obj.is_none()) expect<Real>(obj, name, doc, dims);
  }

  // The product of `dims` elements of Real must be addressable.
  template <class Real>
  void fits(const char* what, const std::vector<index_t>& dims) const {
    index_t limit = std::numeric_limits<index_t>::max() / static_cast<index_t>(sizeof(Real));
    for (const index_t d : dims) {
      if (d > limit)
        value_error(std::string("sizes too large: ") + what + " = " + shape_string(dims) +
                    " would overflow the element count");
      limit /= d;
    }
  }

 private:
  template <class Real>
  py::array typed(py::handle obj, const char* name) const {
    const py::array a = ndarray(obj, name);
    if (!has_dtype<Real>(a))
      type_error(std::string(name) + " has dtype " + dtype_name(a) + " but x has " +
                 real_name<Real>() + ": all arrays must share one float dtype");
    return a;
  }

  const char* fn_;
};

// A checked input as a C-contiguous array (copied when it was not), or
// nothing for None.
template <class Real>
class Input {
 public:
  explicit Input(py::handle obj) {
    if (!obj.is_none()) {
      Array<Real> array(py::reinterpret_borrow<py::object>(obj));
      data_ = array.data();
      owner_ = std::move(array);
    }
  }
  const Real* data() const { return data_; }

 private:
  py::object owner_;  // keeps a copy alive for the call
  const Real* data_ = nullptr;
};

template <class Real>
Array<Real> output(std::initializer_list<index_t> dims) {
  return Array<Real>(std::vector<py::ssize_t>(dims));
}

rnnkit::Nonlinearity nonlinearity_of(const Checker& check, py::handle obj) {
  if (py::isinstance<py::str>(obj)) {
    const auto name = obj.cast<std::string>();
    if (name == "tanh") return rnnkit::Nonlinearity::tanh;
    if (name == "relu") return rnnkit::Nonlinearity::relu;
    check.value_error("nonlinearity must be 'tanh' or 'relu', got '" + name + "'");
  }
  check.type_error("nonlinearity must be a str ('tanh' or 'relu'), got " + type_name(obj));
}

// ---------------------------------------------------------------- RNN

template <class Real>
py::tuple rnn_forward_typed(const Checker& check, py::handle x, py::handle h0, py::handle w_ih,
                            py::handle w_hh, py::handle b_ih, py::handle b_hh,
                            py::handle nonlinearity) {
  const auto [T, B, I] = check.sequence<Real>(x, "x");
  const index_t H = check.hidden_size<Real>(w_hh, "w_hh", 1);
  check.expect_optional<Real>(h0, "h0", "(B, H)", {B, H});
  check.expect<Real>(w_ih, "w_ih", "(H, I)", {H, I});
  check.expect<Real>(b_ih, "b_ih", "(H,)", {H});
  check.expect<Real>(b_hh, "b_hh", "(H,)", {H});
  const auto act = nonlinearity_of(check, nonlinearity);
  check.fits<Real>("y (T, B, H)", {T, B, H});

  const Input<Real> x_(x), h0_(h0), w_ih_(w_ih), w_hh_(w_hh), b_ih_(b_ih), b_hh_(b_hh);
  auto y = output<Real>({T, B, H});
  auto h_n = output<Real>({B, H});
  {
    py::gil_scoped_release nogil;
    rnnkit::rnn_forward(y.mutable_data(), h_n.mutable_data(), x_.data(), h0_.data(), w_ih_.data(),
                        w_hh_.data(), b_ih_.data(), b_hh_.data(), T, B, I, H, act);
  }
  return py::make_tuple(y, h_n);
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
                      py::handle b_ih, py::handle b_hh, py::handle nonlinearity) {
  const Checker check("rnn_forward");
  return check.is_float32(x, "x")
             ? rnn_forward_typed<float>(check, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity)
             : rnn_forward_typed<double>(check, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity);
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
                             py::handle w_ih, py::handle w_hh, py::handle b_ih, py::handle b_hh) {
  const auto [T, B, I] = check.sequence<Real>(x, "x");
  const index_t H = check.hidden_size<Real>(w_hh, "w_hh", 4);
  check.expect_optional<Real>(h0, "h0", "(B, H)", {B, H});
  check.expect_optional<Real>(c0, "c0", "(B, H)", {B, H});
  check.expect<Real>(w_ih, "w_ih", "(4*H, I)", {4 * H, I});
  check.expect<Real>(b_ih, "b_ih", "(4*H,)", {4 * H});
  check.expect<Real>(b_hh, "b_hh", "(4*H,)", {4 * H});
  check.fits<Real>("gates (T, B, 4*H)", {T, B, 4 * H});

  const Input<Real> x_(x), h0_(h0), c0_(c0), w_ih_(w_ih), w_hh_(w_hh), b_ih_(b_ih), b_hh_(b_hh);
  auto y = output<Real>({T, B, H});
  auto h_n = output<Real>({B, H});
  auto c_n = output<Real>({B, H});
  auto gates = output<Real>({T, B, 4 * H});
  auto cells = output<Real>({T, B, H});
  {
    py::gil_scoped_release nogil;
    rnnkit::lstm_forward(y.mutable_data(), h_n.mutable_data(), c_n.mutable_data(),
                         gates.mutable_data(), cells.mutable_data(), x_.data(), h0_.data(),
                         c0_.data(), w_ih_.data(), w_hh_.data(), b_ih_.data(), b_hh_.data(), T, B,
                         I, H);
  }
  return py::make_tuple(y, h_n, c_n, gates, cells);
}

template <class Real>
py::tuple lstm_backward_typed(const Checker& check, py::handle x, py::handle h0, py::handle c0,
                              py::handle w_ih, py::handle w_hh, py::handle y, py::handle gates,
                              py::handle cells, py::handle dy, py::handle dh_n, py::handle dc_n) {
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
                          dh_n_.data(), dc_n_.data(), T, B, I, H);
  }
  return py::make_tuple(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh);
}

py::tuple lstm_forward(py::handle x, py::handle h0, py::handle c0, py::handle w_ih, py::handle w_hh,
                       py::handle b_ih, py::handle b_hh) {
  const Checker check("lstm_forward");
  return check.is_float32(x, "x")
             ? lstm_forward_typed<float>(check, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
             : lstm_forward_typed<double>(check, x, h0, c0, w_ih, w_hh, b_ih, b_hh);
}

py::tuple lstm_backward(py::handle x, py::handle h0, py::handle c0, py::handle w_ih,
                        py::handle w_hh, py::handle y, py::handle gates, py::handle cells,
                        py::handle dy, py::handle dh_n, py::handle dc_n) {
  const Checker check("lstm_backward");
  return check.is_float32(x, "x") ? lstm_backward_typed<float>(check, x, h0, c0, w_ih, w_hh, y,
                                                               gates, cells, dy, dh_n, dc_n)
                                  : lstm_backward_typed<double>(check, x, h0, c0, w_ih, w_hh, y,
                                                                gates, cells, dy, dh_n, dc_n);
}

// ---------------------------------------------------------------- optimizers

// The arrays of one optimizer step, checked together before any is touched:
// lists of equal length; params[i] and every state list's [i] C-contiguous,
// writeable, of the dtype of params[0] and the shape of params[i]; grads[i]
// of that dtype and shape (copied when not C-contiguous, never written).
class StepArrays {
 public:
  // A state list given as None (allowed only when `optional`) reads as null.
  struct States {
    const char* name;
    py::handle list;
    bool optional;
  };

  StepArrays(const Checker& check, py::handle params, py::handle grads,
             const std::vector<States>& states)
      : check_(check) {
    params_ = list(params, "params");
    if (params_.empty()) check.value_error("params must hold at least one array");
    const py::array first = check.ndarray(params_[0], "params[0]");
    float32_ = has_dtype<float>(first);
    if (!float32_ && !has_dtype<double>(first))
      check.type_error("params[0] must have dtype float32 or float64, got " + dtype_name(first));
    const auto n = params_.size();
    grads_ = list(grads, "grads", n);
    for (const States& st : states)
      states_.push_back(st.optional && st.list.is_none() ? std::vector<py::object>()
                                                         : list(st.list, st.name, n));
    for (std::size_t i = 0; i < n; ++i) {
      const py::array p = updatable(params_[i], "params", i);
      const py::array g = check.ndarray(grads_[i], item("grads", i).c_str());
      same_kind(g, p, "grads", i);
      for (std::size_t k = 0; k < states_.size(); ++k)
        if (!states_[k].empty())
          same_kind(updatable(states_[k][i], states[k].name, i), p, states[k].name, i);
      sizes_.push_back(static_cast<index_t>(p.size()));
    }
  }

  bool float32() const { return float32_; }
  std::size_t size() const { return params_.size(); }
  index_t elements(std::size_t i) const { return sizes_[i]; }

  template <class Real>
  Real* param(std::size_t i) const {
    return mutable_data<Real>(params_[i]);
  }
  // state list k's array i, or null for a list given as None.
  template <class Real>
  Real* state(std::size_t k, std::size_t i) const {
    return states_[k].empty() ? nullptr : mutable_data<Real>(states_[k][i]);
  }
  // The gradients, C-contiguous; kept alive by the returned vector.
  template <class Real>
  std::vector<Array<Real>> gradients() const {
    std::vector<Array<Real>> out;
    for (const py::handle g : grads_) out.emplace_back(py::reinterpret_borrow<py::object>(g));
    return out;
  }

 private:
  static std::string item(const char* name, std::size_t i) {
    return std::string(name) + "[" + std::to_string(i) + "]";
  }

  std::vector<py::object> list(py::handle obj, const char* name, std::size_t n = 0) const {
    if (!py::isinstance<py::list>(obj) && !py::isinstance<py::tuple>(obj))
      check_.type_error(std::string(name) + " must be a list of numpy.ndarray, got " +
                        (obj.is_none() ? std::string("None") : type_name(obj)));
    std::vector<py::object> items;
    for (const py::handle item : py::reinterpret_borrow<py::sequence>(obj))
      items.push_back(py::reinterpret_borrow<py::object>(item));
    if (n != 0 && items.size() != n)
      check_.value_error(std::string(name) + " must hold one array per parameter (" +
                         std::to_string(n) + "), got " + std::to_string(items.size()));
    return items;
  }

  py::array updatable(py::handle obj, const char* name, std::size_t i) const {
    const std::string what = item(name, i);
    const py::array a = check_.ndarray(obj, what.c_str());
    if (!(a.flags() & py::array::c_style) || !a.writeable())
      check_.value_error(what + " is updated in place and must be a C-contiguous, writeable array");
    return a;
  }

  void same_kind(const py::array& a, const py::array& p, const char* name, std::size_t i) const {
    const std::string what = item(name, i);
    if (!a.dtype().is(p.dtype()))
      check_.type_error(what + " has dtype " + dtype_name(a) + " but params[0] has " +
                        dtype_name(p) + ": all arrays must share one float dtype");
    if (shape_string(a) != shape_string(p))
      check_.value_error(what + " must have the shape of params[" + std::to_string(i) + "], " +
                         shape_string(p) + ", got " + shape_string(a));
  }

  template <class Real>
  static Real* mutable_data(const py::object& obj) {
    return static_cast<Real*>(py::reinterpret_borrow<py::array>(obj).mutable_data());
  }

  const Checker& check_;
  std::vector<py::object> params_, grads_;
  std::vector<std::vector<py::object>> states_;
  std::vector<index_t> sizes_;
  bool float32_ = true;
};

// A finite hyperparameter in [low, high] (high excluded when open).
double setting(const Checker& check, double value, const char* name, double low,
               double high = INFINITY, bool open = false) {
  const bool ok = std::isfinite(value) && value >= low && (open ? value < high : value <= high);
  if (!ok)
    check.value_error(std::string(name) + " must be a finite number in [" +
                      py::str(py::float_(low)).cast<std::string>() + ", " +
                      py::str(py::float_(high)).cast<std::string>() + (open ? ")" : "]") +
                      ", got " + py::str(py::float_(value)).cast<std::string>());
  return value;
}

// Runs update(Real) for every parameter without the GIL.
template <class Update>
void for_each_parameter(const StepArrays& arrays, const Update& update) {
  if (arrays.float32()) {
    const auto grads = arrays.gradients<float>();
    py::gil_scoped_release nogil;
    for (std::size_t i = 0; i < arrays.size(); ++i) update(i, grads[i].data(), float{});
  } else {
    const auto grads = arrays.gradients<double>();
    py::gil_scoped_release nogil;
    for (std::size_t i = 0; i < arrays.size(); ++i) update(i, grads[i].data(), double{});
  }
}

void adam_step(py::handle params, py::handle grads, py::handle exp_avgs, py::handle exp_avg_sqs,
               double lr, double beta1, double beta2, double eps, double weight_decay,
               long long step, double grad_scale) {
  const Checker check("adam_step");
  const rnnkit::AdamSettings s{setting(check, lr, "lr", 0),
                               setting(check, beta1, "beta1", 0, 1, true),
                               setting(check, beta2, "beta2", 0, 1, true),
                               setting(check, eps, "eps", 0),
                               setting(check, weight_decay, "weight_decay", 0),
                               setting(check, grad_scale, "grad_scale", 0),
                               step};
  if (step < 1)
    check.value_error("step must be at least 1 (the first update), got " + std::to_string(step));
  const StepArrays arrays(check, params, grads,
                          {{"exp_avgs", exp_avgs, false}, {"exp_avg_sqs", exp_avg_sqs, false}});
  for_each_parameter(arrays, [&](std::size_t i, const auto* g, auto real) {
    using Real = decltype(real);
    rnnkit::adam_update(arrays.param<Real>(i), g, arrays.state<Real>(0, i),
                        arrays.state<Real>(1, i), arrays.elements(i), s);
  });
}

void sgd_step(py::handle params, py::handle grads, py::handle momentum_buffers, double lr,
              double momentum, bool nesterov, double weight_decay, double grad_scale) {
  const Checker check("sgd_step");
  const rnnkit::SgdSettings s{setting(check, lr, "lr", 0), setting(check, momentum, "momentum", 0),
                              setting(check, weight_decay, "weight_decay", 0),
                              setting(check, grad_scale, "grad_scale", 0), nesterov};
  const StepArrays arrays(check, params, grads,
                          {{"momentum_buffers", momentum_buffers, momentum == 0}});
  for_each_parameter(arrays, [&](std::size_t i, const auto* g, auto real) {
    using Real = decltype(real);
    rnnkit::sgd_update(arrays.param<Real>(i), g, arrays.state<Real>(0, i), arrays.elements(i), s);
  });
}

void rmsprop_step(py::handle params, py::handle grads, py::handle square_avgs,
                  py::handle momentum_buffers, double lr, double alpha, double eps, double momentum,
                  double weight_decay, double grad_scale) {
  const Checker check("rmsprop_step");
  const rnnkit::RmspropSettings s{setting(check, lr, "lr", 0),
                                  setting(check, alpha, "alpha", 0, 1),
                                  setting(check, eps, "eps", 0),
                                  setting(check, momentum, "momentum", 0),
                                  setting(check, weight_decay, "weight_decay", 0),
                                  setting(check, grad_scale, "grad_scale", 0)};
  const StepArrays arrays(
      check, params, grads,
      {{"square_avgs", square_avgs, false}, {"momentum_buffers", momentum_buffers, momentum == 0}});
  for_each_parameter(arrays, [&](std::size_t i, const auto* g, auto real) {
    using Real = decltype(real);
    rnnkit::rmsprop_update(arrays.param<Real>(i), g, arrays.state<Real>(0, i),
                           arrays.state<Real>(1, i), arrays.elements(i), s);
  });
}

double sum_of_squares(py::handle arrays) {
  const Checker check("sum_of_squares");
  if (!py::isinstance<py::list>(arrays) && !py::isinstance<py::tuple>(arrays))
    check.type_error("arrays must be a list of numpy.ndarray, got " + type_name(arrays));
  std::vector<py::array> inputs;
  std::size_t i = 0;
  for (const py::handle obj : py::reinterpret_borrow<py::sequence>(arrays)) {
    const std::string what = "arrays[" + std::to_string(i++) + "]";
    const py::array a = check.ndarray(obj, what.c_str());
    if (has_dtype<float>(a))
      inputs.push_back(Array<float>(py::reinterpret_borrow<py::object>(obj)));
    else if (has_dtype<double>(a))
      inputs.push_back(Array<double>(py::reinterpret_borrow<py::object>(obj)));
    else
      check.type_error(what + " must have dtype float32 or float64, got " + dtype_name(a));
  }
  std::vector<bool> is_float;
  for (const auto& a : inputs) is_float.push_back(has_dtype<float>(a));
  double total = 0;
  {
    py::gil_scoped_release nogil;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const auto n = static_cast<index_t>(inputs[k].size());
      total += is_float[k]
                   ? rnnkit::sum_of_squares(static_cast<const float*>(inputs[k].data()), n)
                   : rnnkit::sum_of_squares(static_cast<const double*>(inputs[k].data()), n);
    }
  }
  return total;
}

// ---------------------------------------------------------------- threads, build

void set_num_threads(py::handle n) {
  if (!py::isinstance<py::int_>(n) || py::isinstance<py::bool_>(n))
    throw py::type_error("set_num_threads: n must be an int, got " + type_name(n));
  const auto value = n.cast<long long>();
  if (value < 1 || value > 4096)
    throw py::value_error("set_num_threads: n must be between 1 and 4096, got " +
                          std::to_string(value));
  rnnkit::set_num_threads(static_cast<int>(value));
}

void set_simd_path(const std::string& name) {
  if (!rnnkit::set_simd_path(name.c_str())) {
    std::string supported;
    for (const char* path : rnnkit::supported_simd_paths())
      supported += (supported.empty() ? "'" : ", '") + std::string(path) + "'";
    throw py::value_error("set_simd_path: this CPU and build run " + supported + "; got '" + name +
                          "'");
  }
}

std::string compiler() {
#if defined(__clang__)
  return std::string("Clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("GCC ") + __VERSION__;
#elif defined(_MSC_VER)
  return "MSVC " + std::to_string(_MSC_FULL_VER);
#else
  return "unknown";
#endif
}

py::dict build_info() {
  py::dict info;
  info["version"] = RNNKIT_VERSION;
  info["compiler"] = compiler();
  info["build_type"] = RNNKIT_BUILD_TYPE;
  info["openmp"] = rnnkit::openmp_enabled();
#ifdef _OPENMP
  info["openmp_version"] = _OPENMP;
#else
  info["openmp_version"] = py::none();
#endif
  return info;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() =
      "rnnkit's compiled core: RNN and LSTM layers forward and backward through time.\n\n"
      "Sequences are time-major (T, B, features); weights follow PyTorch's layout.\n"
      "All arrays of a call are float32 or all float64; outputs have that dtype.\n"
      "Inputs that are not C-contiguous are copied; inputs are never modified.\n"
      "Every kernel releases the GIL while it computes.";
  m.attr("__version__") = RNNKIT_VERSION;

  m.def("rnn_forward", &rnn_forward, py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("b_ih"), py::arg("b_hh"), py::arg("nonlinearity") = "tanh",
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

Returns
-------
y : ndarray (T, B, H)
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
        py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"),
        R"doc(Run an LSTM layer over a whole sequence (gate order i, f, g, o).

Parameters
----------
x : ndarray (T, B, I)
h0, c0 : ndarray (B, H) or None
    Initial hidden and cell states; None means zeros.
w_ih : ndarray (4*H, I)
w_hh : ndarray (4*H, H)
b_ih, b_hh : ndarray (4*H,)

Returns
-------
y : ndarray (T, B, H)
    Hidden state after every step.
h_n, c_n : ndarray (B, H)
    Final hidden and cell states.
gates : ndarray (T, B, 4*H)
    Gates i, f, g, o after their activations, saved for the backward pass.
cells : ndarray (T, B, H)
    Cell states c_1 .. c_T, saved for the backward pass.
)doc");

  m.def("lstm_backward", &lstm_backward, py::arg("x"), py::arg("h0"), py::arg("c0"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("y"), py::arg("gates"), py::arg("cells"),
        py::arg("dy"), py::arg("dh_n"), py::arg("dc_n"),
        R"doc(Backpropagate through time for lstm_forward.

Parameters
----------
x, h0, c0, w_ih, w_hh
    As given to lstm_forward.
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

  m.def("adam_step", &adam_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
        py::arg("exp_avg_sqs"), py::kw_only(), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("step"), py::arg("grad_scale") = 1.0,
        R"doc(One Adam update of every parameter, in place, as torch.optim.Adam.

Parameters
----------
params, exp_avgs, exp_avg_sqs : list of ndarray
    Parameters and their first and second moments (zeros before the first
    step), updated in place: C-contiguous, writeable, one float dtype.
grads : list of ndarray
    Gradients, shaped like params.
lr, beta1, beta2, eps, weight_decay : float
step : int
    This update's number, 1 for the first (bias correction).
grad_scale : float
    Multiplies every gradient first (the clipping coefficient).
)doc");
  m.def("sgd_step", &sgd_step, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"),
        py::kw_only(), py::arg("lr"), py::arg("momentum"), py::arg("nesterov"),
        py::arg("weight_decay"), py::arg("grad_scale") = 1.0,
        R"doc(One SGD update of every parameter, in place, as torch.optim.SGD (no dampening).

momentum_buffers start as zeros and may be None when momentum is 0; the
other arguments are as for adam_step.
)doc");
  m.def(
      "rmsprop_step", &rmsprop_step, py::arg("params"), py::arg("grads"), py::arg("square_avgs"),
      py::arg("momentum_buffers"), py::kw_only(), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
      py::arg("momentum"), py::arg("weight_decay"), py::arg("grad_scale") = 1.0,
      R"doc(One RMSprop update of every parameter, in place, as torch.optim.RMSprop (not centered).

square_avgs and momentum_buffers start as zeros; momentum_buffers may be
None when momentum is 0. The other arguments are as for adam_step.
)doc");
  m.def("sum_of_squares", &sum_of_squares, py::arg("arrays"),
        "The sum of the squares of every element of every array, accumulated in float64 "
        "(the squared global gradient norm).");
  m.def("num_threads", &rnnkit::num_threads,
        "Threads the kernels use (always 1 in a build without OpenMP).");
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "Set the threads the kernels use, for every Python thread (no effect without OpenMP).");
  m.def("simd_path", &rnnkit::simd_path,
        "The instruction set of the matrix product: 'avx512', 'avx2' or 'portable'.\n\n"
        "The best this CPU runs, unless the environment variable RNNKIT_SIMD named a lower "
        "one when rnnkit was imported.");
  m.def("supported_simd_paths", &rnnkit::supported_simd_paths,
        "The instruction sets this CPU and build can run, best first.");
  m.def("set_simd_path", &set_simd_path, py::arg("name"),
        "Run the matrix product on `name` (one of supported_simd_paths()), for tests and "
        "benchmarks.");
  m.def("build_info", &build_info,
        "How this module was built: version, compiler, build_type, openmp, openmp_version.");
}
