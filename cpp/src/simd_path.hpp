// One SIMD path: the matrix products and the cells compiled for the
// instruction set of the file that includes this one, which defines
//   RNNKIT_SIMD_NAME      the path's name ("avx2")
//   RNNKIT_SIMD_KERNELS   the SimdKernels table it defines (avx2_kernels)
//   RNNKIT_VECTOR_BYTES   its register width
//   RNNKIT_MR             rows of C the micro-kernel holds in registers
// The table is the only symbol such a file exports (gemm.cpp reads it).
#include <utility>

#include "cells_impl.hpp"
#include "gemm_impl.hpp"
#include "matvec_impl.hpp"
#include "step_impl.hpp"

namespace rnnkit::detail {

namespace {

// Every variant's LSTM cell, in LstmVariant's order (V = 0 .. kLstmVariants - 1).
template <class Real, std::size_t... V>
constexpr KernelsFor<Real> kernels_for(std::index_sequence<V...>) {
  return {gemm_blocked<Real>,
          gemm_narrow<Real>,
          pack_whole<Real>,
          NR<Real>,
          matvec<Real>,
          kStepLanes<Real>,
          pack_step<Real>,
          {lstm_step<static_cast<LstmVariant>(V), Real>...},
          gru_step<Real>,
          rnn_step<Real>,
          {lstm_step_backward<static_cast<LstmVariant>(V), Real>...},
          gru_step_backward<Real>,
          rnn_step_backward<Real>,
          {lstm_cell_forward<static_cast<LstmVariant>(V), Real>...},
          {lstm_cell_backward<static_cast<LstmVariant>(V), Real>...},
          gru_cell_forward<Real>,
          gru_cell_backward<Real>,
          activate<Real>,
          activation_backward<Real>};
}

template <class Real>
constexpr KernelsFor<Real> kernels_for() {
  return kernels_for<Real>(std::make_index_sequence<kLstmVariants>());
}

}  // namespace

extern const SimdKernels RNNKIT_SIMD_KERNELS{RNNKIT_SIMD_NAME, kernels_for<float>(),
                                             kernels_for<double>()};

}  // namespace rnnkit::detail
