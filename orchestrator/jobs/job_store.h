#pragma once
// Durable job records and idempotency keys in SQLite (<RINGRIFT_DIR>/state/jobs.db). WAL with
// synchronous=NORMAL: a daemon crash loses nothing committed; a power loss may lose the last
// commits, but then the jobs they describe died with the machine too.
//
// Thread-safety: every method is safe from any thread (one connection behind a mutex).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/jobs/manager.h"

namespace rift::store {
class Database;
}  // namespace rift::store

namespace rift::jobs {

class JobStore {
 public:
  static Result<std::unique_ptr<JobStore>> Open(const std::string& path);
  ~JobStore();

  Status Put(const JobRecord& record);
  // A record and its idempotency key, in one transaction.
  Status PutWithKey(const JobRecord& record);
  Status Delete(const std::string& id);  // and its key
  Result<std::vector<JobRecord>> LoadAll();

 private:
  explicit JobStore(std::unique_ptr<store::Database> db);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::jobs
