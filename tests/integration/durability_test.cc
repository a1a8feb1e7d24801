// Proves the disk store's promise end to end: the real fewshot-server with
// --store=disk is killed with SIGKILL while clients are writing, restarted
// on the same folder, and must still hold every write it acknowledged.
// Loopback only; bounded in requests and time.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/fewshot_client.h"
#include "tests/integration/server_process.h"
#include "tests/tensor_example.h"

namespace fewshot::testing {
namespace {

using ::fewshot::testing::MarkedTensorExample;

// Writer threads, and the adaptations each creates and extends.
constexpr int kWriters = 3;
constexpr int kAdaptationsPerWriter = 6;
constexpr int kAddsPerAdaptation = 4;
// The kill comes once this many writes were acknowledged (or at the
// deadline), so that writes are in flight when it lands.
constexpr int kWritesBeforeKill = 30;

v1::LabeledExample Labeled(const std::string& label, float value, int marker) {
  v1::LabeledExample labeled;
  labeled.set_label(label);
  *labeled.mutable_example() = MarkedTensorExample(value, marker);
  return labeled;
}

// A client with one attempt per call, so that nothing is retried into the
// restarted server.
std::unique_ptr<client::FewShotClient> ConnectOnce(
    const ServerProcess& server) {
  client::ClientOptions options;
  options.target = server.target();
  options.timeout = absl::Seconds(20);
  options.max_attempts = 1;
  absl::StatusOr<std::unique_ptr<client::FewShotClient>> connected =
      client::FewShotClient::Connect(options);
  EXPECT_TRUE(connected.ok()) << connected.status();
  return connected.ok() ? *std::move(connected) : nullptr;
}

// What the clients were told: per adaptation, the examples acknowledged
// and whether one more write was in flight when the server died.
struct Acknowledged {
  int examples = 0;
  int unacknowledged_attempts = 0;
};

TEST(DurabilityTest, KillNineLosesNoAcknowledgedWrite) {
  const std::string store_dir = (std::filesystem::temp_directory_path() /
                                 absl::StrCat("fewshot_durability_", getpid()))
                                    .string();
  std::filesystem::remove_all(store_dir);
  const std::vector<std::string> flags = {
      "--store=disk", "--store_dir=" + store_dir, "--workers=2"};
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(flags);
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = ConnectOnce(**server);
  ASSERT_NE(client, nullptr);

  // Writers: Adapt, then AddExamples repeatedly, recording what was
  // acknowledged. They stop at their first failure (the kill).
  absl::Mutex mutex;
  std::map<std::string, Acknowledged> acknowledged;
  std::atomic<int> writes{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int a = 0; a < kAdaptationsPerWriter; ++a) {
        v1::AdaptRequest adapt;
        *adapt.add_support() = Labeled("x", 0.1f, w * 10 + a);
        *adapt.add_support() = Labeled("y", 0.7f, w * 10 + a);
        absl::StatusOr<v1::AdaptResponse> adapted = client->Adapt(adapt);
        if (!adapted.ok()) return;
        const std::string id = adapted->adaptation_id();
        {
          absl::MutexLock lock(&mutex);
          acknowledged[id].examples = 2;
        }
        ++writes;
        for (int k = 0; k < kAddsPerAdaptation; ++k) {
          v1::AddExamplesRequest add;
          add.set_adaptation_id(id);
          *add.add_examples() = Labeled(absl::StrCat("c", k), 0.4f, k);
          absl::StatusOr<v1::AddExamplesResponse> added =
              client->AddExamples(add);
          absl::MutexLock lock(&mutex);
          if (!added.ok()) {
            ++acknowledged[id].unacknowledged_attempts;
            return;
          }
          acknowledged[id].examples += 1;
          ++writes;
        }
      }
    });
  }

  // Kill mid-load.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (writes.load() < kWritesBeforeKill && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE((*server)->Signal(SIGKILL).ok());
  absl::StatusOr<int> exit_code = (*server)->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 128 + SIGKILL);
  for (std::thread& writer : writers) writer.join();
  ASSERT_GE(writes.load(), kWritesBeforeKill);

  // Restart on the same folder and check every acknowledged write.
  absl::StatusOr<std::unique_ptr<ServerProcess>> restarted =
      ServerProcess::Start(flags);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  auto reader = ConnectOnce(**restarted);
  ASSERT_NE(reader, nullptr);
  int checked = 0;
  for (const auto& [id, expected] : acknowledged) {
    absl::StatusOr<v1::GetAdaptationResponse> info = reader->GetAdaptation(id);
    ASSERT_TRUE(info.ok()) << id << ": " << info.status();
    int examples = 0;
    for (const v1::ClassSummary& summary : info->classes()) {
      examples += summary.examples();
    }
    EXPECT_GE(examples, expected.examples) << id;
    EXPECT_LE(examples, expected.examples + expected.unacknowledged_attempts)
        << id;
    ++checked;
  }
  EXPECT_GE(checked, 1);
  std::cout << "checked " << checked << " adaptations, " << writes.load()
            << " acknowledged writes\n";
  std::filesystem::remove_all(store_dir);
}

}  // namespace
}  // namespace fewshot::testing
