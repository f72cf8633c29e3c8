// sd_notify against a datagram socket the test owns (path and abstract namespace), and the
// singleton pid lock.
#include "orchestrator/base/sd_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "orchestrator/base/pid_lock.h"

namespace rift {
namespace {

namespace fs = std::filesystem;

// A bound AF_UNIX datagram socket; `name` starting with '@' is abstract.
class TestSocket {
 public:
  explicit TestSocket(const std::string& name) : name_(name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    socklen_t len = offsetof(sockaddr_un, sun_path) + name.size();
    if (name[0] == '@') {
      addr.sun_path[0] = '\0';
    } else {
      ++len;
    }
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0;
  }
  ~TestSocket() {
    ::close(fd_);
    if (name_[0] != '@') ::unlink(name_.c_str());
  }
  bool ok() const { return ok_; }
  // The next datagram, or "" after a bounded wait.
  std::string Receive() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool ok_ = false;
};

std::string TempPath(const std::string& leaf) {
  return (fs::temp_directory_path() / (leaf + "-" + std::to_string(::getpid()))).string();
}

TEST(SdNotifyTest, MessagesArriveOnAPathSocket) {
  TestSocket sock(TempPath("rift-notify"));
  ASSERT_TRUE(sock.ok());
  sd::Notifier n(TempPath("rift-notify"));
  ASSERT_TRUE(n.enabled());
  ASSERT_TRUE(n.Notify("READY=1\nSTATUS=serving").ok());
  EXPECT_EQ(sock.Receive(), "READY=1\nSTATUS=serving");
  ASSERT_TRUE(n.Notify("WATCHDOG=1").ok());
  EXPECT_EQ(sock.Receive(), "WATCHDOG=1");
}

TEST(SdNotifyTest, MessagesArriveOnAnAbstractSocket) {
  const std::string name = "@rift-notify-test-" + std::to_string(::getpid());
  TestSocket sock(name);
  ASSERT_TRUE(sock.ok());
  ASSERT_TRUE(sd::Notifier(name).Notify("STOPPING=1").ok());
  EXPECT_EQ(sock.Receive(), "STOPPING=1");
}

TEST(SdNotifyTest, FromEnvironmentReadsAndOptionallyUnsetsTheVariables) {
  ::setenv("NOTIFY_SOCKET", "@x", 1);
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  sd::Notifier kept = sd::Notifier::FromEnvironment(false);
  EXPECT_EQ(kept.socket_path(), "@x");
  ASSERT_TRUE(kept.watchdog_interval().has_value());
  EXPECT_EQ(*kept.watchdog_interval(), std::chrono::seconds(3));
  EXPECT_NE(std::getenv("NOTIFY_SOCKET"), nullptr);
  // WATCHDOG_PID naming another process: the interval is not ours.
  ::setenv("WATCHDOG_PID", "1", 1);
  sd::Notifier other = sd::Notifier::FromEnvironment(true);
  EXPECT_FALSE(other.watchdog_interval().has_value());
  EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);
  EXPECT_EQ(std::getenv("WATCHDOG_USEC"), nullptr);
  EXPECT_EQ(std::getenv("WATCHDOG_PID"), nullptr);
  // Without NOTIFY_SOCKET every call is a successful no-op.
  sd::Notifier off = sd::Notifier::FromEnvironment(false);
  EXPECT_FALSE(off.enabled());
  EXPECT_TRUE(off.Notify("READY=1").ok());
}

TEST(SdNotifyTest, BadSocketsAreErrorsNotCrashes) {
  EXPECT_EQ(sd::Notifier("vsock:2:1234").Notify("READY=1").code(), Code::kInvalidArgument);
  EXPECT_EQ(sd::Notifier("/" + std::string(200, 'x')).Notify("READY=1").code(),
            Code::kInvalidArgument);
  EXPECT_EQ(sd::Notifier(TempPath("rift-nobody-listens")).Notify("READY=1").code(),
            Code::kUnavailable);
}

TEST(PidLockTest, ASecondHolderIsRefusedWithTheFirstOnesPid) {
  const std::string path = TempPath("rift-lock");
  auto first = PidLock::Acquire(path);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto holder = ReadLockHolder(path);
  ASSERT_TRUE(holder);
  EXPECT_EQ(holder->pid, ::getpid());
  EXPECT_TRUE(IsRunning(*holder));
  // Another process (flock is per open file, so a child with its own open sees the conflict).
  pid_t child = ::fork();
  if (child == 0) {
    auto second = PidLock::Acquire(path);
    bool refused = !second.ok() && second.status().code() == Code::kAlreadyExists &&
                   second.status().message().find(std::to_string(::getppid())) !=
                       std::string::npos;
    ::_exit(refused ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  first->reset();  // released: the next one gets it
  auto again = PidLock::Acquire(path);
  EXPECT_TRUE(again.ok());
  ::unlink(path.c_str());
}

TEST(PidLockTest, ARecordOfADeadOrReusedPidIsNotRunning) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(IsRunning(LockHolder{child, 0}));
  LockHolder self{::getpid(), ProcessStartTime(::getpid()).value_or(0)};
  EXPECT_TRUE(IsRunning(self));
  self.start_time += 1;  // same pid, another process: not the holder
  EXPECT_FALSE(IsRunning(self));
  auto age = ProcessAgeSeconds(::getpid());
  ASSERT_TRUE(age.has_value());
  EXPECT_GE(*age, 0.0);
}

}  // namespace
}  // namespace rift
