// A one-line terminal progress bar with rate and ETA for the command-line
// tools. On a terminal it redraws in place; otherwise it prints a line now
// and then so that logs stay readable.
#ifndef FEWSHOT_TOOLS_PROGRESS_BAR_H_
#define FEWSHOT_TOOLS_PROGRESS_BAR_H_

#include <cstdint>
#include <string>

namespace fewshot::tools {

class ProgressBar {
 public:
  // `total` steps; `lines_when_piped` lines are printed over the whole run
  // when stderr is not a terminal.
  explicit ProgressBar(int64_t total, int lines_when_piped = 50);

  // Shows `done` steps, `rate` steps per second and a free-form `detail`.
  void Update(int64_t done, double rate, const std::string& detail);

  // Ends the line.
  void Finish();

 private:
  int64_t total_;
  int64_t piped_every_;
  bool terminal_;
};

// Formats seconds as H:MM:SS.
std::string FormatDuration(double seconds);

}  // namespace fewshot::tools

#endif  // FEWSHOT_TOOLS_PROGRESS_BAR_H_
