#pragma once
// Time as the protocol logic sees it: a monotonic point and durations. Logic takes `now` as an
// argument and never reads a clock itself.
#include <chrono>
#include <cstdint>

namespace rift {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline int64_t ToMillis(Duration d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

// Source of time for the composition roots; tests inject a FakeClock.
class TimeSource {
 public:
  virtual ~TimeSource() = default;
  virtual TimePoint Now() const = 0;
  // Wall-clock milliseconds since the epoch (only for display and per-boot incarnations).
  virtual int64_t WallMillis() const = 0;
};

// The real clocks. Thread-safe.
TimeSource& RealTime();

// A clock that moves only when told. Not thread-safe; for single-threaded tests and the
// simulator.
class FakeClock : public TimeSource {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::hours(1))) : now_(start) {}
  TimePoint Now() const override { return now_; }
  int64_t WallMillis() const override {
    return 1'700'000'000'000 + ToMillis(now_.time_since_epoch());
  }
  void Advance(Duration d) { now_ += d; }
  void Set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_;
};

}  // namespace rift
