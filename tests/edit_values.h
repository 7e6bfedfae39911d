// Tests edit a tensor through a host copy of its values: values() is a copy (the tensor may live
// on a GPU), so the edited copy goes back with set_values.
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace testing {

// Each value v becomes f(v), in element order (so random draws inside f stay in order).
template <class F>
void edit_values(const engine::Tensor& t, F f) {
  std::vector<float> v = t.values();
  for (float& x : v) x = f(x);
  engine::Tensor(t).set_values(v);
}

}  // namespace testing
