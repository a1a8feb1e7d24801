// Tests the in-memory adaptation store: ids, lookups, deletion and
// least-recently-used eviction.
#include "server/adaptation_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"

namespace fewshot::server {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// Options keeping at most `capacity` states.
InMemoryAdaptationStoreOptions Capacity(int64_t capacity) {
  InMemoryAdaptationStoreOptions options;
  options.capacity = capacity;
  return options;
}

// A state told apart from others by its method name.
std::shared_ptr<const core::AdaptationState> StateNamed(
    const std::string& name) {
  auto state = std::make_shared<core::AdaptationState>();
  state->method = name;
  return state;
}

TEST(AdaptationStoreTest, IdsAreDistinct128BitHex) {
  absl::flat_hash_set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<std::string> id = NewAdaptationId();
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_THAT(*id, MatchesRegex("[0-9a-f]{32}"));
    ids.insert(*id);
  }
  EXPECT_EQ(ids.size(), 100u);
}

TEST(AdaptationStoreTest, PutThenGetReturnsTheSameState) {
  InMemoryAdaptationStore store(Capacity(4));
  auto state = StateNamed("a");
  absl::StatusOr<std::string> id = store.Put(state);
  ASSERT_TRUE(id.ok()) << id.status();

  auto found = store.Get(*id);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->get(), state.get());
  EXPECT_EQ(store.size(), 1);
}

TEST(AdaptationStoreTest, UnknownIdIsNotFoundAndMentionsEviction) {
  InMemoryAdaptationStore store(Capacity(4));
  auto found = store.Get("0123");
  EXPECT_EQ(found.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(found.status().message(), HasSubstr("evicted or deleted"));
}

TEST(AdaptationStoreTest, DeleteForgetsTheState) {
  InMemoryAdaptationStore store(Capacity(4));
  absl::StatusOr<std::string> id = store.Put(StateNamed("a"));
  ASSERT_TRUE(id.ok());

  EXPECT_TRUE(store.Delete(*id).ok());
  EXPECT_EQ(store.Get(*id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Delete(*id).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.size(), 0);
}

TEST(AdaptationStoreTest, EvictsTheLeastRecentlyUsed) {
  int evictions = 0;
  InMemoryAdaptationStore store(
      {.capacity = 2, .on_evict = [&evictions] { ++evictions; }});
  absl::StatusOr<std::string> a = store.Put(StateNamed("a"));
  absl::StatusOr<std::string> b = store.Put(StateNamed("b"));
  ASSERT_TRUE(a.ok() && b.ok());

  // Using `a` makes `b` the least recently used.
  ASSERT_TRUE(store.Get(*a).ok());
  absl::StatusOr<std::string> c = store.Put(StateNamed("c"));
  ASSERT_TRUE(c.ok());

  EXPECT_EQ(store.size(), 2);
  EXPECT_EQ(evictions, 1);
  EXPECT_TRUE(store.Get(*a).ok());
  EXPECT_EQ(store.Get(*b).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.Get(*c).ok());
}

TEST(AdaptationStoreTest, NeverHoldsMoreThanCapacity) {
  InMemoryAdaptationStore store(Capacity(3));
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store.Put(StateNamed(std::to_string(i))).ok());
    EXPECT_LE(store.size(), 3);
  }
  EXPECT_EQ(store.size(), 3);
}

}  // namespace
}  // namespace fewshot::server
