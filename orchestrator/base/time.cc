#include "orchestrator/base/time.h"

namespace rift {
namespace {
class RealTimeSource final : public TimeSource {
 public:
  TimePoint Now() const override { return Clock::now(); }
  int64_t WallMillis() const override {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};
}  // namespace

TimeSource& RealTime() {
  static RealTimeSource source;
  return source;
}

}  // namespace rift
