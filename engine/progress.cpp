// Progress bar; see progress.h.
#include "engine/progress.h"

#include <unistd.h>

#include <cstdio>

namespace engine {

namespace {
constexpr int kWidth = 24;
constexpr double kLogInterval = 5.0;  // seconds between lines when not on a terminal
constexpr double kTtyInterval = 0.1;  // seconds between redraws on a terminal
}  // namespace

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)),
      total_(total > 0 ? total : 1),
      tty_(isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::hours(1)) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done, const std::string& status) {
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since < (tty_ ? kTtyInterval : kLogInterval)) return;
  last_draw_ = now;
  draw(done, status, false);
}

void Progress::finish(const std::string& status) {
  if (finished_) return;
  finished_ = true;
  draw(total_, status, true);
}

void Progress::draw(int64_t done, const std::string& status, bool final) {
  int filled = static_cast<int>(kWidth * done / total_);
  std::string bar(filled, '#');
  bar += std::string(kWidth - filled, '.');
  std::fprintf(stderr, "%s%s [%s] %lld/%lld %.1fs %s%s", tty_ ? "\r\033[K" : "", label_.c_str(),
               bar.c_str(), static_cast<long long>(done), static_cast<long long>(total_), seconds(),
               status.c_str(), (final || !tty_) ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace engine
