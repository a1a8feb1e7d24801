// Tests the c10d + Gloo gradient averager with real workers over loopback
// TCP: one thread each, with its own Gloo process group. The threads meet
// through one in-process store, because LibTorch 1.13's TCPStore server
// would listen on all interfaces; a TCPStore client is tested alone.
#include "core/train/gradient_averager.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <vector>

#include "tests/loopback_port.h"

namespace fewshot::core {
namespace {

DistributedOptions LoopbackOptions(int rank, int world_size, int port) {
  DistributedOptions options;
  options.rank = rank;
  options.world_size = world_size;
  options.address = "127.0.0.1";
  options.port = port;
  options.rendezvous_timeout = absl::Seconds(30);
  options.step_timeout = absl::Seconds(30);
  return options;
}

// Runs `work` on `world_size` threads, each a worker with its own averager,
// and returns each worker's status (creation or work).
std::vector<absl::Status> RunWorkers(
    int world_size,
    const std::function<absl::Status(GradientAverager&)>& work) {
  const auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<absl::Status> statuses(world_size);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      absl::StatusOr<std::unique_ptr<GradientAverager>> averager =
          GradientAverager::CreateWithStore(
              LoopbackOptions(rank, world_size, 29500), store);
      statuses[rank] = averager.ok() ? work(**averager) : averager.status();
    });
  }
  for (std::thread& thread : threads) thread.join();
  return statuses;
}

TEST(GradientAveragerTest, RefusesBadRankWorldSizeAndPort) {
  EXPECT_EQ(
      GradientAverager::Create(LoopbackOptions(0, 0, 29500)).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      GradientAverager::Create(LoopbackOptions(-1, 2, 29500)).status().code(),
      absl::StatusCode::kInvalidArgument);
  const absl::Status too_high =
      GradientAverager::Create(LoopbackOptions(2, 2, 29500)).status();
  EXPECT_EQ(too_high.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_high.message().find("[0, 1]"), std::string::npos) << too_high;
  EXPECT_EQ(GradientAverager::Create(LoopbackOptions(0, 2, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      GradientAverager::Create(LoopbackOptions(0, 2, 70000)).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(GradientAveragerTest, MissingRankZeroIsADeadlineNamingTheAddress) {
  const absl::StatusOr<int> free_port = testing::PickFreePort();
  ASSERT_TRUE(free_port.ok()) << free_port.status();
  const int port = *free_port;
  DistributedOptions options = LoopbackOptions(1, 2, port);
  options.rendezvous_timeout = absl::Seconds(1);
  const absl::Status status = GradientAverager::Create(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << status;
}

TEST(GradientAveragerTest, MissingPeerIsADeadlineNamingTheAddress) {
  DistributedOptions options = LoopbackOptions(0, 2, 29500);
  options.rendezvous_timeout = absl::Seconds(1);
  const absl::Status status =
      GradientAverager::CreateWithStore(options,
                                        c10::make_intrusive<c10d::HashStore>())
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("127.0.0.1:29500"), std::string::npos)
      << status;
}

TEST(GradientAveragerTest, AveragesGradientsAndFloatTensors) {
  constexpr int kWorkers = 2;
  std::vector<torch::Tensor> grads(kWorkers), extras(kWorkers),
      counts(kWorkers);
  const std::vector<absl::Status> statuses =
      RunWorkers(kWorkers, [&](GradientAverager& averager) {
        const int rank = averager.rank();
        torch::Tensor weight = torch::zeros({2, 3}, torch::requires_grad());
        torch::Tensor bias = torch::zeros({3}, torch::requires_grad());
        weight.mutable_grad() =
            torch::arange(6, torch::kFloat32).view({2, 3}) * (rank + 1);
        // `bias` has no gradient: it counts as zero.
        extras[rank] =
            torch::tensor({1.0 + rank, 10.0 * rank}, torch::kFloat64);
        counts[rank] = torch::tensor({7 + rank}, torch::kInt64);
        const absl::Status status = averager.AverageGradients(
            {weight, bias}, {extras[rank], counts[rank]});
        grads[rank] = torch::cat({weight.grad().view(-1), bias.grad()});
        return status;
      });
  for (const absl::Status& status : statuses)
    ASSERT_TRUE(status.ok()) << status;

  // Mean of 1x and 2x the pattern is 1.5x; the bias stays zero.
  const torch::Tensor expected =
      torch::cat({torch::arange(6, torch::kFloat32) * 1.5, torch::zeros({3})});
  for (int rank = 0; rank < kWorkers; ++rank) {
    EXPECT_TRUE(torch::equal(grads[rank], expected)) << grads[rank];
    EXPECT_TRUE(
        torch::equal(extras[rank], torch::tensor({1.5, 5.0}, torch::kFloat64)))
        << extras[rank];
    EXPECT_EQ(counts[rank].item<int64_t>(), 7 + rank);  // Not averaged.
  }
}

TEST(GradientAveragerTest, BroadcastGivesEveryWorkerRankZerosValues) {
  constexpr int kWorkers = 2;
  std::vector<torch::Tensor> floats(kWorkers), longs(kWorkers);
  const std::vector<absl::Status> statuses =
      RunWorkers(kWorkers, [&](GradientAverager& averager) {
        const int rank = averager.rank();
        floats[rank] = torch::full({4, 2}, 3.25f + rank);
        longs[rank] = torch::full({3}, 40 + rank, torch::kInt64);
        return averager.BroadcastParameters({floats[rank], longs[rank]});
      });
  for (const absl::Status& status : statuses)
    ASSERT_TRUE(status.ok()) << status;
  for (int rank = 0; rank < kWorkers; ++rank) {
    EXPECT_TRUE(torch::equal(floats[rank], torch::full({4, 2}, 3.25f)));
    EXPECT_TRUE(torch::equal(longs[rank], torch::full({3}, 40, torch::kInt64)));
  }
}

TEST(GradientAveragerTest, AWorkerLeavingFailsTheOthersWithoutHanging) {
  const std::vector<absl::Status> statuses =
      RunWorkers(2, [&](GradientAverager& averager) -> absl::Status {
        if (averager.rank() == 1) return absl::OkStatus();  // Leaves.
        torch::Tensor weight = torch::ones({5}, torch::requires_grad());
        weight.mutable_grad() = torch::ones({5});
        absl::Status status;
        // The first exchanges may still reach the leaving worker's
        // connection before it closes; it must fail soon after.
        for (int step = 0; step < 100 && status.ok(); ++step) {
          status = averager.AverageGradients({weight});
        }
        return status;
      });
  EXPECT_TRUE(statuses[1].ok());
  EXPECT_TRUE(statuses[0].code() == absl::StatusCode::kUnavailable ||
              statuses[0].code() == absl::StatusCode::kDeadlineExceeded)
      << statuses[0];
}

}  // namespace
}  // namespace fewshot::core
