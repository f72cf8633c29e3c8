// Sync planning: pure functions over the leader's view of the cluster (see planner.h).
//
// Interpretation of the contract where the view leaves room:
//  - Only alive nodes count, as holders, sources and targets (a dead node's copy may be gone).
//    A suspect node (alive but suspected, or whose manifest could not be read this round) still
//    counts as a holder, so a flapping node does not cause extra copies, but is neither a source
//    nor a target until it is plainly alive again (the next round).
//  - The current version of a path is the sealed copy with the newest mtime (transfers keep the
//    source's mtime), then the highest version, then the greatest sha256; a node holding any
//    other sha256 of the path does not hold it (and may receive the current one).
//  - Sources best first: the origin (the holder whose copy is oldest by mtime: received copies
//    that did not keep the mtime are younger), then by node id. Outbound-only holders are never
//    sources; when they are the only holders, the first of them that is not suspect pushes
//    instead, which needs a target that accepts connections (not outbound-only).
//  - A target must stay below its high watermark after the copy lands:
//      used + planned + size < high_watermark * total  (a node reporting total 0 is ineligible).
//  - A target that reached max_pulls_per_node (pulls + pushes) is skipped this round without a
//    shortfall: the next round continues.
#include "orchestrator/sync/planner.h"

#include <algorithm>
#include <tuple>

namespace rift::sync {
namespace {

using inventory::FileClass;
using inventory::FileRecord;

// The current version of one path and who holds it.
struct Version {
  const FileRecord* record = nullptr;
  std::vector<const NodeView*> holders;  // best first; outbound-only ones included
};

bool Offered(const FileRecord& f) { return f.sealed && !f.deleted && !f.sha256.empty(); }

bool Newer(const FileRecord& a, const FileRecord& b) {
  return std::tie(a.mtime_ns, a.version, a.sha256) > std::tie(b.mtime_ns, b.version, b.sha256);
}

FileClass ClassNamed(const std::vector<FileClass>& classes, const std::string& name) {
  for (const auto& c : classes) {
    if (c.name == name) return c;
  }
  FileClass other;  // unknown class: the defaults (replicated, not protected)
  other.name = name.empty() ? "other" : name;
  return other;
}

// Alive nodes sorted by id, so every iteration below is deterministic.
std::vector<const NodeView*> AliveNodes(const std::vector<NodeView>& nodes) {
  std::vector<const NodeView*> out;
  for (const auto& n : nodes) {
    if (n.alive) out.push_back(&n);
  }
  std::sort(out.begin(), out.end(),
            [](const NodeView* a, const NodeView* b) { return a->node_id < b->node_id; });
  return out;
}

// path -> current version, over alive nodes.
std::map<std::string, Version> CurrentVersions(const std::vector<const NodeView*>& alive) {
  std::map<std::string, Version> out;
  for (const NodeView* n : alive) {
    for (const auto& [path, rec] : n->files) {
      if (!Offered(rec)) continue;
      Version& v = out[path];
      if (!v.record || Newer(rec, *v.record)) v.record = &rec;
    }
  }
  for (auto& [path, v] : out) {
    for (const NodeView* n : alive) {
      auto it = n->files.find(path);
      if (it != n->files.end() && Offered(it->second) && it->second.sha256 == v.record->sha256) {
        v.holders.push_back(n);
      }
    }
    auto mtime = [&](const NodeView* n) { return n->files.at(path).mtime_ns; };
    std::stable_sort(v.holders.begin(), v.holders.end(),
                     [&](const NodeView* a, const NodeView* b) { return mtime(a) < mtime(b); });
  }
  return out;
}

class Builder {
 public:
  Builder(const PlanOptions& options) : options_(options) {}

  uint64_t Planned(const NodeView& n) const {
    auto it = planned_bytes_.find(n.node_id);
    return it == planned_bytes_.end() ? 0 : it->second;
  }
  bool Capped(const NodeView& n) const {
    auto it = planned_count_.find(n.node_id);
    return it != planned_count_.end() && it->second >= options_.max_pulls_per_node;
  }
  // Free bytes once the copies already planned for it have landed.
  uint64_t Headroom(const NodeView& n) const {
    uint64_t p = Planned(n);
    return n.disk_free > p ? n.disk_free - p : 0;
  }
  bool Fits(const NodeView& n, uint64_t size) const {
    if (n.disk_total == 0) return false;
    uint64_t used = n.disk_total > n.disk_free ? n.disk_total - n.disk_free : 0;
    // In whole bytes: a fraction times the total rounded to a double, so 0.8 means 80%.
    const auto limit = static_cast<uint64_t>(n.high_watermark * static_cast<double>(n.disk_total));
    return used + Planned(n) + size < limit;
  }

  // Plans `target` getting `v`: a pull from the pullable holders, else a push from the first
  // outbound-only one. Returns "" or why it is impossible.
  std::string Add(const NodeView& target, const Version& v) {
    const FileRecord& r = *v.record;
    std::vector<std::string> sources;
    const NodeView* pusher = nullptr;
    for (const NodeView* h : v.holders) {
      if (h->suspect) continue;
      if (!h->outbound_only) sources.push_back(h->node_id);
      if (h->outbound_only && !pusher) pusher = h;
    }
    if (!sources.empty()) {
      plan_.pulls.push_back(Pull{target.node_id, r.path, r.sha256, r.size, std::move(sources)});
    } else if (v.holders.empty()) {
      return "no alive holder";
    } else if (!pusher) {
      return "its holders are suspect this round";
    } else if (target.outbound_only) {
      return "only outbound-only holders and the target " + target.node_id +
             " is outbound-only too";
    } else {
      plan_.pushes.push_back(Push{pusher->node_id, target.node_id, r.path, r.sha256, r.size});
    }
    planned_bytes_[target.node_id] += r.size;
    planned_count_[target.node_id] += 1;
    return "";
  }

  void Shortfall(const std::string& path, std::string reason) {
    plan_.shortfalls.emplace_back(path, std::move(reason));
  }

  Plan Take() { return std::move(plan_); }

 private:
  const PlanOptions& options_;
  Plan plan_;
  std::map<std::string, uint64_t> planned_bytes_;
  std::map<std::string, size_t> planned_count_;
};

bool Holds(const Version& v, const NodeView& n) {
  return std::find(v.holders.begin(), v.holders.end(), &n) != v.holders.end();
}

// The node has the path unsealed: it is being written there, and a pull would replace it.
bool WritingLocally(const std::string& path, const NodeView& n) {
  auto it = n.files.find(path);
  return it != n.files.end() && !it->second.deleted && !it->second.sealed;
}

bool HasPullableSource(const Version& v) {
  return std::any_of(v.holders.begin(), v.holders.end(),
                     [](const NodeView* h) { return !h->outbound_only && !h->suspect; });
}

}  // namespace

Plan PlanTraining(const std::vector<NodeView>& nodes, const std::vector<FileClass>& classes,
                  const PlanOptions& options) {
  const auto alive = AliveNodes(nodes);
  Builder b(options);
  std::vector<const NodeView*> trainers;
  for (const NodeView* n : alive) {
    if (n->training) trainers.push_back(n);
  }
  for (const auto& [path, v] : CurrentVersions(alive)) {
    if (!ClassNamed(classes, v.record->klass).training_needs_all) continue;
    for (const NodeView* t : trainers) {
      if (t->suspect || Holds(v, *t) || WritingLocally(path, *t) || b.Capped(*t)) continue;
      if (!b.Fits(*t, v.record->size)) {
        b.Shortfall(path, "training node " + t->node_id + " would reach its high watermark");
        continue;
      }
      std::string why = b.Add(*t, v);
      if (!why.empty()) b.Shortfall(path, "training node " + t->node_id + ": " + why);
    }
  }
  return b.Take();
}

Plan PlanReplication(const std::vector<NodeView>& nodes, const std::vector<FileClass>& classes,
                     const PlanOptions& options) {
  const auto alive = AliveNodes(nodes);
  Builder b(options);
  for (const auto& [path, v] : CurrentVersions(alive)) {
    const FileClass cls = ClassNamed(classes, v.record->klass);
    const int have = static_cast<int>(v.holders.size());
    int missing = std::max(cls.replication, 1) - have;
    if (missing <= 0) continue;
    const bool pullable = HasPullableSource(v);
    std::vector<const NodeView*> chosen;
    bool capped = false;
    int full = 0, suspect = 0;
    while (missing > 0) {
      const NodeView* best = nullptr;
      for (const NodeView* n : alive) {
        if (Holds(v, *n) || WritingLocally(path, *n) ||
            std::find(chosen.begin(), chosen.end(), n) != chosen.end()) {
          continue;
        }
        if (!pullable && n->outbound_only) continue;  // a push needs a target that accepts
        if (n->suspect) {                             // not a target this round
          ++suspect;
          continue;
        }
        if (b.Capped(*n)) {
          capped = true;
          continue;
        }
        if (!b.Fits(*n, v.record->size)) {
          ++full;
          continue;
        }
        // Most headroom first; `alive` is sorted by id, so ties keep the smallest id.
        if (!best || b.Headroom(*n) > b.Headroom(*best)) best = n;
      }
      if (!best) break;
      chosen.push_back(best);
      std::string why = b.Add(*best, v);
      if (!why.empty()) {
        b.Shortfall(path, why);
        missing = 0;
        break;
      }
      --missing;
      full = suspect = 0;
    }
    if (missing > 0 && !capped) {
      std::string reason = "class " + cls.name + " wants " + std::to_string(cls.replication) +
                           " copies; " + std::to_string(have + chosen.size()) +
                           " possible (no other eligible node";
      if (full > 0) reason += "; " + std::to_string(full) + " at their high watermark";
      if (suspect > 0) reason += "; " + std::to_string(suspect) + " suspect this round";
      if (!pullable) {
        const bool pusher = std::any_of(v.holders.begin(), v.holders.end(), [](const NodeView* h) {
          return h->outbound_only && !h->suspect;
        });
        reason += pusher ? "; only outbound-only holders, which must push"
                         : "; no holder that is not suspect can send it";
      }
      b.Shortfall(path, reason + ")");
    }
  }
  return b.Take();
}

}  // namespace rift::sync
