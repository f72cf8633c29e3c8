// main() of the jobs tests: like gtest_main, but the binary also serves as the job shim, since
// the runner re-executes its own program with --job-shim (as the daemon does).
#include <gtest/gtest.h>

#include "orchestrator/jobs/process.h"

int main(int argc, char** argv) {
  if (auto rc = rift::jobs::RunShimIfRequested(argc, argv)) return *rc;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
