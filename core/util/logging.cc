// Writes FEWSHOT_LOG messages to stderr.
#include "core/util/logging.h"

#include <cstring>
#include <iostream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fewshot::core {
namespace {

// One letter per severity, as in the line prefix "I1204 15:57:09".
char SeverityLetter(LogSeverity severity) {
  switch (severity) {
    case LogSeverity::kInfo:
      return 'I';
    case LogSeverity::kWarning:
      return 'W';
    case LogSeverity::kError:
      return 'E';
  }
  return '?';
}

}  // namespace

LogMessage::LogMessage(LogSeverity severity, const char* file, int line)
    : severity_(severity) {
  const char* base = std::strrchr(file, '/');
  stream_ << SeverityLetter(severity)
          << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                              absl::UTCTimeZone())
          << ' ' << (base != nullptr ? base + 1 : file) << ':' << line
          << "] ";
}

LogMessage::~LogMessage() {
  stream_ << '\n';
  std::cerr << stream_.str() << std::flush;
}

}  // namespace fewshot::core
