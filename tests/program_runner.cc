// Implements the program runs described in program_runner.h.
#include "tests/program_runner.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/test_environment.h"

namespace fewshot::testing {

std::filesystem::path FreshTestDir(const std::string& prefix) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) /
      absl::StrCat(
          prefix,
          ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

int RunProgram(const std::string& program, const std::string& flags,
               const std::filesystem::path& log_path) {
  const std::string command =
      absl::StrCat(BinaryPath(program), " --data_dir=", OmniglotDir(),
                   " --cache_dir=", CacheDir(), " ", flags, " > ",
                   log_path.string(), " 2>&1");
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadTextFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace fewshot::testing
