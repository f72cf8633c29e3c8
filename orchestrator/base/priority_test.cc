// Real scheduler calls on real threads: each case runs in a thread of its own so the test
// process keeps its priority.
#include "orchestrator/base/priority.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <thread>

namespace rift {
namespace {

void InThread(const std::function<void()>& body) { std::thread(body).join(); }

int Nice() { return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid))); }

int Policy() {
  int policy = -1;
  sched_param p{};
  ::pthread_getschedparam(::pthread_self(), &policy, &p);
  return policy;
}

TEST(PriorityTest, NamesRoundTripAndUnknownNamesAreRefused) {
  for (CpuPriority p : {CpuPriority::kNormal, CpuPriority::kLow, CpuPriority::kIdle}) {
    EXPECT_EQ(ParseCpuPriority(CpuPriorityName(p)), p);
  }
  EXPECT_FALSE(ParseCpuPriority("Idle").has_value());
  EXPECT_FALSE(ParseCpuPriority("").has_value());
  EXPECT_FALSE(ParseCpuPriority("background").has_value());
}

TEST(PriorityTest, IdleSetsSchedIdleOnTheCallingThreadOnly) {
  int main_policy = Policy();
  InThread([] {
    ASSERT_TRUE(SetThreadCpuPriority(CpuPriority::kIdle).ok());
    EXPECT_EQ(Policy(), SCHED_IDLE);
    EXPECT_EQ(ThreadCpuPriority(), CpuPriority::kIdle);
    // Threads started afterwards inherit it.
    InThread([] { EXPECT_EQ(Policy(), SCHED_IDLE); });
  });
  EXPECT_EQ(Policy(), main_policy);
  EXPECT_NE(ThreadCpuPriority(), CpuPriority::kIdle);
}

// Expectations are relative to the nice value the test runs at (a CI job may be niced).
TEST(PriorityTest, LowSetsNiceTenOnTheCallingThreadOnly) {
  int main_nice = Nice();
  const int want = std::max(main_nice, kLowPriorityNice);
  InThread([want] {
    ASSERT_TRUE(SetThreadCpuPriority(CpuPriority::kLow).ok());
    EXPECT_EQ(Nice(), want);
    EXPECT_EQ(Policy(), SCHED_OTHER);
    EXPECT_EQ(ThreadCpuPriority(), CpuPriority::kLow);
    InThread([want] { EXPECT_EQ(Nice(), want); });
  });
  EXPECT_EQ(Nice(), main_nice);
}

TEST(PriorityTest, NeverRaisesAPriority) {
  InThread([] {
    const int start = std::max(Nice(), 15);
    id_t tid = static_cast<id_t>(::syscall(SYS_gettid));
    ASSERT_EQ(::setpriority(PRIO_PROCESS, tid, start), 0);
    ASSERT_TRUE(SetThreadCpuPriority(CpuPriority::kLow).ok());
    EXPECT_EQ(Nice(), start);
    ASSERT_TRUE(SetThreadCpuPriority(CpuPriority::kNormal).ok());
    EXPECT_EQ(Nice(), start);
  });
}

TEST(PriorityTest, NormalChangesNothing) {
  InThread([] {
    int nice = Nice(), policy = Policy();
    ASSERT_TRUE(SetThreadCpuPriority(CpuPriority::kNormal).ok());
    EXPECT_EQ(Nice(), nice);
    EXPECT_EQ(Policy(), policy);
  });
}

}  // namespace
}  // namespace rift
