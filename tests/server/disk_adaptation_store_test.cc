// Tests the disk adaptation store (replay, revisions, torn tails,
// compaction, cache misses) and the in-memory store's byte budget, time to
// live and revision checks.
#include "server/disk_adaptation_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/adaptation_store.h"

namespace fewshot::server {
namespace {

using ::testing::HasSubstr;

// A state with `rows` support rows of 4 floats, told apart by `method`.
std::shared_ptr<core::AdaptationState> StateOf(const std::string& method,
                                               int rows, int64_t revision) {
  auto state = std::make_shared<core::AdaptationState>();
  state->method = method;
  state->labels = {"a", "b"};
  state->support_embeddings = torch::ones({rows, 4});
  state->support_labels = torch::zeros({rows}, torch::kInt64);
  for (int i = 0; i < rows; ++i) state->example_ids.push_back(i);
  state->revision = revision;
  return state;
}

// A fresh folder under the temporary folder.
std::string TempDir(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      absl::StrCat("disk_store_test_", getpid(), "_", name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::unique_ptr<DiskAdaptationStore> OpenStore(const std::string& dir,
                                               int64_t cache_capacity = 100) {
  DiskAdaptationStoreOptions options;
  options.dir = dir;
  options.cache.capacity = cache_capacity;
  absl::StatusOr<std::unique_ptr<DiskAdaptationStore>> store =
      DiskAdaptationStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(DiskAdaptationStoreTest, ReplaysPutsUpdatesAndDeletes) {
  const std::string dir = TempDir("replay");
  std::string kept;
  std::string deleted;
  {
    auto store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    absl::StatusOr<std::string> id = store->Put(StateOf("first", 2, 0));
    ASSERT_TRUE(id.ok()) << id.status();
    kept = *id;
    ASSERT_TRUE(store->Update(kept, StateOf("second", 3, 1), 0).ok());
    id = store->Put(StateOf("gone", 1, 0));
    ASSERT_TRUE(id.ok());
    deleted = *id;
    ASSERT_TRUE(store->Delete(deleted).ok());
  }
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->size(), 1);
  absl::StatusOr<std::shared_ptr<const core::AdaptationState>> found =
      store->Get(kept);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ((*found)->method, "second");
  EXPECT_EQ((*found)->revision, 1);
  EXPECT_EQ((*found)->support_labels.numel(), 3);
  EXPECT_EQ(store->Get(deleted).status().code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(DiskAdaptationStoreTest, StaleRevisionIsAborted) {
  const std::string dir = TempDir("revision");
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::string> id = store->Put(StateOf("a", 2, 0));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(store->Update(*id, StateOf("b", 2, 1), 0).ok());
  EXPECT_EQ(store->Update(*id, StateOf("c", 2, 1), 0).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(store->Update("nope", StateOf("c", 2, 1), 0).code(),
            absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(DiskAdaptationStoreTest, TornTailIsCutOffAndEarlierWritesSurvive) {
  const std::string dir = TempDir("torn");
  std::string id;
  {
    auto store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    absl::StatusOr<std::string> put = store->Put(StateOf("kept", 2, 0));
    ASSERT_TRUE(put.ok());
    id = *put;
  }
  // Half a record, as if the process died inside write().
  const std::string log = absl::StrCat(dir, "/adaptations.log");
  const uintmax_t good_size = std::filesystem::file_size(log);
  {
    std::ofstream out(log, std::ios::app | std::ios::binary);
    out << std::string("GLSF\x01garbage-without-an-end", 26);
  }
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(std::filesystem::file_size(log), good_size);
  absl::StatusOr<std::shared_ptr<const core::AdaptationState>> found =
      store->Get(id);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ((*found)->method, "kept");
  // And it still appends after the cut.
  ASSERT_TRUE(store->Put(StateOf("after", 1, 0)).ok());
  EXPECT_EQ(OpenStore(dir) == nullptr, false);
  std::filesystem::remove_all(dir);
}

TEST(DiskAdaptationStoreTest, CompactionKeepsOnlyLiveRecords) {
  const std::string dir = TempDir("compact");
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::string> id = store->Put(StateOf("v0", 8, 0));
  ASSERT_TRUE(id.ok());
  for (int revision = 1; revision <= 10; ++revision) {
    ASSERT_TRUE(store
                    ->Update(*id,
                             StateOf(absl::StrCat("v", revision), 8, revision),
                             revision - 1)
                    .ok());
  }
  const int64_t before = store->log_bytes();
  ASSERT_TRUE(store->Compact().ok());
  EXPECT_LT(store->log_bytes() * 10, before + store->log_bytes());
  store.reset();

  store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::shared_ptr<const core::AdaptationState>> found =
      store->Get(*id);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ((*found)->method, "v10");
  std::filesystem::remove_all(dir);
}

TEST(DiskAdaptationStoreTest, CacheEvictionsAreReadBackFromDisk) {
  const std::string dir = TempDir("cache");
  auto store = OpenStore(dir, /*cache_capacity=*/1);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::string> first = store->Put(StateOf("first", 2, 0));
  absl::StatusOr<std::string> second = store->Put(StateOf("second", 2, 0));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(store->size(), 2);
  absl::StatusOr<std::shared_ptr<const core::AdaptationState>> found =
      store->Get(*first);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ((*found)->method, "first");
  std::filesystem::remove_all(dir);
}

TEST(InMemoryAdaptationStoreTest, ByteBudgetEvictsLeastRecentlyUsed) {
  int evicted = 0;
  const int64_t one = StateOf("x", 100, 0)->ByteSize();
  InMemoryAdaptationStore store({.capacity = 100,
                                 .max_bytes = 2 * one + one / 2,
                                 .on_evict = [&evicted] { ++evicted; }});
  absl::StatusOr<std::string> a = store.Put(StateOf("a", 100, 0));
  absl::StatusOr<std::string> b = store.Put(StateOf("b", 100, 0));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(store.Get(*a).ok());  // b is now the least recently used.
  ASSERT_TRUE(store.Put(StateOf("c", 100, 0)).ok());
  EXPECT_EQ(evicted, 1);
  EXPECT_EQ(store.size(), 2);
  EXPECT_EQ(store.bytes(), 2 * one);
  EXPECT_TRUE(store.Get(*a).ok());
  EXPECT_EQ(store.Get(*b).status().code(), absl::StatusCode::kNotFound);
}

TEST(InMemoryAdaptationStoreTest, IdleStatesExpire) {
  absl::Time now = absl::FromUnixSeconds(1000);
  int expired = 0;
  InMemoryAdaptationStore store({.capacity = 100,
                                 .ttl = absl::Seconds(60),
                                 .on_expire = [&expired] { ++expired; },
                                 .clock = [&now] { return now; }});
  absl::StatusOr<std::string> a = store.Put(StateOf("a", 1, 0));
  absl::StatusOr<std::string> b = store.Put(StateOf("b", 1, 0));
  ASSERT_TRUE(a.ok() && b.ok());
  now += absl::Seconds(40);
  ASSERT_TRUE(store.Get(*b).ok());
  now += absl::Seconds(30);  // a idle 70 s, b idle 30 s.
  EXPECT_EQ(store.Get(*a).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.Get(*b).ok());
  EXPECT_EQ(expired, 1);
  EXPECT_EQ(store.size(), 1);
}

TEST(InMemoryAdaptationStoreTest, UpdateChecksTheRevision) {
  InMemoryAdaptationStore store({.capacity = 10});
  absl::StatusOr<std::string> id = store.Put(StateOf("a", 1, 0));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(store.Update(*id, StateOf("b", 2, 1), 0).ok());
  const absl::Status stale = store.Update(*id, StateOf("c", 2, 1), 0);
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(stale.message(), HasSubstr("try again"));
  EXPECT_EQ((*store.Get(*id))->method, "b");
  EXPECT_EQ(store.bytes(), StateOf("b", 2, 1)->ByteSize());
}

}  // namespace
}  // namespace fewshot::server
