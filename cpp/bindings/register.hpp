// Each area of rnnkit._core adds its functions to the module through one of
// these, defined in its register_*.cpp; module.cpp calls them in this order,
// which is the order of the module's functions.
#pragma once

#include <pybind11/pybind11.h>

namespace rnnkit::bindings {

void register_recurrent(pybind11::module_& m);  // rnn_*, lstm_*
void register_inference(pybind11::module_& m);  // Inference
void register_optim(pybind11::module_& m);      // *_step, sum_of_squares
void register_runtime(pybind11::module_& m);    // threads, SIMD path, build_info

}  // namespace rnnkit::bindings
