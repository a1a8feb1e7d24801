// Makes Abseil's synchronisation visible to ThreadSanitizer when Abseil
// itself is not built with -fsanitize=thread (Debian's libabsl is not).
// Without it TSan sees neither absl::Mutex lock nor unlock, so every member
// guarded by an absl::Mutex looks racy. scripts/sanitize.sh builds this
// file, uninstrumented, into a shared library and preloads it into the
// TSan test binaries: each function below takes the place of the Abseil
// function of the same name, tells TSan the happens-before edge it creates
// (__tsan_release before giving a lock up, __tsan_acquire after taking it),
// and calls the real function, found with dlsym(RTLD_NEXT). Calls from
// gRPC's own use of absl::Mutex go through it too.
//
// The edges are conservative: readers of a shared lock are ordered after
// one another, so a race between two readers would be missed; a write
// racing with any lock holder is still found.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

extern "C" {
// The TSan runtime's annotation entry points, exported by the executable.
void __tsan_acquire(void* address);
void __tsan_release(void* address);
}

namespace {

#define FEWSHOT_STRINGIFY_INNER(x) #x
#define FEWSHOT_STRINGIFY(x) FEWSHOT_STRINGIFY_INNER(x)

// The mangled name of absl::<inline namespace>::`rest` (already mangled,
// e.g. "5Mutex4LockEv" for Mutex::Lock()); `prefix` is "_ZN" or "_ZNK".
std::string AbslSymbol(const char* prefix, const char* rest) {
  const std::string inline_namespace =
      FEWSHOT_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  return std::string(prefix) + "4absl" +
         std::to_string(inline_namespace.size()) + inline_namespace + rest;
}

// The next definition of the Abseil function `rest` after this library's,
// as a `Fn`; stops the program when there is none.
template <typename Fn>
Fn Real(const char* prefix, const char* rest) {
  const std::string name = AbslSymbol(prefix, rest);
  void* found = dlsym(RTLD_NEXT, name.c_str());
  if (found == nullptr) {
    std::fprintf(stderr, "absl_sync_annotations: no symbol %s\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(found);
}

// A condition that Abseil may evaluate on any thread holding the mutex
// (the waiter, or another thread as it unlocks), wrapped so that each
// evaluation is ordered with every other holder of the lock.
struct AnnotatedCondition {
  const absl::Condition* condition;
  absl::Mutex* mutex;
};

bool EvalAnnotated(AnnotatedCondition* annotated) {
  __tsan_acquire(annotated->mutex);
  const bool result = annotated->condition->Eval();
  __tsan_release(annotated->mutex);
  return result;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// Mutex: taking the lock acquires, giving it up releases; Await gives it up
// and takes it again.

void Mutex::Lock() {
  static const auto real = Real<void (*)(Mutex*)>("_ZN", "5Mutex4LockEv");
  real(this);
  __tsan_acquire(this);
}

void Mutex::ReaderLock() {
  static const auto real =
      Real<void (*)(Mutex*)>("_ZN", "5Mutex10ReaderLockEv");
  real(this);
  __tsan_acquire(this);
}

bool Mutex::TryLock() {
  static const auto real = Real<bool (*)(Mutex*)>("_ZN", "5Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static const auto real =
      Real<bool (*)(Mutex*)>("_ZN", "5Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

void Mutex::Unlock() {
  static const auto real = Real<void (*)(Mutex*)>("_ZN", "5Mutex6UnlockEv");
  __tsan_release(this);
  real(this);
}

void Mutex::ReaderUnlock() {
  static const auto real =
      Real<void (*)(Mutex*)>("_ZN", "5Mutex12ReaderUnlockEv");
  __tsan_release(this);
  real(this);
}

void Mutex::LockWhen(const Condition& condition) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      "_ZN", "5Mutex8LockWhenERKNS0_9ConditionE");
  AnnotatedCondition annotated{&condition, this};
  real(this, Condition(&EvalAnnotated, &annotated));
  __tsan_acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& condition) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      "_ZN", "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  AnnotatedCondition annotated{&condition, this};
  real(this, Condition(&EvalAnnotated, &annotated));
  __tsan_acquire(this);
}

// The *WithTimeout and *WithDeadline forms return with the lock held
// whether or not the condition became true.

bool Mutex::LockWhenWithTimeout(const Condition& condition,
                                absl::Duration timeout) {
  static const auto real =
      Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
          "_ZN", "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition annotated{&condition, this};
  const bool result =
      real(this, Condition(&EvalAnnotated, &annotated), timeout);
  __tsan_acquire(this);
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition& condition,
                                 absl::Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "_ZN", "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition annotated{&condition, this};
  const bool result =
      real(this, Condition(&EvalAnnotated, &annotated), deadline);
  __tsan_acquire(this);
  return result;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& condition,
                                      absl::Duration timeout) {
  static const auto real =
      Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
          "_ZN",
          "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition annotated{&condition, this};
  const bool result =
      real(this, Condition(&EvalAnnotated, &annotated), timeout);
  __tsan_acquire(this);
  return result;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& condition,
                                       absl::Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "_ZN", "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition annotated{&condition, this};
  const bool result =
      real(this, Condition(&EvalAnnotated, &annotated), deadline);
  __tsan_acquire(this);
  return result;
}

void Mutex::Await(const Condition& condition) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      "_ZN", "5Mutex5AwaitERKNS0_9ConditionE");
  __tsan_release(this);
  AnnotatedCondition annotated{&condition, this};
  real(this, Condition(&EvalAnnotated, &annotated));
  __tsan_acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& condition,
                             absl::Duration timeout) {
  static const auto real =
      Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
          "_ZN", "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  __tsan_release(this);
  AnnotatedCondition annotated{&condition, this};
  const bool result =
      real(this, Condition(&EvalAnnotated, &annotated), timeout);
  __tsan_acquire(this);
  return result;
}

bool Mutex::AwaitWithDeadline(const Condition& condition, absl::Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "_ZN", "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  __tsan_release(this);
  AnnotatedCondition annotated{&condition, this};
  const bool result =
      real(this, Condition(&EvalAnnotated, &annotated), deadline);
  __tsan_acquire(this);
  return result;
}

// CondVar: waiting gives the mutex up and takes it again.

void CondVar::Wait(Mutex* mutex) {
  static const auto real =
      Real<void (*)(CondVar*, Mutex*)>("_ZN", "7CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mutex);
  real(this, mutex);
  __tsan_acquire(mutex);
}

bool CondVar::WaitWithTimeout(Mutex* mutex, absl::Duration timeout) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, absl::Duration)>(
      "_ZN", "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mutex);
  const bool result = real(this, mutex, timeout);
  __tsan_acquire(mutex);
  return result;
}

bool CondVar::WaitWithDeadline(Mutex* mutex, absl::Time deadline) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, absl::Time)>(
      "_ZN", "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(mutex);
  const bool result = real(this, mutex, deadline);
  __tsan_acquire(mutex);
  return result;
}

// Notification: Notify releases; a wait that saw it acquires (its fast
// path reads an atomic inside Abseil, invisible to TSan).

void Notification::Notify() {
  static const auto real =
      Real<void (*)(Notification*)>("_ZN", "12Notification6NotifyEv");
  __tsan_release(this);
  real(this);
}

void Notification::WaitForNotification() const {
  static const auto real = Real<void (*)(const Notification*)>(
      "_ZNK", "12Notification19WaitForNotificationEv");
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(
    absl::Duration timeout) const {
  static const auto real = Real<bool (*)(const Notification*, absl::Duration)>(
      "_ZNK", "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(absl::Time deadline) const {
  static const auto real = Real<bool (*)(const Notification*, absl::Time)>(
      "_ZNK", "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

// BlockingCounter and Barrier: every arrival releases; leaving the wait
// acquires all of them.

bool BlockingCounter::DecrementCount() {
  static const auto real = Real<bool (*)(BlockingCounter*)>(
      "_ZN", "15BlockingCounter14DecrementCountEv");
  __tsan_release(this);
  return real(this);
}

void BlockingCounter::Wait() {
  static const auto real =
      Real<void (*)(BlockingCounter*)>("_ZN", "15BlockingCounter4WaitEv");
  real(this);
  __tsan_acquire(this);
}

bool Barrier::Block() {
  static const auto real = Real<bool (*)(Barrier*)>("_ZN", "7Barrier5BlockEv");
  __tsan_release(this);
  const bool last = real(this);
  __tsan_acquire(this);
  return last;
}

ABSL_NAMESPACE_END
}  // namespace absl
