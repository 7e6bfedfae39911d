// Broadcast shapes and index maps; see broadcast.h.
#include "engine/ops/broadcast.h"

#include <algorithm>
#include <stdexcept>

namespace engine {

Shape broadcast_shape(const Shape& a, const Shape& b) {
  size_t nd = std::max(a.size(), b.size());
  Shape out(nd);
  for (size_t i = 0; i < nd; ++i) {
    int da = i < nd - a.size() ? 1 : a[i - (nd - a.size())];
    int db = i < nd - b.size() ? 1 : b[i - (nd - b.size())];
    if (da != db && da != 1 && db != 1)
      throw std::invalid_argument("shapes " + shape_str(a) + " and " + shape_str(b) +
                                  " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

BroadcastIndex::BroadcastIndex(const Shape& input, const Shape& output)
    : out_(output), in_stride_(output.size(), 0), identity_(input == output) {
  size_t lead = output.size() - input.size();
  int64_t stride = 1;
  for (int d = static_cast<int>(input.size()) - 1; d >= 0; --d) {
    in_stride_[lead + d] = input[d] == 1 ? 0 : stride;
    stride *= input[d];
  }
  // The run [first, last] of output dims the input varies along; blocked when nothing outside
  // it varies, which holds by construction, and the strides inside are the contiguous ones.
  int nd = static_cast<int>(output.size()), first = nd, last = -1;
  for (int d = 0; d < nd; ++d)
    if (in_stride_[d] != 0) {
      first = std::min(first, d);
      last = d;
    }
  blocked_ = true;
  int64_t expected = 1;
  for (int d = last; d >= first && d >= 0; --d) {
    if (in_stride_[d] != expected && output[d] != 1) blocked_ = false;
    expected *= output[d];
  }
  for (int d = 0; d < nd; ++d) {
    int64_t& part = d < first ? outer_ : (d <= last ? mid_ : inner_);
    part *= output[d];
  }
}

}  // namespace engine
