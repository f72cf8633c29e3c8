#pragma once
// SHA-256 for the inventory (libcrypto stays in hash.cc). Internal to orchestrator/inventory.
#include <cstdint>
#include <string>
#include <string_view>

#include "orchestrator/base/status.h"

namespace rift::inventory::internal {

// Lower-case hex digest of `data`.
std::string Sha256Hex(std::string_view data);

// Hashes the rest of `fd` from offset 0 (pread, so the fd's offset is untouched) into lower-case
// hex; adds the bytes read to *bytes.
Result<std::string> Sha256OfFd(int fd, uint64_t* bytes);

// True for 64 lower-case hex characters.
bool IsSha256Hex(const std::string& s);

}  // namespace rift::inventory::internal
