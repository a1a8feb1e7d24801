// Tests the Redis adaptation store against a real redis-server (from the
// Debian package) that the test starts on a free loopback port, and two
// server replicas sharing it. Skipped when redis-server is not installed
// or the build has no Redis client.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"
#include "server/server.h"
#include "tests/loopback_port.h"
#include "tests/server/random_bundle.h"
#ifdef FEWSHOT_HAVE_REDIS
#include "server/redis_adaptation_store.h"
#endif

namespace fewshot::server {
namespace {

constexpr char kRedisServer[] = "/usr/bin/redis-server";

// A redis-server child on a free loopback port, without persistence,
// stopped when the test ends.
class RedisProcess {
 public:
  ~RedisProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Starts it and waits up to 10 s for it to accept connections.
  bool Start() {
    const absl::StatusOr<int> free_port = testing::PickFreePort();
    if (!free_port.ok()) return false;
    port_ = *free_port;
    const std::string port = absl::StrCat(port_);
    pid_ = fork();
    if (pid_ == 0) {
      execl(kRedisServer, kRedisServer, "--port", port.c_str(), "--bind",
            "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel",
            "warning", static_cast<char*>(nullptr));
      _exit(127);
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(port_);
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const bool up = connect(fd, reinterpret_cast<sockaddr*>(&address),
                              sizeof(address)) == 0;
      close(fd);
      if (up) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// A [1, 28, 28] tensor example: all pixels `value` but one marker pixel.
v1::LabeledExample Labeled(const std::string& label, float value, int marker) {
  v1::LabeledExample labeled;
  labeled.set_label(label);
  v1::FloatTensor* tensor = labeled.mutable_example()->mutable_tensor();
  for (int dim : {1, 28, 28}) tensor->add_shape(dim);
  for (int i = 0; i < 28 * 28; ++i) {
    tensor->add_values(i == marker ? 1.0f : value);
  }
  return labeled;
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
  return context;
}

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef FEWSHOT_HAVE_REDIS
    GTEST_SKIP() << "this build has no Redis client (install libhiredis-dev "
                    "and reconfigure)";
#endif
    if (access(kRedisServer, X_OK) != 0) {
      GTEST_SKIP() << kRedisServer
                   << " is not installed (Debian package redis-server)";
    }
    ASSERT_TRUE(redis_.Start()) << "redis-server did not start";
  }

  RedisProcess redis_;
};

#ifdef FEWSHOT_HAVE_REDIS
TEST_F(RedisStoreTest, PutGetUpdateDelete) {
  RedisAdaptationStoreOptions options;
  options.port = redis_.port();
  absl::StatusOr<std::unique_ptr<RedisAdaptationStore>> store =
      RedisAdaptationStore::Connect(options);
  ASSERT_TRUE(store.ok()) << store.status();

  auto state = std::make_shared<core::AdaptationState>();
  state->method = "first";
  state->labels = {"a", "b"};
  state->support_embeddings = torch::ones({2, 3});
  state->support_labels = torch::tensor({0, 1}, torch::kInt64);
  state->example_ids = {0, 1};
  absl::StatusOr<std::string> id = (*store)->Put(state);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ((*store)->size(), 1);

  auto next = std::make_shared<core::AdaptationState>(*state);
  next->method = "second";
  next->revision = 1;
  ASSERT_TRUE((*store)->Update(*id, next, 0).ok());
  EXPECT_EQ((*store)->Update(*id, next, 0).code(), absl::StatusCode::kAborted);
  absl::StatusOr<std::shared_ptr<const core::AdaptationState>> found =
      (*store)->Get(*id);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ((*found)->method, "second");
  EXPECT_TRUE(torch::equal((*found)->support_embeddings, torch::ones({2, 3})));

  ASSERT_TRUE((*store)->Delete(*id).ok());
  EXPECT_EQ((*store)->Get(*id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->Delete(*id).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->size(), 0);
}
#endif

TEST_F(RedisStoreTest, TwoReplicasShareAdaptations) {
  const std::string bundle_dir = (std::filesystem::temp_directory_path() /
                                  absl::StrCat("redis_store_test_", getpid()))
                                     .string();
  ASSERT_TRUE(testing::SaveRandomBundle(bundle_dir).ok());

  // Two replicas on one Redis.
  std::vector<std::unique_ptr<Server>> replicas;
  std::vector<std::unique_ptr<v1::FewShot::Stub>> stubs;
  for (int r = 0; r < 2; ++r) {
    ServerOptions options;
    options.address = "127.0.0.1:0";
    options.metrics_address = "";
    options.model_dir = bundle_dir;
    options.workers = 1;
    options.store = "redis";
    options.redis_address = redis_.address();
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::BuildAndStart(options);
    ASSERT_TRUE(server.ok()) << server.status();
    stubs.push_back(v1::FewShot::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                            grpc::InsecureChannelCredentials())));
    replicas.push_back(*std::move(server));
  }

  // Adapt on one, predict on the other.
  v1::AdaptRequest adapt;
  *adapt.add_support() = Labeled("a", 0.0f, 100);
  *adapt.add_support() = Labeled("b", 0.6f, 100);
  v1::AdaptResponse adapted;
  ASSERT_TRUE(stubs[0]->Adapt(Context().get(), adapt, &adapted).ok());
  v1::PredictRequest predict;
  predict.set_adaptation_id(adapted.adaptation_id());
  *predict.add_queries() = Labeled("b", 0.6f, 100).example();
  v1::PredictResponse predicted;
  grpc::Status status = stubs[1]->Predict(Context().get(), predict, &predicted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(predicted.predictions(0).label(), "b");

  // AddExamples on the second is visible on the first once it returns.
  v1::AddExamplesRequest add;
  add.set_adaptation_id(adapted.adaptation_id());
  *add.add_examples() = Labeled("c", 0.9f, 100);
  v1::AddExamplesResponse added;
  ASSERT_TRUE(stubs[1]->AddExamples(Context().get(), add, &added).ok());
  v1::GetAdaptationRequest get;
  get.set_adaptation_id(adapted.adaptation_id());
  v1::GetAdaptationResponse info;
  ASSERT_TRUE(stubs[0]->GetAdaptation(Context().get(), get, &info).ok());
  ASSERT_EQ(info.classes_size(), 3);
  EXPECT_EQ(info.classes(2).label(), "c");

  // Deleting on one deletes everywhere.
  v1::DeleteAdaptationRequest remove;
  remove.set_adaptation_id(adapted.adaptation_id());
  v1::DeleteAdaptationResponse removed;
  ASSERT_TRUE(
      stubs[0]->DeleteAdaptation(Context().get(), remove, &removed).ok());
  status = stubs[1]->GetAdaptation(Context().get(), get, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  replicas.clear();
  std::filesystem::remove_all(bundle_dir);
}

}  // namespace
}  // namespace fewshot::server
