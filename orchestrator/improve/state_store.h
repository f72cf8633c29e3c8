#pragma once
// The improvement loop's durable record on one node: <RINGRIFT_DIR>/state/improvement.db holds
// the newest loop state this node has stored, as (term, seq, JSON). The leader writes every
// transition here and on the other voters (POST /improvement/state) before acting on it; a new
// leader adopts the newest (term, seq) it reads from a quorum of voters.
//
// Ordering: (term, seq) lexicographically. Store() refuses an older pair (kStaleTerm), so a
// deposed leader's late write can never replace a newer state. Commits are synchronous (FULL):
// an acknowledged state survives a crash.
//
// Thread-safety: all methods are safe from any thread (one mutex; SQLite work under it).
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "orchestrator/base/status.h"

namespace rift::store {
class Database;
}

namespace rift::improve {

struct StoredState {
  uint64_t term = 0;
  uint64_t seq = 0;
  std::string state;  // JSON (codec.h); "" = nothing stored
  bool empty() const { return state.empty(); }
};

// (a.term, a.seq) > (b.term, b.seq).
bool Newer(const StoredState& a, const StoredState& b);

class StateStore {
 public:
  // Opens or creates the database; the directory must exist.
  static Result<std::unique_ptr<StateStore>> Open(const std::string& path);
  ~StateStore();

  StoredState Load() const;
  // Stores `s` unless the stored pair is newer (kStaleTerm). The same pair again is accepted.
  Status Store(const StoredState& s);

 private:
  explicit StateStore(std::unique_ptr<store::Database> db, StoredState cached);
  mutable std::mutex mu_;
  std::unique_ptr<store::Database> db_;
  StoredState cached_;
};

}  // namespace rift::improve
