#include "orchestrator/jobs/job_store.h"

#include <mutex>

#include "orchestrator/jobs/record_internal.h"
#include "orchestrator/store/sqlite.h"

namespace rift::jobs {
namespace {

const std::vector<std::string> kMigrations = {
    "CREATE TABLE jobs (id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, state TEXT NOT NULL,"
    " record TEXT NOT NULL);"
    "CREATE TABLE idempotency (key TEXT PRIMARY KEY, job_id TEXT NOT NULL);"
    "CREATE INDEX idempotency_job ON idempotency (job_id);"};

}  // namespace

struct JobStore::Impl {
  std::mutex mu;
  std::unique_ptr<store::Database> db;

  Status PutLocked(const JobRecord& r) {
    RIFT_ASSIGN_OR_RETURN(
        store::Statement st,
        db->Prepare("INSERT OR REPLACE INTO jobs (id, created_ms, state, record) "
                    "VALUES (?, ?, ?, ?)"));
    RIFT_RETURN_IF_ERROR(st.Bind(1, r.id));
    RIFT_RETURN_IF_ERROR(st.Bind(2, r.created_ms));
    RIFT_RETURN_IF_ERROR(st.Bind(3, r.state));
    RIFT_RETURN_IF_ERROR(st.Bind(4, internal::RecordJson(r, true).dump(
                                        -1, ' ', false, nlohmann::json::error_handler_t::replace)));
    return st.Run();
  }
};

JobStore::JobStore(std::unique_ptr<store::Database> db) : impl_(std::make_unique<Impl>()) {
  impl_->db = std::move(db);
}

JobStore::~JobStore() = default;

Result<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path) {
  store::DatabaseOptions o;
  o.synchronous_full = false;
  RIFT_ASSIGN_OR_RETURN(std::unique_ptr<store::Database> db, store::Database::Open(path, o));
  RIFT_RETURN_IF_ERROR(db->Migrate(kMigrations));
  return std::unique_ptr<JobStore>(new JobStore(std::move(db)));
}

Status JobStore::Put(const JobRecord& r) {
  std::lock_guard lock(impl_->mu);
  return impl_->PutLocked(r);
}

Status JobStore::PutWithKey(const JobRecord& r) {
  std::lock_guard lock(impl_->mu);
  RIFT_RETURN_IF_ERROR(impl_->db->Exec("BEGIN IMMEDIATE"));
  Status st = impl_->PutLocked(r);
  if (st.ok() && !r.idempotency_key.empty()) {
    auto ins = impl_->db->Prepare("INSERT OR REPLACE INTO idempotency (key, job_id) VALUES (?, ?)");
    st = ins.ok() ? ins->Bind(1, r.idempotency_key) : ins.status();
    if (st.ok()) st = ins->Bind(2, r.id);
    if (st.ok()) st = ins->Run();
  }
  Status end = impl_->db->Exec(st.ok() ? "COMMIT" : "ROLLBACK");
  return st.ok() ? end : st;
}

Status JobStore::Delete(const std::string& id) {
  std::lock_guard lock(impl_->mu);
  for (const char* sql : {"DELETE FROM jobs WHERE id = ?", "DELETE FROM idempotency WHERE job_id = ?"}) {
    RIFT_ASSIGN_OR_RETURN(store::Statement st, impl_->db->Prepare(sql));
    RIFT_RETURN_IF_ERROR(st.Bind(1, id));
    RIFT_RETURN_IF_ERROR(st.Run());
  }
  return Status::Ok();
}

Result<std::vector<JobRecord>> JobStore::LoadAll() {
  std::lock_guard lock(impl_->mu);
  RIFT_ASSIGN_OR_RETURN(store::Statement st,
                        impl_->db->Prepare("SELECT record FROM jobs ORDER BY created_ms, id"));
  std::vector<JobRecord> out;
  while (true) {
    RIFT_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    auto j = nlohmann::json::parse(st.ColumnText(0), nullptr, false);
    if (j.is_object()) out.push_back(internal::RecordFromJson(j));
  }
  return out;
}

}  // namespace rift::jobs
