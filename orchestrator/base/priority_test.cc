// Real scheduler calls on real threads: each case runs in a thread of its own so the test
// process keeps its priority.
#include "orchestrator/base/priority.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

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

TEST(PriorityTest, LowSetsNiceTenOnTheCallingThreadOnly) {
  int main_nice = Nice();
  InThread([] {
    ASSERT_TRUE(SetThreadCpuPriority(CpuPriority::kLow).ok());
    EXPECT_EQ(Nice(), kLowPriorityNice);
    EXPECT_EQ(Policy(), SCHED_OTHER);
    EXPECT_EQ(ThreadCpuPriority(), CpuPriority::kLow);
    InThread([] { EXPECT_EQ(Nice(), kLowPriorityNice); });
  });
  EXPECT_EQ(Nice(), main_nice);
}

TEST(PriorityTest, NeverRaisesAPriority) {
  InThread([] {
    id_t tid = static_cast<id_t>(::syscall(SYS_gettid));
    ASSERT_EQ(::setpriority(PRIO_PROCESS, tid, 15), 0);
    ASSERT_TRUE(SetThreadCpuPriority(CpuPriority::kLow).ok());
    EXPECT_EQ(Nice(), 15);
    ASSERT_TRUE(SetThreadCpuPriority(CpuPriority::kNormal).ok());
    EXPECT_EQ(Nice(), 15);
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
