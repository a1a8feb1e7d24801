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
ABSL_FLAG(std::string, protocol, "alphabet",
          "How classes split: alphabet (test on the 20 unseen evaluation "
          "alphabets) or character (seeded 1200/423 split of all 1623 "
          "characters)");
ABSL_FLAG(uint64_t, split_seed, 1,
          "Seed of the character split and of the validation classes");
ABSL_FLAG(int, validation_classes, 0,
          "Training classes held out for validation (never trained on)");

namespace fewshot::tools {

core::OmniglotOptions OmniglotOptionsFromFlags(
    const core::Preprocessing& preprocessing) {
  core::OmniglotOptions options;
  options.data_dir = core::ResolveOmniglotDir(absl::GetFlag(FLAGS_data_dir));
  options.cache_dir = core::ResolveCacheDir(absl::GetFlag(FLAGS_cache_dir));
  options.preprocessing = preprocessing;
  return options;
}

absl::StatusOr<core::ProtocolOptions> ProtocolOptionsFromFlags() {
  core::ProtocolOptions options;
  absl::StatusOr<core::OmniglotProtocol> protocol =
      core::ParseOmniglotProtocol(absl::GetFlag(FLAGS_protocol));
  if (!protocol.ok()) return protocol.status();
  options.protocol = *protocol;
  options.split_seed = absl::GetFlag(FLAGS_split_seed);
  options.validation_classes = absl::GetFlag(FLAGS_validation_classes);
  return options;
}

}  // namespace fewshot::tools
