// A plain binary form of AdaptationState, so that a state can be written to
// a log, a file or a shared store and read back exactly, by any process of
// the same format version.
//
// Layout: "FSAS", u32 format version, u64 payload size, the payload (every
// field of the state, strings and tensors length-prefixed, little-endian),
// and a u64 checksum of the payload.
//
// Example:
//   std::string bytes = EncodeAdaptationState(state);
//   absl::StatusOr<AdaptationState> back = DecodeAdaptationState(bytes);
#ifndef FEWSHOT_CORE_ADAPT_STATE_CODEC_H_
#define FEWSHOT_CORE_ADAPT_STATE_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/adapt/adaptation_state.h"

namespace fewshot::core {

// The format this build writes; it reads this version only.
inline constexpr uint32_t kStateFormatVersion = 1;

// REQUIRES: the tensors of `state` are float32 (embeddings, derived) or
// int64 (labels), on the CPU.
std::string EncodeAdaptationState(const AdaptationState& state);

// DATA_LOSS when `bytes` is truncated, corrupted (checksum mismatch) or
// inconsistent (e.g. a class index out of range); FAILED_PRECONDITION for
// another format version.
absl::StatusOr<AdaptationState> DecodeAdaptationState(absl::string_view bytes);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_STATE_CODEC_H_
