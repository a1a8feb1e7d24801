// Command-line flags shared by the tools that read Omniglot: where the data
// and the decoded cache are, and which protocol splits the classes.
#ifndef FEWSHOT_TOOLS_OMNIGLOT_FLAGS_H_
#define FEWSHOT_TOOLS_OMNIGLOT_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "core/data/omniglot.h"
#include "core/data/omniglot_protocol.h"

ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(std::string, cache_dir);
ABSL_DECLARE_FLAG(std::string, protocol);
ABSL_DECLARE_FLAG(uint64_t, split_seed);
ABSL_DECLARE_FLAG(int, validation_classes);

namespace fewshot::tools {

// Omniglot options from --data_dir and --cache_dir (each falling back to its
// environment variable, then its default folder), with `preprocessing`.
core::OmniglotOptions OmniglotOptionsFromFlags(
    const core::Preprocessing& preprocessing);

// The protocol from --protocol, --split_seed and --validation_classes;
// INVALID_ARGUMENT for an unknown protocol name.
absl::StatusOr<core::ProtocolOptions> ProtocolOptionsFromFlags();

}  // namespace fewshot::tools

#endif  // FEWSHOT_TOOLS_OMNIGLOT_FLAGS_H_
