// A one-line progress bar on stderr: "label [#####.....] 412/1000 12.3s loss=0.41".
// On a terminal it redraws in place; otherwise (logs, CI) it prints a line at most every few
// seconds and at the end, so long runs show progress without flooding a log.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace engine {

class Progress {
 public:
  Progress(std::string label, int64_t total);
  // Reports `done` of `total` steps, with a free-form status such as "loss=0.41".
  void update(int64_t done, const std::string& status = "");
  // Ends the line (prints the final state once).
  void finish(const std::string& status = "");
  double seconds() const;

 private:
  void draw(int64_t done, const std::string& status, bool final);

  std::string label_;
  int64_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool finished_ = false;
};

}  // namespace engine
