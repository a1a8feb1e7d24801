// Runs the fewshot-bench load tool against the real server on loopback and
// reads its JSON report: unary Predict and StreamPredict messages at two
// concurrency levels, every call answered, none failed.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/server_process.h"
#include "tests/program_runner.h"
#include "tests/test_environment.h"

namespace fewshot::testing {
namespace {

TEST(BenchToolTest, ReportsUnaryStreamedAndSentAheadPredictWithoutErrors) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start({"--workers=2"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::filesystem::path dir = FreshTestDir("bench_tool_");
  const std::filesystem::path report = dir / "report.json";
  const std::filesystem::path log = dir / "bench.log";

  const std::string examples = ExamplesDir() + "/omniglot";
  const std::string command = absl::StrCat(
      BinaryPath("fewshot-bench"), " --target=", (*server)->target(),
      " --rpc=predict,stream_predict,stream_ahead --concurrency=1,4",
      " --requests=40 --queries=3 --stream_messages=5 --input=tensor",
      " --format=json ", examples, "/support ", examples, "/queries > ",
      report.string(), " 2> ", log.string());
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << ReadTextFile(log);
  ASSERT_EQ(WEXITSTATUS(status), 0) << ReadTextFile(log);

  const nlohmann::json parsed =
      nlohmann::json::parse(ReadTextFile(report), nullptr,
                            /*allow_exceptions=*/false);
  ASSERT_FALSE(parsed.is_discarded()) << ReadTextFile(report);
  const nlohmann::json& rows = parsed["results"];
  ASSERT_EQ(rows.size(), 6u) << parsed.dump(2);
  const char* const expected_rpcs[] = {"predict",        "predict",
                                       "stream_predict", "stream_predict",
                                       "stream_ahead",   "stream_ahead"};
  const int expected_levels[] = {1, 4, 1, 4, 1, 4};
  // A stream_ahead call is a stream of 5 messages of 3 queries.
  const int expected_images[] = {3, 3, 3, 3, 15, 15};
  for (int i = 0; i < 6; ++i) {
    SCOPED_TRACE(rows[i].dump());
    EXPECT_EQ(rows[i]["rpc"], expected_rpcs[i]);
    EXPECT_EQ(rows[i]["concurrency"], expected_levels[i]);
    EXPECT_EQ(rows[i]["ok"], 40);
    EXPECT_TRUE(rows[i]["errors"].empty());
    EXPECT_EQ(rows[i]["images_per_call"], expected_images[i]);
    EXPECT_GT(rows[i]["p50_ms"].get<double>(), 0.0);
  }
}

}  // namespace
}  // namespace fewshot::testing
