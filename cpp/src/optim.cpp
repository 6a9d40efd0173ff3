// Optimizer updates: one loop per parameter array, every element read and
// written once. The loops are independent per element and vectorise.
#include "rnnkit/optim.hpp"

#include <cmath>

namespace rnnkit {

namespace {

// The gradient as the rules use it: grad_scale g + weight_decay p.
template <class Real>
struct Gradient {
  Real scale, decay;
  Real operator()(Real g, Real p) const { return scale * g + decay * p; }
};

}  // namespace

template <class Real>
void adam_update(Real* __restrict p, const Real* __restrict g, Real* __restrict m,
                 Real* __restrict v, index_t n, const AdamSettings& s) {
  const Gradient<Real> grad{Real(s.grad_scale), Real(s.weight_decay)};
  const double steps = double(s.step);
  const Real keep1 = Real(1 - s.beta1), beta2 = Real(s.beta2), keep2 = Real(1 - s.beta2);
  const Real step_size = Real(s.lr / (1 - std::pow(s.beta1, steps)));
  const Real correction2_sqrt = Real(std::sqrt(1 - std::pow(s.beta2, steps)));
  const Real eps = Real(s.eps);
  for (index_t e = 0; e < n; ++e) {
    const Real g_e = grad(g[e], p[e]);
    m[e] += keep1 * (g_e - m[e]);
    v[e] = beta2 * v[e] + keep2 * g_e * g_e;
    p[e] -= step_size * (m[e] / (std::sqrt(v[e]) / correction2_sqrt + eps));
  }
}

template <class Real>
void sgd_update(Real* __restrict p, const Real* __restrict g, Real* __restrict b, index_t n,
                const SgdSettings& s) {
  const Gradient<Real> grad{Real(s.grad_scale), Real(s.weight_decay)};
  const Real lr = Real(s.lr), momentum = Real(s.momentum);
  if (s.momentum == 0) {
    for (index_t e = 0; e < n; ++e) p[e] -= lr * grad(g[e], p[e]);
    return;
  }
  for (index_t e = 0; e < n; ++e) {
    const Real g_e = grad(g[e], p[e]);
    b[e] = momentum * b[e] + g_e;
    p[e] -= lr * (s.nesterov ? g_e + momentum * b[e] : b[e]);
  }
}

template <class Real>
void rmsprop_update(Real* __restrict p, const Real* __restrict g, Real* __restrict a,
                    Real* __restrict b, index_t n, const RmspropSettings& s) {
  const Gradient<Real> grad{Real(s.grad_scale), Real(s.weight_decay)};
  const Real lr = Real(s.lr), alpha = Real(s.alpha), keep = Real(1 - s.alpha);
  const Real eps = Real(s.eps), momentum = Real(s.momentum);
  for (index_t e = 0; e < n; ++e) {
    const Real g_e = grad(g[e], p[e]);
    a[e] = alpha * a[e] + keep * g_e * g_e;
    const Real step = g_e / (std::sqrt(a[e]) + eps);
    if (s.momentum == 0) {
      p[e] -= lr * step;
    } else {
      b[e] = momentum * b[e] + step;
      p[e] -= lr * b[e];
    }
  }
}

template <class Real>
double sum_of_squares(const Real* g, index_t n) {
  // Four partial sums: vectorisable without reassociating one long chain.
  double sums[4] = {0, 0, 0, 0};
  index_t e = 0;
  for (; e + 4 <= n; e += 4)
    for (index_t l = 0; l < 4; ++l) sums[l] += double(g[e + l]) * double(g[e + l]);
  for (; e < n; ++e) sums[0] += double(g[e]) * double(g[e]);
  return (sums[0] + sums[1]) + (sums[2] + sums[3]);
}

#define RNNKIT_INSTANTIATE(Real)                                                                   \
  template void adam_update<Real>(Real*, const Real*, Real*, Real*, index_t, const AdamSettings&); \
  template void sgd_update<Real>(Real*, const Real*, Real*, index_t, const SgdSettings&);          \
  template void rmsprop_update<Real>(Real*, const Real*, Real*, Real*, index_t,                    \
                                     const RmspropSettings&);                                      \
  template double sum_of_squares<Real>(const Real*, index_t);
RNNKIT_INSTANTIATE(float)
RNNKIT_INSTANTIATE(double)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
