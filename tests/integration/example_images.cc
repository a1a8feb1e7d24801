// Implements ReadExampleClasses with std::filesystem: the support folder
// holds one folder per class, the queries folder files named
// <class>_<drawer>.png.
#include "tests/integration/example_images.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace fewshot::testing {
namespace {

namespace fs = std::filesystem;

// The bytes of the file at `path`, or NOT_FOUND.
absl::StatusOr<std::string> ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The .png files in `folder` whose names start with `prefix`, sorted.
std::vector<fs::path> PngsIn(const fs::path& folder,
                             const std::string& prefix) {
  std::vector<fs::path> paths;
  std::error_code error;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (absl::EndsWith(name, ".png") && absl::StartsWith(name, prefix)) {
      paths.push_back(entry.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace

absl::StatusOr<std::vector<ExampleClass>> ReadExampleClasses(
    const std::string& examples_dir) {
  const fs::path root = fs::path(examples_dir) / "omniglot";
  const fs::path support_root = root / "support";
  std::error_code error;
  std::vector<fs::path> class_folders;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(support_root, error)) {
    if (entry.is_directory()) class_folders.push_back(entry.path());
  }
  if (error || class_folders.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no class folders in ", support_root.string()));
  }
  std::sort(class_folders.begin(), class_folders.end());

  std::vector<ExampleClass> classes;
  for (const fs::path& folder : class_folders) {
    ExampleClass example_class;
    example_class.label = folder.filename().string();
    for (const fs::path& png : PngsIn(folder, "")) {
      absl::StatusOr<std::string> bytes = ReadBytes(png);
      if (!bytes.ok()) return bytes.status();
      example_class.support_pngs.push_back(*std::move(bytes));
    }
    for (const fs::path& png :
         PngsIn(root / "queries", example_class.label + "_")) {
      absl::StatusOr<std::string> bytes = ReadBytes(png);
      if (!bytes.ok()) return bytes.status();
      example_class.query_pngs.push_back(*std::move(bytes));
    }
    if (example_class.support_pngs.empty() ||
        example_class.query_pngs.empty()) {
      return absl::NotFoundError(absl::StrCat("class ", example_class.label,
                                              " has no support or query PNGs"));
    }
    classes.push_back(std::move(example_class));
  }
  return classes;
}

v1::Example PngExample(const std::string& png) {
  v1::Example example;
  example.set_image(png);
  return example;
}

v1::LabeledExample LabeledPng(const std::string& label,
                              const std::string& png) {
  v1::LabeledExample labeled;
  labeled.set_label(label);
  *labeled.mutable_example() = PngExample(png);
  return labeled;
}

}  // namespace fewshot::testing
