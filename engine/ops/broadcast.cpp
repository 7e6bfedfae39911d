// Broadcast shapes and index maps; see broadcast.h.
#include "engine/ops/broadcast.h"

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
}

}  // namespace engine
