// rnnkit._core.Inference: a trained network's forecasts for a batch of one,
// one window or one step at a time (rnnkit/inference.hpp). The weights are
// checked and copied once, at construction; a call checks its one array and
// runs, allocating only the array it returns (about 0.1 us, measured: cheaper
// than an out= argument's own checks would be).
//
// The GIL: releasing and retaking it costs about 0.1 us a call, and another
// thread's wake-up to use it takes longer than a few microseconds of work. So
// a call releases it only above kReleaseWork multiply-adds: the course model's
// window (LSTM, H = 50, 30 steps: 306,000, about 6 us on AVX-512) does, and
// two threads streaming such windows then run 1.4 times as many as one; its
// step (10,000, 0.2 us) keeps the GIL, which costs the other threads less
// than the handover would.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "checks.hpp"
#include "register.hpp"
#include "rnnkit/inference.hpp"

namespace rnnkit::bindings {
namespace {

constexpr double kReleaseWork = 100000;
constexpr const char* kCellNames[] = {"rnn", "gru", "lstm"};  // Cell's order
constexpr const char* kWeightNames[] = {"w_ih", "w_hh", "b_ih", "b_hh"};

Cell cell_of(const Checker& check, py::handle obj) {
  if (!py::isinstance<py::str>(obj))
    check.type_error("cell must be a str ('rnn', 'gru' or 'lstm'), got " + type_name(obj));
  const auto name = obj.cast<std::string>();
  for (int c = 0; c < 3; ++c)
    if (name == kCellNames[c]) return static_cast<Cell>(c);
  check.value_error("cell must be 'rnn', 'gru' or 'lstm', got '" + name + "'");
}

bool is_list_or_tuple(py::handle obj) {
  return py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj);
}

// The object behind the Python class: one Inference of the weights' dtype.
class PyInference {
 public:
  PyInference(py::handle cell, py::handle weights, py::handle head_weight, py::handle head_bias,
              py::handle variant, py::handle nonlinearity) {
    const Checker check("Inference", "weights[0][0]");
    cell_ = cell_of(check, cell);
    const LstmVariant kind = variant_of(check, variant);
    const Nonlinearity act = nonlinearity_of(check, nonlinearity);
    variant_ = kVariantNames[static_cast<int>(kind)];
    nonlinearity_ = nonlinearity.cast<std::string>();
    if (cell_ != Cell::lstm && kind != LstmVariant::vanilla)
      check.value_error("variant='" + variant_ + "' is a variant of the LSTM; cell='" +
                        kCellNames[static_cast<int>(cell_)] + "' takes only 'vanilla'");
    if (!is_list_or_tuple(weights))
      check.type_error("weights must be a list of (w_ih, w_hh, b_ih, b_hh), one per layer, got " +
                       type_name(weights));
    const auto layers = py::reinterpret_borrow<py::sequence>(weights);
    if (layers.size() == 0)
      check.value_error("weights must hold at least one layer (w_ih, w_hh, b_ih, b_hh), got none");
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const py::object layer = layers[l];
      if (!is_list_or_tuple(layer) || py::len(layer) != 4)
        check.type_error("weights[" + std::to_string(l) +
                         "] must be a tuple (w_ih, w_hh, b_ih, b_hh), got " +
                         (is_list_or_tuple(layer)
                              ? "a " + type_name(layer) + " of " + std::to_string(py::len(layer))
                              : type_name(layer)));
    }
    if (check.is_float32(layers[0].cast<py::sequence>()[0], "weights[0][0] (w_ih)"))
      f32_ = build<float>(check, kind, act, layers, head_weight, head_bias);
    else
      f64_ = build<double>(check, kind, act, layers, head_weight, head_bias);
  }

  py::array window(py::handle x) { return f32_ ? window_of(*f32_, x) : window_of(*f64_, x); }
  py::array step(py::handle row) { return f32_ ? step_of(*f32_, row) : step_of(*f64_, row); }

  void reset() {
    const std::lock_guard<std::mutex> lock(busy_);
    f32_ ? f32_->reset() : f64_->reset();
  }

  py::tuple get_state() { return f32_ ? get_state_of(*f32_) : get_state_of(*f64_); }
  void set_state(py::handle h, py::handle c) {
    f32_ ? set_state_of(*f32_, h, c) : set_state_of(*f64_, h, c);
  }

  std::string cell() const { return kCellNames[static_cast<int>(cell_)]; }
  const std::string& variant() const { return variant_; }
  const std::string& nonlinearity() const { return nonlinearity_; }
  py::dtype dtype() const { return f32_ ? py::dtype::of<float>() : py::dtype::of<double>(); }
  index_t input_size() const { return f32_ ? f32_->input_size() : f64_->input_size(); }
  index_t hidden_size() const { return f32_ ? f32_->hidden_size() : f64_->hidden_size(); }
  index_t num_layers() const { return f32_ ? f32_->num_layers() : f64_->num_layers(); }
  index_t output_size() const { return f32_ ? f32_->output_size() : f64_->output_size(); }

 private:
  template <class Real>
  std::unique_ptr<Inference<Real>> build(const Checker& check, LstmVariant kind, Nonlinearity act,
                                         const py::sequence& layers, py::handle head_weight,
                                         py::handle head_bias) {
    const index_t G = cell_ == Cell::lstm ? 4 : cell_ == Cell::gru ? 3 : 1;
    const std::string rows = G == 1 ? "H" : std::to_string(G) + "*H";
    const auto name = [](std::size_t l, int k) {
      return "weights[" + std::to_string(l) + "][" + std::to_string(k) + "] (" + kWeightNames[k] +
             ")";
    };
    const auto at = [&](std::size_t l, int k) { return layers[l].cast<py::sequence>()[k]; };
    const index_t H = check.hidden_size<Real>(at(0, 1), name(0, 1).c_str(), G);
    const py::array w_ih0 = check.ndarray(at(0, 0), name(0, 0).c_str());
    if (w_ih0.ndim() != 2 || w_ih0.shape(1) < 1)
      check.value_error(name(0, 0) + " must be a 2-D array (" + rows +
                        ", I) with I >= 1 input features, got shape " + shape_string(w_ih0));
    const index_t I = w_ih0.shape(1);
    check.fits<Real>("weights[0] (G*H, I + H)", {G * H, I + H});
    std::vector<Input<Real>> arrays;  // keeps copies of non-contiguous arrays alive
    std::vector<LayerWeights<Real>> weights;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const index_t Il = l == 0 ? I : H;
      const std::string in = l == 0 ? "I" : "H";
      const std::vector<std::string> docs = {"(" + rows + ", " + in + ")", "(" + rows + ", H)",
                                             "(" + rows + ",)", "(" + rows + ",)"};
      const std::vector<std::vector<index_t>> dims = {{G * H, Il}, {G * H, H}, {G * H}, {G * H}};
      for (int k = 0; k < 4; ++k) {
        check.expect<Real>(at(l, k), name(l, k).c_str(), docs[k].c_str(), dims[k]);
        arrays.emplace_back(at(l, k));
      }
    }
    for (std::size_t l = 0; l < layers.size(); ++l)
      weights.push_back({arrays[4 * l].data(), arrays[4 * l + 1].data(), arrays[4 * l + 2].data(),
                         arrays[4 * l + 3].data()});
    const py::array head = check.ndarray(head_weight, "head_weight");
    if (head.ndim() != 2 || head.shape(0) < 1)
      check.value_error("head_weight must be a 2-D array (O, H) with O >= 1 outputs, got shape " +
                        shape_string(head));
    const index_t O = head.shape(0);
    check.expect<Real>(head_weight, "head_weight", "(O, H)", {O, H});
    check.expect<Real>(head_bias, "head_bias", "(O,)", {O});
    const Input<Real> head_w(head_weight), head_b(head_bias);
    return std::make_unique<Inference<Real>>(cell_, kind, act, I, H, O, weights, head_w.data(),
                                             head_b.data());
  }

  // obj as an ndarray of the weights' dtype, or an error.
  template <class Real>
  static py::array of_model_dtype(const Checker& check, py::handle obj, const char* name) {
    const py::array a = check.ndarray(obj, name);
    if (!has_dtype<Real>(a))
      check.type_error(std::string(name) + " must have the weights' dtype " + real_name<Real>() +
                       ", got " + dtype_name(a));
    return a;
  }

  // An input with the trailing dimension `width`, of rank 2 (x, T >= 1 rows)
  // or 1 (a row); its data, copied when not C-contiguous.
  template <class Real>
  static Input<Real> checked(const Checker& check, py::handle obj, const char* name, int rank,
                             index_t width, const char* doc) {
    const py::array a = of_model_dtype<Real>(check, obj, name);
    if (a.ndim() != rank || a.shape(rank - 1) != width || a.shape(0) < 1)
      check.value_error(std::string(name) + " must be a " + std::to_string(rank) +
                        "-D array of shape " + doc + " with " + (rank == 2 ? "T >= 1 and " : "") +
                        "I = " + std::to_string(width) + ", got a " + std::to_string(a.ndim()) +
                        "-D array of shape " + shape_string(a));
    return Input<Real>(obj);
  }

  template <class Real>
  py::array window_of(Inference<Real>& inference, py::handle x) {
    const Checker check("Inference.window");
    const Input<Real> x_ = checked<Real>(check, x, "x", 2, inference.input_size(), "(T, I)");
    const index_t T = py::reinterpret_borrow<py::array>(x).shape(0);
    auto out = output<Real>({inference.output_size()});
    std::optional<py::gil_scoped_release> nogil;
    if (inference.multiply_adds(T) >= kReleaseWork) nogil.emplace();
    const std::lock_guard<std::mutex> lock(busy_);  // unlocked before the GIL is retaken
    inference.window(out.mutable_data(), x_.data(), T);
    return out;
  }

  template <class Real>
  py::array step_of(Inference<Real>& inference, py::handle row) {
    const Checker check("Inference.step");
    const Input<Real> row_ = checked<Real>(check, row, "row", 1, inference.input_size(), "(I,)");
    auto out = output<Real>({inference.output_size()});
    std::optional<py::gil_scoped_release> nogil;
    if (inference.multiply_adds(1) >= kReleaseWork) nogil.emplace();
    const std::lock_guard<std::mutex> lock(busy_);
    inference.step(out.mutable_data(), row_.data());
    return out;
  }

  template <class Real>
  py::tuple get_state_of(Inference<Real>& inference) {
    const index_t L = inference.num_layers(), H = inference.hidden_size();
    auto h = output<Real>({L, H});
    const std::lock_guard<std::mutex> lock(busy_);
    if (cell_ != Cell::lstm) {
      inference.get_state(h.mutable_data(), nullptr);
      return py::make_tuple(h);
    }
    auto c = output<Real>({L, H});
    inference.get_state(h.mutable_data(), c.mutable_data());
    return py::make_tuple(h, c);
  }

  template <class Real>
  void set_state_of(Inference<Real>& inference, py::handle h, py::handle c) {
    const Checker check("Inference.set_state");
    const index_t L = inference.num_layers(), H = inference.hidden_size();
    of_model_dtype<Real>(check, h, "h");
    check.expect<Real>(h, "h", "(num_layers, H)", {L, H});
    if (cell_ != Cell::lstm && !c.is_none())
      check.value_error("c must be None: the " + cell() + " has no cell state, got " +
                        type_name(c));
    if (!c.is_none()) {
      of_model_dtype<Real>(check, c, "c");
      check.expect<Real>(c, "c", "(num_layers, H)", {L, H});
    }
    const Input<Real> h_(h), c_(c);
    const std::lock_guard<std::mutex> lock(busy_);
    inference.set_state(h_.data(), c_.data());
  }

  Cell cell_;
  std::string variant_, nonlinearity_;
  std::unique_ptr<Inference<float>> f32_;
  std::unique_ptr<Inference<double>> f64_;
  std::mutex busy_;  // one call at a time on the object's buffers, GIL or not
};

}  // namespace

void register_inference(py::module_& m) {
  py::class_<PyInference>(m, "Inference", R"doc(A trained network compiled for a batch of one.

Stacked RNN, GRU or LSTM layers and a linear head on the last layer's hidden
state (what rnnkit.models.SequenceRegressor is, and SequenceRegressor.inference()
builds one), for forecasts one window or one step at a time: a window's forecast
equals the layers' forward and the head for a batch of one, to float rounding,
without the batched kernels' setup (packing the weights, allocating the outputs
and the activations a backward pass needs), so a call costs a few microseconds.

Parameters
----------
cell : {"rnn", "gru", "lstm"}
weights : list of (w_ih, w_hh, b_ih, b_hh), one tuple per layer
    PyTorch's layout: w_ih (G*H, I) for layer 0 and (G*H, H) above it,
    w_hh (G*H, H), b_ih and b_hh (G*H,); G = 1 (RNN), 3 (GRU: r, z, n),
    4 (LSTM: i, f, g, o). float32 or float64, every array one dtype.
head_weight : ndarray (O, H)
head_bias : ndarray (O,)
variant : str
    The LSTM's variant (as lstm_forward takes it); other cells take "vanilla".
nonlinearity : {"tanh", "relu"}
    The RNN's activation; read by the RNN only.

The arrays are copied (transposed for the products of one row): the object holds
a snapshot, which later changes to them do not reach. It allocates nothing per
call but the array it returns, starts no threads (one row leaves nothing to
share among them) and runs on the SIMD path active at each call. It releases
the GIL for a call of more than about 100,000 multiply-adds (a window of the
course model's LSTM, H = 50 and 30 steps, does; its step does not); calls on one
object from several threads take turns.
)doc")
      .def(py::init<py::handle, py::handle, py::handle, py::handle, py::handle, py::handle>(),
           py::arg("cell"), py::arg("weights"), py::arg("head_weight"), py::arg("head_bias"),
           py::arg("variant") = "vanilla", py::arg("nonlinearity") = "tanh")
      .def("window", &PyInference::window, py::arg("x"),
           R"doc(The head's output after one window, from a zero state.

Parameters
----------
x : ndarray (T, I), T >= 1
    The window, oldest row first, in the weights' dtype (copied if not
    C-contiguous). NaN or inf in it give NaN outputs.

Returns
-------
ndarray (O,)
    What the layers' forward and the head give for x[None]: for a
    SequenceRegressor, predict(x[None])[0] to float rounding. The carried
    state of step() is left as it was.
)doc")
      .def("step", &PyInference::step, py::arg("row"),
           R"doc(Advance the carried state by one input row; the head's output on it.

Parameters
----------
row : ndarray (I,)
    The next input row, in the weights' dtype.

Returns
-------
ndarray (O,)
    The head on the last layer's new hidden state. From a zero state (after
    construction or reset()), steps over the rows of x end where window(x) does.
)doc")
      .def("reset", &PyInference::reset, "Set the carried state to zeros.")
      .def("get_state", &PyInference::get_state,
           R"doc(The carried state, as copies: (h,) for the RNN and the GRU, (h, c) for the LSTM,
each (num_layers, H), as PyTorch's h_n and c_n for one sequence.
)doc")
      .def("set_state", &PyInference::set_state, py::arg("h"), py::arg("c") = py::none(),
           R"doc(Set the carried state: h (num_layers, H) and, for the LSTM, c (num_layers, H)
(None: zeros), in the weights' dtype; set_state(*get_state()) restores it.
)doc")
      .def_property_readonly("cell", &PyInference::cell, "'rnn', 'gru' or 'lstm'.")
      .def_property_readonly("variant", &PyInference::variant, "The LSTM's variant.")
      .def_property_readonly("nonlinearity", &PyInference::nonlinearity, "The RNN's activation.")
      .def_property_readonly("dtype", &PyInference::dtype, "The weights' dtype.")
      .def_property_readonly("input_size", &PyInference::input_size, "I.")
      .def_property_readonly("hidden_size", &PyInference::hidden_size, "H.")
      .def_property_readonly("num_layers", &PyInference::num_layers, "Stacked layers.")
      .def_property_readonly("output_size", &PyInference::output_size, "O, the head's outputs.");
}

}  // namespace rnnkit::bindings
