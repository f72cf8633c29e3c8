#pragma once
// Test helpers shared by the jobs tests.
#include <chrono>
#include <filesystem>
#include <system_error>
#include <thread>

namespace rift::jobs::testutil {

// Removes a test's temp tree. A shim killed a moment ago may still be writing its status file
// (status.json.tmp appears while remove_all walks the tree), so a failed walk is retried for up
// to two seconds instead of throwing out of TearDown.
inline void RemoveTree(const std::filesystem::path& dir) {
  for (int i = 0; i < 100; ++i) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (!ec) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace rift::jobs::testutil
