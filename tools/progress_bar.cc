// Progress bar rendering.
#include "tools/progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_format.h"

namespace fewshot::tools {
namespace {

constexpr int kBarWidth = 24;

}  // namespace

std::string FormatDuration(double seconds) {
  const int64_t total = static_cast<int64_t>(std::max(0.0, seconds));
  return absl::StrFormat("%d:%02d:%02d", total / 3600, (total / 60) % 60,
                         total % 60);
}

ProgressBar::ProgressBar(int64_t total, int lines_when_piped)
    : total_(std::max<int64_t>(total, 1)),
      piped_every_(std::max<int64_t>(1, total_ / std::max(1, lines_when_piped))),
      terminal_(isatty(fileno(stderr)) != 0) {}

void ProgressBar::Update(int64_t done, double rate,
                         const std::string& detail) {
  if (!terminal_ && done % piped_every_ != 0 && done != total_) return;

  const int filled = static_cast<int>(kBarWidth * done / total_);
  const std::string bar =
      std::string(filled, '#') + std::string(kBarWidth - filled, '.');
  const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
  const std::string line = absl::StrFormat(
      "[%s] %d/%d %5.1f%% %.2f/s ETA %s %s", bar, done, total_,
      100.0 * done / total_, rate, FormatDuration(eta), detail);
  std::fprintf(stderr, terminal_ ? "\r%s\033[K" : "%s\n", line.c_str());
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (terminal_) std::fprintf(stderr, "\n");
}

}  // namespace fewshot::tools
