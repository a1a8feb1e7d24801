// Tests reading support folders and query files from disk.
#include "client/image_files.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_environment.h"

namespace fewshot::client {
namespace {

namespace fs = std::filesystem;

using ::testing::HasSubstr;

// The start of a valid PNG file; enough for the client, which only checks
// the signature.
constexpr char kPngBytes[] = "\x89PNG\r\n\x1a\nrest";

// A fresh folder per test, removed afterwards.
class ImageFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::path(::testing::TempDir()) /
            (std::string("image_files_test_") + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }

  void TearDown() override { fs::remove_all(root_); }

  // Writes `bytes` to `relative` below the test folder and returns its path.
  fs::path WriteFile(const std::string& relative, const std::string& bytes) {
    fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  fs::path root_;
};

TEST_F(ImageFilesTest, ReadsExampleSupportFolderInNameOrder) {
  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(fewshot::testing::ExamplesDir() + "/omniglot/support");

  ASSERT_TRUE(support.ok()) << support.status();
  ASSERT_EQ(support->size(), 25);
  EXPECT_EQ((*support)[0].label(), "Atlantean_character05");
  EXPECT_EQ((*support)[4].label(), "Atlantean_character05");
  EXPECT_EQ((*support)[5].label(), "Ge_ez_character03");
  EXPECT_EQ((*support)[24].label(), "Tengwar_character02");
  for (const v1::LabeledExample& example : *support) {
    EXPECT_THAT(example.example().image(), ::testing::StartsWith("\x89PNG"));
  }
}

TEST_F(ImageFilesTest, LabelsComeFromClassFolders) {
  WriteFile("b/2.png", kPngBytes);
  WriteFile("a/1.png", kPngBytes);
  WriteFile("a/0.PNG", kPngBytes);

  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(root_.string());

  ASSERT_TRUE(support.ok()) << support.status();
  ASSERT_EQ(support->size(), 3);
  EXPECT_EQ((*support)[0].label(), "a");
  EXPECT_EQ((*support)[1].label(), "a");
  EXPECT_EQ((*support)[2].label(), "b");
  EXPECT_EQ((*support)[0].example().image(), kPngBytes);
}

TEST_F(ImageFilesTest, SkipsHiddenEntries) {
  WriteFile("a/1.png", kPngBytes);
  WriteFile("a/.DS_Store", "junk");
  WriteFile(".git/config", "junk");

  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(root_.string());

  ASSERT_TRUE(support.ok()) << support.status();
  EXPECT_EQ(support->size(), 1);
}

TEST_F(ImageFilesTest, MissingSupportFolderIsNotFound) {
  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder((root_ / "missing").string());

  EXPECT_EQ(support.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(support.status().message(), HasSubstr("missing"));
}

TEST_F(ImageFilesTest, EmptySupportFolderIsInvalid) {
  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(root_.string());

  EXPECT_EQ(support.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ImageFilesTest, SupportFileInsteadOfFolderIsInvalid) {
  const fs::path file = WriteFile("a.png", kPngBytes);

  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(file.string());

  EXPECT_EQ(support.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ImageFilesTest, FileBesideClassFoldersIsInvalid) {
  WriteFile("a/1.png", kPngBytes);
  WriteFile("stray.png", kPngBytes);

  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(root_.string());

  EXPECT_EQ(support.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(support.status().message(), HasSubstr("stray.png"));
}

TEST_F(ImageFilesTest, EmptyClassFolderIsInvalid) {
  WriteFile("a/1.png", kPngBytes);
  fs::create_directories(root_ / "b");

  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(root_.string());

  EXPECT_EQ(support.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(support.status().message(), HasSubstr("no .png files"));
}

TEST_F(ImageFilesTest, NonPngNameInSupportIsInvalid) {
  WriteFile("a/1.png", kPngBytes);
  WriteFile("a/notes.txt", "text");

  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(root_.string());

  EXPECT_EQ(support.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(support.status().message(), HasSubstr("notes.txt"));
}

TEST_F(ImageFilesTest, EmptyPngInSupportIsInvalid) {
  WriteFile("a/1.png", "");

  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(root_.string());

  EXPECT_EQ(support.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(support.status().message(), HasSubstr("empty"));
}

TEST_F(ImageFilesTest, ReadsExampleQueryFolderWithPaths) {
  const std::string queries_dir =
      fewshot::testing::ExamplesDir() + "/omniglot/queries";

  absl::StatusOr<std::vector<QueryFile>> queries =
      ReadQueryFiles({queries_dir});

  ASSERT_TRUE(queries.ok()) << queries.status();
  ASSERT_EQ(queries->size(), 10);
  EXPECT_THAT((*queries)[0].path,
              HasSubstr("queries/Atlantean_character05_11.png"));
  EXPECT_THAT((*queries)[9].path,
              HasSubstr("queries/Tengwar_character02_16.png"));
  EXPECT_THAT((*queries)[0].example.image(), ::testing::StartsWith("\x89PNG"));
}

TEST_F(ImageFilesTest, KeepsArgumentOrderAndRecursesIntoFolders) {
  const fs::path single = WriteFile("z.png", kPngBytes);
  WriteFile("dir/b.png", kPngBytes);
  WriteFile("dir/a/c.png", kPngBytes);

  absl::StatusOr<std::vector<QueryFile>> queries =
      ReadQueryFiles({single.string(), (root_ / "dir").string()});

  ASSERT_TRUE(queries.ok()) << queries.status();
  ASSERT_EQ(queries->size(), 3);
  EXPECT_EQ((*queries)[0].path, single.string());
  EXPECT_EQ((*queries)[1].path, (root_ / "dir" / "a" / "c.png").string());
  EXPECT_EQ((*queries)[2].path, (root_ / "dir" / "b.png").string());
}

TEST_F(ImageFilesTest, NoQueryPathsIsInvalid) {
  absl::StatusOr<std::vector<QueryFile>> queries = ReadQueryFiles({});

  EXPECT_EQ(queries.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ImageFilesTest, MissingQueryIsNotFound) {
  absl::StatusOr<std::vector<QueryFile>> queries =
      ReadQueryFiles({(root_ / "missing.png").string()});

  EXPECT_EQ(queries.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ImageFilesTest, EmptyQueryFolderIsInvalid) {
  fs::create_directories(root_ / "empty");

  absl::StatusOr<std::vector<QueryFile>> queries =
      ReadQueryFiles({(root_ / "empty").string()});

  EXPECT_EQ(queries.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ImageFilesTest, NonPngQueryNameIsInvalid) {
  const fs::path file = WriteFile("image.jpg", kPngBytes);

  absl::StatusOr<std::vector<QueryFile>> queries =
      ReadQueryFiles({file.string()});

  EXPECT_EQ(queries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(queries.status().message(), HasSubstr("image.jpg"));
}

TEST_F(ImageFilesTest, EmptyQueryFileIsInvalid) {
  const fs::path file = WriteFile("empty.png", "");

  absl::StatusOr<std::vector<QueryFile>> queries =
      ReadQueryFiles({file.string()});

  EXPECT_EQ(queries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(queries.status().message(), HasSubstr("empty"));
}

TEST_F(ImageFilesTest, PngNameWithOtherContentIsInvalid) {
  const fs::path file = WriteFile("fake.png", "GIF89a");

  absl::StatusOr<std::vector<QueryFile>> queries =
      ReadQueryFiles({file.string()});

  EXPECT_EQ(queries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(queries.status().message(), HasSubstr("PNG signature"));
}

}  // namespace
}  // namespace fewshot::client
