// The cells' element-wise work at every time step, compiled once per
// instruction set through simd_path.hpp like the matrix product: at small
// hidden sizes it costs as much as the products, and the baseline's 4-wide
// vectors would leave most of a wider machine idle. Internal linkage
// throughout, for the reason gemm_impl.hpp gives.
#pragma once

#include "activations.hpp"
#include "rnnkit/lstm.hpp"
#include "simd_dispatch.hpp"

namespace rnnkit::detail {

namespace {

// One unit of the LSTM step, and one batch row of them in place over gates_row
// = [i | f | g | o] (H each, pre-activations in, gates out), for variant V
// (lstm.hpp):
//   i, f, o = sigmoid(.),  g = tanh(.)
//   c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)
// Every array gets its own restrict pointer (the four gates are slices of one
// row), and each row loop an ivdep: GCC 12 drops the restrict of a function
// inlined into another ("complicated access pattern") and ran every one of
// these loops scalar, a live forecast's step 3x slower. The variant is a
// template argument: the vanilla cell compiles to the loop it always was.
template <LstmVariant V, class Real>
RNNKIT_ELEMENTWISE void lstm_unit_forward(Real& i, Real& f, Real& g, Real& o, Real& c_t, Real& h_t,
                                          Real c_prev) {
  using LV = LstmVariant;
  i = V == LV::nig ? Real(1) : sigmoid(i);
  f = V == LV::nfg ? Real(1) : V == LV::cifg ? Real(1) - i : sigmoid(f);
  g = V == LV::niaf ? g : tanh(g);
  o = V == LV::nog ? Real(1) : sigmoid(o);
  c_t = f * c_prev + i * g;
  h_t = o * (V == LV::noaf ? c_t : tanh(c_t));
}

template <LstmVariant V, class Real>
void lstm_gates_forward(Real* __restrict i, Real* __restrict f, Real* __restrict g,
                        Real* __restrict o, Real* __restrict c_t, Real* __restrict h_t,
                        const Real* __restrict c_prev, index_t H) {
#pragma GCC ivdep
  for (index_t j = 0; j < H; ++j)
    lstm_unit_forward<V>(i[j], f[j], g[j], o[j], c_t[j], h_t[j], c_prev[j]);
}

template <LstmVariant V, class Real>
void lstm_cell_forward(Real* gates_row, Real* c_t, Real* h_t, const Real* c_prev, index_t H) {
  lstm_gates_forward<V>(gates_row, gates_row + H, gates_row + 2 * H, gates_row + 3 * H, c_t, h_t,
                        c_prev, H);
}

// Its backward, for one unit and one batch row (dh = dL/dh_t + dy_t; out = tanh(c_t), or
// c_t for noaf, and out' its derivative):
//   dc += dh * o * out'
//   da_i = dc * g * i(1 - i)        da_f = dc * c_{t-1} * f(1 - f)
//   da_g = dc * i * (1 - g^2)       da_o = dh * out * o(1 - o)
//   dc <- dc * f                    (dL/dc_{t-1})
// A gate a variant holds at 1 gets da = 0; niaf's g has derivative 1; cifg's i
// also moves f = 1 - i: da_i = dc * (g - c_{t-1}) * i(1 - i), and da_f = 0.
template <LstmVariant V, class Real>
RNNKIT_ELEMENTWISE void lstm_unit_backward(Real& da_i, Real& da_f, Real& da_g, Real& da_o, Real& dc,
                                           Real i, Real f, Real g, Real o, Real c_t, Real c_prev,
                                           Real dh) {
  using LV = LstmVariant;
  const Real out = V == LV::noaf ? c_t : tanh(c_t);
  const Real dout = V == LV::noaf ? Real(1) : Real(1) - out * out;
  const Real dc_t = dc + dh * o * dout;
  const Real di = V == LV::cifg ? dc_t * (g - c_prev) : dc_t * g;
  da_i = V == LV::nig ? Real(0) : di * i * (Real(1) - i);
  da_f = V == LV::nfg || V == LV::cifg ? Real(0) : dc_t * c_prev * f * (Real(1) - f);
  da_g = dc_t * i * (V == LV::niaf ? Real(1) : Real(1) - g * g);
  da_o = V == LV::nog ? Real(0) : dh * out * o * (Real(1) - o);
  dc = dc_t * f;
}

template <LstmVariant V, class Real>
void lstm_gates_backward(Real* __restrict da_i, Real* __restrict da_f, Real* __restrict da_g,
                         Real* __restrict da_o, Real* __restrict dc, const Real* __restrict i,
                         const Real* __restrict f, const Real* __restrict g,
                         const Real* __restrict o, const Real* __restrict c_t,
                         const Real* __restrict c_prev, const Real* __restrict dh,
                         const Real* __restrict dy_t, index_t H) {
#pragma GCC ivdep
  for (index_t j = 0; j < H; ++j)
    lstm_unit_backward<V>(da_i[j], da_f[j], da_g[j], da_o[j], dc[j], i[j], f[j], g[j], o[j], c_t[j],
                          c_prev[j], dh[j] + dy_t[j]);
}

template <LstmVariant V, class Real>
void lstm_cell_backward(Real* dgates_row, Real* dc, const Real* gates_row, const Real* c_t,
                        const Real* c_prev, const Real* dh, const Real* dy_t, index_t H) {
  lstm_gates_backward<V>(dgates_row, dgates_row + H, dgates_row + 2 * H, dgates_row + 3 * H, dc,
                         gates_row, gates_row + H, gates_row + 2 * H, gates_row + 3 * H, c_t,
                         c_prev, dh, dy_t, H);
}

// One unit of the GRU step, and one batch row of them in place over gates_row = [r | z | n | hn]
// (H each). The recurrent product has written W_hh h_{t-1} + b_hh into the
// first 3H; gi_row (3H) is x_t W_ih^T, its bias b_ih still to add:
//   r = sigmoid(gi_r + b_ir + gh_r),  z = sigmoid(gi_z + b_iz + gh_z)
//   hn = gh_n,  n = tanh(gi_n + b_in + r * hn)
//   h_t = (1 - z) * n + z * h_{t-1}
template <class Real>
RNNKIT_ELEMENTWISE void gru_unit_forward(Real& r, Real& z, Real& n, Real& hn, Real& h_t, Real gi_r,
                                         Real gi_z, Real gi_n, Real b_r, Real b_z, Real b_n,
                                         Real h_prev) {
  r = sigmoid(gi_r + b_r + r);
  z = sigmoid(gi_z + b_z + z);
  hn = n;
  n = tanh(gi_n + b_n + r * hn);
  h_t = n + z * (h_prev - n);
}

template <class Real>
void gru_gates_forward(Real* __restrict r, Real* __restrict z, Real* __restrict n,
                       Real* __restrict hn, Real* __restrict h_t, const Real* __restrict gi_r,
                       const Real* __restrict gi_z, const Real* __restrict gi_n,
                       const Real* __restrict b_r, const Real* __restrict b_z,
                       const Real* __restrict b_n, const Real* __restrict h_prev, index_t H) {
#pragma GCC ivdep
  for (index_t j = 0; j < H; ++j)
    gru_unit_forward(r[j], z[j], n[j], hn[j], h_t[j], gi_r[j], gi_z[j], gi_n[j], b_r[j], b_z[j],
                     b_n[j], h_prev[j]);
}

template <class Real>
void gru_cell_forward(Real* gates_row, Real* h_t, const Real* gi_row, const Real* b_ih,
                      const Real* h_prev, index_t H) {
  gru_gates_forward(gates_row, gates_row + H, gates_row + 2 * H, gates_row + 3 * H, h_t, gi_row,
                    gi_row + H, gi_row + 2 * H, b_ih, b_ih + H, b_ih + 2 * H, h_prev, H);
}

// Its backward, for one batch row (dh_t = dh + dy_t), into dg_row =
// [dhn | da_r | da_z | da_n] (H each):
//   da_n = dh_t (1 - z)(1 - n^2)          da_z = dh_t (h_{t-1} - n) z(1 - z)
//   da_r = da_n hn r(1 - r)               dhn = da_n r
//   dh <- dh_t z                 dL/dh_{t-1} but for the recurrent product's
// The input projection's gradient is [da_r | da_z | da_n], columns H..4H; the
// recurrent product's is [da_r | da_z | dhn], which gru.cpp reads as columns
// 0..3H, [dhn | da_r | da_z], against W_hh's rows in the order n, r, z.
// dh_t = dL/dh_t, dy included; dh_out = dL/dh_t z.
template <class Real>
RNNKIT_ELEMENTWISE void gru_unit_backward(Real& dhn, Real& da_r, Real& da_z, Real& da_n,
                                          Real& dh_out, Real r, Real z, Real n, Real hn,
                                          Real h_prev, Real dh_t) {
  const Real dn = dh_t * (Real(1) - z) * (Real(1) - n * n);
  da_n = dn;
  da_z = dh_t * (h_prev - n) * z * (Real(1) - z);
  da_r = dn * hn * r * (Real(1) - r);
  dhn = dn * r;
  dh_out = dh_t * z;
}

template <class Real>
void gru_gates_backward(Real* __restrict dhn, Real* __restrict da_r, Real* __restrict da_z,
                        Real* __restrict da_n, Real* __restrict dh, const Real* __restrict r,
                        const Real* __restrict z, const Real* __restrict n,
                        const Real* __restrict hn, const Real* __restrict h_prev,
                        const Real* __restrict dy_t, index_t H) {
#pragma GCC ivdep
  for (index_t j = 0; j < H; ++j)
    gru_unit_backward(dhn[j], da_r[j], da_z[j], da_n[j], dh[j], r[j], z[j], n[j], hn[j], h_prev[j],
                      dh[j] + dy_t[j]);
}

template <class Real>
void gru_cell_backward(Real* dg_row, Real* dh, const Real* gates_row, const Real* h_prev,
                       const Real* dy_t, index_t H) {
  gru_gates_backward(dg_row, dg_row + H, dg_row + 2 * H, dg_row + 3 * H, dh, gates_row,
                     gates_row + H, gates_row + 2 * H, gates_row + 3 * H, h_prev, dy_t, H);
}

template <class Real>
RNNKIT_ELEMENTWISE Real relu(Real z) {
  return z > Real(0) ? z : Real(0);
}

// z <- act(z), one loop per activation so each vectorises.
template <class Real>
void activate(Real* z, index_t n, Nonlinearity act) {
  if (act == Nonlinearity::tanh)
    for (index_t e = 0; e < n; ++e) z[e] = tanh(z[e]);
  else
    for (index_t e = 0; e < n; ++e) z[e] = relu(z[e]);
}

// dz = (dh + dy) * act'(.), act' read off the output y: tanh' = 1 - y^2,
// relu' = [y > 0].
template <class Real>
RNNKIT_ELEMENTWISE Real tanh_backward(Real d, Real y) {
  return d * (Real(1) - y * y);
}
template <class Real>
RNNKIT_ELEMENTWISE Real relu_backward(Real d, Real y) {
  return y > Real(0) ? d : Real(0);
}

template <class Real>
void activation_backward(Real* __restrict dz, const Real* __restrict dh, const Real* __restrict dy,
                         const Real* __restrict y, index_t n, Nonlinearity act) {
  if (act == Nonlinearity::tanh)
    for (index_t e = 0; e < n; ++e) dz[e] = tanh_backward(dh[e] + dy[e], y[e]);
  else
    for (index_t e = 0; e < n; ++e) dz[e] = relu_backward(dh[e] + dy[e], y[e]);
}

}  // namespace

}  // namespace rnnkit::detail
