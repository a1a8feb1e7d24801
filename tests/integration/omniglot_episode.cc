// Implements ReadOmniglotEpisode with core::ZipArchive.
#include "tests/integration/omniglot_episode.h"

#include <algorithm>
#include <map>
#include <memory>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/data/zip_archive.h"

namespace fewshot::testing {

absl::StatusOr<PngEpisode> ReadOmniglotEpisode(const std::string& zip_path,
                                               int ways, int shots,
                                               int queries_per_class,
                                               unsigned seed) {
  absl::StatusOr<std::unique_ptr<core::ZipArchive>> zip =
      core::ZipArchive::Open(zip_path);
  if (!zip.ok()) return zip.status();

  // Group the PNG entries by character folder.
  std::map<std::string, std::vector<std::string>> drawings_by_character;
  for (const std::string& name : (*zip)->FileNames()) {
    if (!absl::EndsWith(name, ".png")) continue;
    drawings_by_character[name.substr(0, name.rfind('/'))].push_back(name);
  }
  const size_t needed = static_cast<size_t>(shots + queries_per_class);
  std::vector<std::string> characters;
  for (const auto& [character, drawings] : drawings_by_character) {
    if (drawings.size() >= needed) characters.push_back(character);
  }
  if (characters.size() < static_cast<size_t>(ways)) {
    return absl::FailedPreconditionError(
        absl::StrCat(zip_path, " has ", characters.size(), " characters with ",
                     needed, " drawings; expected at least ", ways));
  }

  // Draw the characters, then each one's drawings.
  std::mt19937 random(seed);
  std::shuffle(characters.begin(), characters.end(), random);
  characters.resize(ways);
  PngEpisode episode;
  for (const std::string& character : characters) {
    std::vector<std::string> drawings = drawings_by_character[character];
    std::shuffle(drawings.begin(), drawings.end(), random);
    for (size_t i = 0; i < needed; ++i) {
      absl::StatusOr<std::string> png = (*zip)->Read(drawings[i]);
      if (!png.ok()) return png.status();
      if (i < static_cast<size_t>(shots)) {
        v1::LabeledExample labeled;
        labeled.set_label(character);
        labeled.mutable_example()->set_image(*std::move(png));
        episode.support.push_back(std::move(labeled));
      } else {
        v1::Example query;
        query.set_image(*std::move(png));
        episode.queries.push_back(std::move(query));
        episode.query_labels.push_back(character);
      }
    }
  }
  return episode;
}

}  // namespace fewshot::testing
