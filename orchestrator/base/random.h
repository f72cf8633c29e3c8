#pragma once
// Randomness comes in through this interface so that simulations replay from a seed.
#include <cstdint>
#include <random>

#include "orchestrator/base/time.h"

namespace rift {

// Seeded PRNG. Not thread-safe: each owner (one per node core) has its own.
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  // Uniform in [0, n); n must be > 0.
  uint64_t Uniform(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(engine_); }
  // Uniform duration in [lo, hi].
  Duration Between(Duration lo, Duration hi) {
    if (hi <= lo) return lo;
    auto span = static_cast<uint64_t>((hi - lo).count());
    return lo + Duration(static_cast<Duration::rep>(Uniform(span + 1)));
  }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(engine_) < p; }
  uint64_t Next() { return engine_(); }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

// A seed from the OS (for the real daemon).
uint64_t OsSeed();

}  // namespace rift
