// Command-line flags shared by the tools that read Omniglot: where the data
// and the decoded cache are.
#ifndef FEWSHOT_TOOLS_OMNIGLOT_FLAGS_H_
#define FEWSHOT_TOOLS_OMNIGLOT_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "core/data/omniglot.h"

ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(std::string, cache_dir);

namespace fewshot::tools {

// Omniglot options from --data_dir and --cache_dir (each falling back to its
// environment variable, then its default folder), with `preprocessing`.
core::OmniglotOptions OmniglotOptionsFromFlags(
    const core::Preprocessing& preprocessing);

}  // namespace fewshot::tools

#endif  // FEWSHOT_TOOLS_OMNIGLOT_FLAGS_H_
