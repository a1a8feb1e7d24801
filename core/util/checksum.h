// A fast non-cryptographic 64-bit checksum (FNV-1a) for detecting damaged
// stored bytes and for fingerprinting weights; not for security.
#ifndef FEWSHOT_CORE_UTIL_CHECKSUM_H_
#define FEWSHOT_CORE_UTIL_CHECKSUM_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace fewshot::core {

inline constexpr uint64_t kChecksumSeed = 14695981039346656037ull;

// Folds `bytes` into `checksum` (start from kChecksumSeed).
inline uint64_t ExtendChecksum(uint64_t checksum, absl::string_view bytes) {
  for (const char byte : bytes) {
    checksum ^= static_cast<uint8_t>(byte);
    checksum *= 1099511628211ull;
  }
  return checksum;
}

inline uint64_t Checksum(absl::string_view bytes) {
  return ExtendChecksum(kChecksumSeed, bytes);
}

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_UTIL_CHECKSUM_H_
