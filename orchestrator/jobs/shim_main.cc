// ringrift-job-shim: the job supervisor as a program of its own (see process.h).
#include <cstdio>

#include "orchestrator/jobs/process.h"

int main(int argc, char** argv) {
  if (auto rc = rift::jobs::RunShimIfRequested(argc, argv)) return *rc;
  std::fprintf(stderr,
               "ringrift-job-shim: started by the job runner as `%s --job-shim <job_dir>`; "
               "not meant to be run by hand\n",
               argc > 0 ? argv[0] : "ringrift-job-shim");
  return 2;
}
