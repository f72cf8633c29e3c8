// Cleanup planning: pure functions (see planner.h for the rules).
//
// Details the header leaves open:
//  - A class unknown to `classes` gets FileClass's defaults (replication 2, not protected), so an
//    unconfigured file is kept until copies justify its deletion.
//  - Holders count once per node id and only with the candidate's exact sha256; a holder with an
//    empty sha256 proves nothing.
//  - Tombstones (record.deleted) are skipped silently: there is nothing left to delete.
//  - PlanCleanup lists a refusal for every candidate that breaks a rule (whether or not it would
//    have been reached), so a caller that cannot reach the low watermark can say why.
//  - When no cleanup is needed (used <= high), the plan is empty and reaches_low_watermark is
//    true: nothing has to be freed. PlanFiles sets needed/bytes_to_free/reaches_low_watermark to
//    false/0/false: it frees what it is told, not towards a watermark.
#include "orchestrator/cleanup/planner.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <tuple>

namespace rift::cleanup {
namespace {

using inventory::FileClass;

FileClass ClassNamed(const std::vector<FileClass>& classes, const std::string& name) {
  for (const auto& c : classes) {
    if (c.name == name) return c;
  }
  FileClass other;
  other.name = name.empty() ? "other" : name;
  return other;
}

std::vector<std::string> MatchingHolders(const Candidate& c) {
  std::set<std::string> ids;
  for (const auto& h : c.holders) {
    if (!h.node_id.empty() && !h.sha256.empty() && h.sha256 == c.record.sha256) {
      ids.insert(h.node_id);
    }
  }
  return {ids.begin(), ids.end()};
}

struct Verdict {
  std::optional<std::string> refusal;
  std::vector<std::string> justified_by;
  FileClass cls;
};

// Applies rules 1-3 to one file.
Verdict Judge(const Candidate& c, const std::vector<FileClass>& classes, bool force) {
  Verdict v;
  v.cls = ClassNamed(classes, c.record.klass);
  v.justified_by = MatchingHolders(c);
  if (v.cls.protect) {
    v.refusal = "protected class " + v.cls.name;
  } else if (!c.record.sealed || c.record.sha256.empty()) {
    v.refusal = "not sealed";
  } else if (v.cls.replication > 1 && !force &&
             v.justified_by.size() < static_cast<size_t>(v.cls.replication)) {
    v.refusal = "only " + std::to_string(v.justified_by.size()) + " of " +
                std::to_string(v.cls.replication) + " copies verified on other nodes";
  }
  if (v.cls.replication <= 1) v.justified_by.clear();  // nothing to justify
  return v;
}

std::string Percent(double fraction) {
  return std::to_string(static_cast<int>(std::lround(fraction * 100))) + "%";
}

std::string CopiesText(const Verdict& v) {
  if (v.cls.replication <= 1) return "class " + v.cls.name + " is not replicated";
  return std::to_string(v.justified_by.size()) + " verified copies on other nodes";
}

}  // namespace

CleanupPlan PlanCleanup(const Volume& volume, const Watermarks& marks,
                        const std::vector<Candidate>& candidates,
                        const std::vector<FileClass>& classes) {
  CleanupPlan plan;
  if (volume.total == 0) return plan;  // unknown volume: never delete blind
  const uint64_t used = volume.total > volume.free ? volume.total - volume.free : 0;
  const double fraction = static_cast<double>(used) / static_cast<double>(volume.total);
  if (fraction <= marks.high) {
    plan.reaches_low_watermark = true;
    return plan;
  }
  plan.needed = true;
  const auto low_bytes =
      static_cast<uint64_t>(std::floor(marks.low * static_cast<double>(volume.total)));
  plan.bytes_to_free = used > low_bytes ? used - low_bytes : 0;

  struct Eligible {
    const Candidate* c;
    Verdict v;
  };
  std::vector<Eligible> eligible;
  for (const auto& c : candidates) {
    if (c.record.deleted) continue;
    Verdict v = Judge(c, classes, /*force=*/false);
    if (v.refusal) {
      plan.refusals.push_back(Refusal{c.record.path, *v.refusal});
    } else {
      eligible.push_back(Eligible{&c, std::move(v)});
    }
  }
  std::sort(eligible.begin(), eligible.end(), [](const Eligible& a, const Eligible& b) {
    return std::tie(a.v.cls.cleanup_rank, a.c->record.mtime_ns, a.c->record.path) <
           std::tie(b.v.cls.cleanup_rank, b.c->record.mtime_ns, b.c->record.path);
  });
  const std::string why = "above high watermark (" + Percent(fraction) + " used > " +
                          Percent(marks.high) + ", down to " + Percent(marks.low) + ")";
  for (const auto& e : eligible) {
    if (plan.bytes_freed >= plan.bytes_to_free) break;
    plan.deletions.push_back(Deletion{e.c->record.path, e.c->record.size,
                                      why + ": class " + e.v.cls.name + ", " + CopiesText(e.v),
                                      e.v.justified_by});
    plan.bytes_freed += e.c->record.size;
  }
  plan.reaches_low_watermark = plan.bytes_freed >= plan.bytes_to_free;
  return plan;
}

CleanupPlan PlanFiles(const std::vector<Candidate>& requested,
                      const std::vector<FileClass>& classes, bool force) {
  CleanupPlan plan;
  std::set<std::string> seen;
  for (const auto& c : requested) {
    if (!seen.insert(c.record.path).second) continue;
    if (c.record.deleted) {
      plan.refusals.push_back(Refusal{c.record.path, "not present"});
      continue;
    }
    Verdict v = Judge(c, classes, force);
    if (v.refusal) {
      plan.refusals.push_back(Refusal{c.record.path, *v.refusal});
      continue;
    }
    const size_t verified = MatchingHolders(c).size();
    std::string reason = "requested: class " + v.cls.name + ", " + CopiesText(v);
    if (force && v.cls.replication > 1 && verified < static_cast<size_t>(v.cls.replication)) {
      reason += " (force: replication target of " + std::to_string(v.cls.replication) + " waived)";
    }
    plan.deletions.push_back(
        Deletion{c.record.path, c.record.size, std::move(reason), std::move(v.justified_by)});
    plan.bytes_freed += c.record.size;
  }
  return plan;
}

}  // namespace rift::cleanup
