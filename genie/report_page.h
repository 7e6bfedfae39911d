// The page about a run (`genie run --report DIR`, `genie report OUT_DIR DIR`): one
// self-contained HTML file, DIR/index.html, built from what the run recorded in OUT_DIR
// (genie/run_trace.h) and its files (fp32.gw, distilled_<budget>.gwt). Images are PNG data
// URIs, plots inline SVG; the page has no script and loads nothing (its Content-Security-Policy
// forbids it too). It shows: the result table; distilled images beside real test images;
// GENIE-D's BN-statistics loss per batch; per unit, the reconstruction and rounding losses and
// beta; per layer, the share of weights rounded away from nearest, the learned weight steps
// against the clip search's, and the histogram of h(V) just before hardening.
#pragma once

#include <string>

namespace genie {

// Throws engine::FileError naming the first missing or malformed file.
void write_report(const std::string& out_dir, const std::string& report_dir);

}  // namespace genie
