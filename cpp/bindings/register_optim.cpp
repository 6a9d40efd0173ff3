// rnnkit._core's optimizers: one Adam, SGD or RMSprop step over every
// parameter in place, and the sum of squares that gradient clipping needs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "checks.hpp"
#include "register.hpp"
#include "rnnkit/optim.hpp"

namespace rnnkit::bindings {
namespace {

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

}  // namespace

void register_optim(py::module_& m) {
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
}

}  // namespace rnnkit::bindings
