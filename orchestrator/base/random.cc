#include "orchestrator/base/random.h"

namespace rift {
uint64_t OsSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}
}  // namespace rift
