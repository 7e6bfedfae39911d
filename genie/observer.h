// What GENIE-D and GENIE-M tell an onlooker while they work (genie/run_trace.h records it for
// `genie run --report`). Each hook receives values the method has already computed, and an
// onlooker may only read: observing draws no random number and adds nothing to the autograd
// graph, so a run with an observer writes the same bytes as one without. Unset hooks are skipped.
#pragma once

#include <functional>
#include <string>

namespace genie {

class QuantizedResNet;

struct Observer {
  // GENIE-D, after the loss of `iteration` (1-based) of batch `batch` (0-based) is computed.
  std::function<void(int batch, int iteration, float bns_loss, float input_loss)> distill_step;
  // GENIE-D, when batch `batch` is finished, before the images file records it.
  std::function<void(int batch)> distill_batch_done;
  // GENIE-M, after the losses of `iteration` (1-based) of `unit` in stage `stage` are computed;
  // `rounding` is 0 before the rounding loss starts.
  std::function<void(int unit, const std::string& stage, int iteration, float reconstruction,
                     float rounding, float beta)>
      reconstruct_step;
  // GENIE-M, before `unit` is reconstructed (its steps are the clip search's) and after,
  // before it is hardened (its soft bits and steps are the learned ones).
  std::function<void(QuantizedResNet&q, int unit)> unit_begin, unit_learned;
};

}  // namespace genie
