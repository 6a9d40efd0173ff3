// rnnkit._core's run-time settings and the facts of the build: the kernels'
// threads, the SIMD path of the matrix product, and how the module was built.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>  // supported_simd_paths: a std::vector to a list

#include <string>

#include "checks.hpp"
#include "register.hpp"
#include "rnnkit/gemm.hpp"
#include "rnnkit/parallel.hpp"

namespace rnnkit::bindings {
namespace {

void set_num_threads(py::handle n) {
  if (!py::isinstance<py::int_>(n) || py::isinstance<py::bool_>(n))
    throw py::type_error("set_num_threads: n must be an int, got " + type_name(n));
  const auto value = n.cast<long long>();
  if (value < 1 || value > 4096)
    throw py::value_error("set_num_threads: n must be between 1 and 4096, got " +
                          std::to_string(value));
  rnnkit::set_num_threads(static_cast<int>(value));
}

void set_dynamic(py::handle on) {
  if (!py::isinstance<py::bool_>(on))
    throw py::type_error("set_dynamic: on must be True or False, got " + type_name(on));
  rnnkit::set_dynamic(on.cast<bool>());
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

void register_runtime(py::module_& m) {
  m.def("num_threads", &rnnkit::num_threads,
        "Threads the kernels use (always 1 in a build without OpenMP, and 1 in a process "
        "forked after the kernels had started threads).");
  m.def("_serial_after_fork", &rnnkit::serial_after_fork,
        "True in a child of fork() whose parent's kernels had started OpenMP threads.");
  m.def("_busy_threads_peak", &rnnkit::busy_threads_peak, py::arg("reset") = false,
        "The most threads that ran kernels at once (callers and the helpers of their parallel "
        "regions) since the last reset; reset=True returns it and starts again.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "Set the threads the kernels use, for every Python thread (no effect without OpenMP).");
  m.def("dynamic", &rnnkit::dynamic,
        "Whether a parallel region may run on fewer threads than num_threads() where that is "
        "faster lately, as when another program keeps a core busy (always False without "
        "OpenMP).");
  m.def("set_dynamic", &set_dynamic, py::arg("on"),
        "Let parallel regions choose fewer threads where that is faster (True, the default), or "
        "give every region num_threads() threads, as OpenMP would (False): for benchmarks of a "
        "fixed thread count. Results are the same either way.");
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

}  // namespace rnnkit::bindings

// The one C symbol the module exports (pybind11 hides the rest): threadpoolctl finds
// rnnkit's pool by it among the loaded libraries (rnnkit/_threadpool.py) and reads the
// count through it, as it does for BLAS and OpenMP runtimes.
#if defined(_WIN32)
#define RNNKIT_C_API __declspec(dllexport)
#else
#define RNNKIT_C_API __attribute__((visibility("default")))
#endif
extern "C" RNNKIT_C_API int rnnkit_num_threads();
extern "C" int rnnkit_num_threads() { return rnnkit::num_threads(); }
