// Runs the project's command-line programs end to end on the test data,
// as a user would, for tests of their flags and outputs.
#ifndef FEWSHOT_TESTS_PROGRAM_RUNNER_H_
#define FEWSHOT_TESTS_PROGRAM_RUNNER_H_

#include <filesystem>
#include <string>

namespace fewshot::testing {

// An empty scratch folder named `prefix` plus the current test's name, so
// that ctest may run tests side by side. Any earlier one is removed.
std::filesystem::path FreshTestDir(const std::string& prefix);

// Runs the built `program` with --data_dir and --cache_dir set to the test
// data, then `flags`; its output goes to `log_path`. Returns the exit code,
// or -1 when the program did not exit by itself.
int RunProgram(const std::string& program, const std::string& flags,
               const std::filesystem::path& log_path);

// The contents of the file at `path`; empty when it cannot be read.
std::string ReadTextFile(const std::filesystem::path& path);

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_PROGRAM_RUNNER_H_
