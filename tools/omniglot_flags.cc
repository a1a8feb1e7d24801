// Defines the Omniglot location flags shared by fewshot-train and
// fewshot-eval.
#include "tools/omniglot_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, data_dir, "",
          "Folder with the Omniglot zips (default $FEWSHOT_OMNIGLOT_DIR, "
          "else ../shared/data/omniglot)");
ABSL_FLAG(std::string, cache_dir, "",
          "Folder for the decoded data cache (default $FEWSHOT_CACHE_DIR, "
          "else .cache)");

namespace fewshot::tools {

core::OmniglotOptions OmniglotOptionsFromFlags(
    const core::Preprocessing& preprocessing) {
  core::OmniglotOptions options;
  options.data_dir = core::ResolveOmniglotDir(absl::GetFlag(FLAGS_data_dir));
  options.cache_dir = core::ResolveCacheDir(absl::GetFlag(FLAGS_cache_dir));
  options.preprocessing = preprocessing;
  return options;
}

}  // namespace fewshot::tools
