// The optimizers' parameter updates, each one pass over a parameter array
// and its state, in the update rules of torch.optim.Adam, SGD and RMSprop.
// The gradient is first multiplied by grad_scale (the clipping coefficient,
// 1 without clipping) and then, when weight_decay != 0, given
// weight_decay * p (L2 decay, as PyTorch). Scalars are rounded to Real
// before use, as PyTorch does with a Python float and a float32 tensor.
#pragma once

#include "rnnkit/types.hpp"

namespace rnnkit {

struct AdamSettings {
  double lr, beta1, beta2, eps, weight_decay, grad_scale;
  long long step;  // 1 on the first update
};

//   g' = grad_scale g + weight_decay p
//   m = m + (1 - beta1)(g' - m)            v = beta2 v + (1 - beta2) g'^2
//   p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// p, m, v (n) in/out; g (n).
template <class Real>
void adam_update(Real* p, const Real* g, Real* m, Real* v, index_t n, const AdamSettings& s);

struct SgdSettings {
  double lr, momentum, weight_decay, grad_scale;
  bool nesterov;
};

//   b = momentum b + g'  (b starts at zero, so the first update gives b = g')
//   p -= lr (g' + momentum b) with Nesterov, lr b without; p -= lr g' when
//   momentum is 0 (b unused, may be null).
template <class Real>
void sgd_update(Real* p, const Real* g, Real* b, index_t n, const SgdSettings& s);

struct RmspropSettings {
  double lr, alpha, eps, momentum, weight_decay, grad_scale;
};

//   a = alpha a + (1 - alpha) g'^2,  d = sqrt(a) + eps
//   p -= lr g' / d, or with momentum b = momentum b + g' / d, p -= lr b
//   (b may be null when momentum is 0).
template <class Real>
void rmsprop_update(Real* p, const Real* g, Real* a, Real* b, index_t n, const RmspropSettings& s);

// sum of g^2 over n elements, accumulated in double: the squares of a
// diverging float run's gradients would overflow float.
template <class Real>
double sum_of_squares(const Real* g, index_t n);

}  // namespace rnnkit
