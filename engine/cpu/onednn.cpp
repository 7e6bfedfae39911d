#include "engine/cpu/onednn.h"

namespace engine::cpu {

OneDnn& onednn() {
  static OneDnn context;
  return context;
}

}  // namespace engine::cpu
