// What every area of rnnkit._core shares: the argument checks and the array
// helpers they use.
//
// Every argument is checked (type, dtype, rank, every dimension against the
// others, sizes that would overflow) with the GIL held and before any work;
// then inputs that are not C-contiguous are copied (never modified), outputs
// are allocated by the bindings, and the GIL is released for the kernel alone.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cctype>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rnnkit/lstm.hpp"
#include "rnnkit/rnn.hpp"
#include "rnnkit/types.hpp"

namespace py = pybind11;

// Included by every register_*.cpp: what is defined here is inline or a
// template, so each file's copy is the same one.
namespace rnnkit::bindings {

template <class Real>
using Array = py::array_t<Real, py::array::c_style>;

inline std::string shape_string(const index_t* dims, std::size_t rank) {
  std::string s = "(";
  for (std::size_t d = 0; d < rank; ++d) s += (d ? ", " : "") + std::to_string(dims[d]);
  return s + (rank == 1 ? ",)" : ")");
}

inline std::string shape_string(const std::vector<index_t>& dims) {
  return shape_string(dims.data(), dims.size());
}

inline std::string shape_string(const py::array& a) {
  const std::vector<index_t> dims(a.shape(), a.shape() + a.ndim());
  return shape_string(dims);
}

inline std::string type_name(py::handle obj) {
  return py::type::of(obj).attr("__name__").cast<std::string>();
}

inline std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

template <class Real>
bool has_dtype(const py::array& a) {
  return py::isinstance<py::array_t<Real>>(a);
}

template <class Real>
const char* real_name() {
  return sizeof(Real) == 4 ? "float32" : "float64";
}

// Checks the arguments of one call; every message starts with the function's
// name and names the argument, what was expected and what came. `first` names
// the array whose dtype the others must share (is_float32 reads it).
class Checker {
 public:
  explicit Checker(const char* fn, const char* first = "x") : fn_(fn), first_(first) {}

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
      type_error(std::string(name) + " has dtype " + dtype_name(a) + " but " + first_ + " has " +
                 real_name<Real>() + ": all arrays must share one float dtype");
    return a;
  }

  const char* fn_;
  const char* first_;
};

inline rnnkit::Nonlinearity nonlinearity_of(const Checker& check, py::handle obj) {
  if (py::isinstance<py::str>(obj)) {
    const auto name = obj.cast<std::string>();
    if (name == "tanh") return rnnkit::Nonlinearity::tanh;
    if (name == "relu") return rnnkit::Nonlinearity::relu;
    check.value_error("nonlinearity must be 'tanh' or 'relu', got '" + name + "'");
  }
  check.type_error("nonlinearity must be a str ('tanh' or 'relu'), got " + type_name(obj));
}

// The LSTM variants by name, in LstmVariant's order (lstm.hpp says what each is).
inline constexpr const char* kVariantNames[rnnkit::kLstmVariants] = {
    "vanilla", "nig", "nfg", "nog", "niaf", "noaf", "cifg"};

inline rnnkit::LstmVariant variant_of(const Checker& check, py::handle obj) {
  std::string valid;
  for (const char* name : kVariantNames) valid += std::string(valid.empty() ? "" : ", ") + name;
  if (!py::isinstance<py::str>(obj))
    check.type_error("variant must be a str (one of " + valid + "), got " + type_name(obj));
  std::string name = obj.cast<std::string>();
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (int v = 0; v < rnnkit::kLstmVariants; ++v)
    if (lower == kVariantNames[v]) return static_cast<rnnkit::LstmVariant>(v);
  check.value_error("variant must be one of " + valid + " (in any case), got '" + name + "'");
}

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

// A new output array: results are allocated here and returned, never written into
// a caller's array (which could be a silent cast copy).
template <class Real>
Array<Real> output(std::initializer_list<index_t> dims) {
  return Array<Real>(std::vector<py::ssize_t>(dims));
}

// An output that a call returns only when asked for: None otherwise, and a
// null pointer for the kernel, which then keeps nothing there.
template <class Real>
class OptionalOutput {
 public:
  OptionalOutput(bool wanted, std::initializer_list<index_t> dims) {
    if (wanted) array_ = output<Real>(dims);
  }
  Real* data() { return array_ ? array_->mutable_data() : nullptr; }
  py::object object() const { return array_ ? py::object(*array_) : py::none(); }

 private:
  std::optional<Array<Real>> array_;
};

// What a forward call keeps, from its `keep` argument: "all" (what the
// backward needs), "outputs" (every step's hidden state and the final
// state) or "state" (the final state alone).
enum class Keep { all, outputs, state };

inline Keep keep_of(const Checker& check, py::handle obj) {
  if (py::isinstance<py::str>(obj)) {
    const auto name = obj.cast<std::string>();
    if (name == "all") return Keep::all;
    if (name == "outputs") return Keep::outputs;
    if (name == "state") return Keep::state;
    check.value_error("keep must be 'all', 'outputs' or 'state', got '" + name + "'");
  }
  check.type_error("keep must be a str ('all', 'outputs' or 'state'), got " + type_name(obj));
}

}  // namespace rnnkit::bindings
