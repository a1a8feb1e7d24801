// Minimal leveled logging to stderr, one line per message with a UTC
// timestamp. Abseil's logging library is newer than the Debian 12 Abseil.
//
// Example:
//   FEWSHOT_LOG(INFO) << "listening on " << address;
#ifndef FEWSHOT_CORE_UTIL_LOGGING_H_
#define FEWSHOT_CORE_UTIL_LOGGING_H_

#include <sstream>

namespace fewshot::core {

enum class LogSeverity { kInfo, kWarning, kError };

// Collects one message and writes it, whole, when destroyed.
class LogMessage {
 public:
  LogMessage(LogSeverity severity, const char* file, int line);
  ~LogMessage();

  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;

  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  std::ostringstream stream_;
};

}  // namespace fewshot::core

#define FEWSHOT_LOG_SEVERITY_INFO ::fewshot::core::LogSeverity::kInfo
#define FEWSHOT_LOG_SEVERITY_WARNING ::fewshot::core::LogSeverity::kWarning
#define FEWSHOT_LOG_SEVERITY_ERROR ::fewshot::core::LogSeverity::kError

#define FEWSHOT_LOG(severity)                                             \
  ::fewshot::core::LogMessage(FEWSHOT_LOG_SEVERITY_##severity, __FILE__, \
                              __LINE__)                                  \
      .stream()

#endif  // FEWSHOT_CORE_UTIL_LOGGING_H_
