#include "orchestrator/datasvc/leader_sync.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <tuple>

#include "orchestrator/base/log.h"
#include "orchestrator/base/time.h"
#include "orchestrator/inventory/manifest_json.h"
#include "orchestrator/net/http_client.h"
#include "orchestrator/sync/planner.h"

namespace rift::datasvc {
namespace {

using nlohmann::json;
constexpr size_t kRecentPlans = 16;
constexpr size_t kManifestPage = 5000;
constexpr auto kPendingTtl = std::chrono::seconds(120);
// A push assignment whose source has neither polled for it nor reported it for this long is
// dropped (failed); an outbound-only node's manifest is trusted for kReportFresh after its
// last poll.
constexpr auto kAssignmentTtl = std::chrono::seconds(120);
constexpr auto kReportFresh = std::chrono::seconds(60);
// A member that cannot be read (suspect, or its manifest request failed) is planned with its
// last manifest for this long after that was read, and only while its incarnation is the same
// (a restarted node may have lost its files). After that it is left out: its copies no longer
// count, and the files it held are re-replicated.
constexpr auto kStaleManifestTtl = std::chrono::seconds(120);
constexpr size_t kEndedPushes = 64;

struct NodeCache {
  uint64_t cursor = 0;
  // Present files: sealed ones, and unsealed ones (being written there: never a pull target).
  std::map<std::string, inventory::FileRecord> files;
  uint64_t disk_total = 0, disk_free = 0;
  double high_watermark = 0;  // the node's own (from its manifest); 0 = unknown
  bool outbound_only = false;
  TimePoint read_at{};       // when the manifest was last read (fetched nodes)
  uint64_t incarnation = 0;  // the member's incarnation then
};

Result<net::HttpResult> Call(const std::string& url, const std::string& token,
                             const std::string& method, const std::string& path,
                             const std::string& body, uint64_t term) {
  net::ClientOptions o;
  o.auth_token = token;
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.read_timeout = std::chrono::milliseconds(15000);
  o.write_timeout = std::chrono::milliseconds(5000);
  RIFT_ASSIGN_OR_RETURN(auto client, net::HttpClient::Create(url, o));
  std::vector<std::pair<std::string, std::string>> h;
  if (term) h.emplace_back("X-RingRift-Term", std::to_string(term));
  if (method == "GET") return client->Get(path, h);
  return client->Post(path, body, "application/json", h);
}

inventory::FileRecord ParseRecord(const json& r) {
  inventory::FileRecord f;
  f.path = r.value("path", "");
  f.size = r.value("size", uint64_t{0});
  f.mtime_ns = r.value("mtime_ns", int64_t{0});
  f.sha256 = r.value("sha256", "");
  f.klass = r.value("class", "");
  f.version = r.value("version", uint64_t{0});
  f.sealed = r.value("sealed", false);
  f.deleted = r.value("deleted", false);
  f.seq = r.value("seq", uint64_t{0});
  return f;
}

void ApplyRecord(inventory::FileRecord f, NodeCache* cache) {
  if (f.deleted) {
    cache->files.erase(f.path);
  } else {
    cache->files[f.path] = std::move(f);
  }
}

// Applies one manifest page to `cache`; true if more pages follow.
Result<bool> ApplyPage(inventory::ManifestPage page, const MemberRef& m, NodeCache* cache) {
  using Kind = inventory::ManifestPage::Value::Kind;
  auto typed = [&](const char* key, Kind kind) {
    auto it = page.fields.find(key);
    return it == page.fields.end() || it->second.kind == kind;
  };
  if (!typed("more", Kind::kBool)) return Unavailable("manifest: more: expected true or false");
  if (!typed("next_cursor", Kind::kUnsigned)) {
    return Unavailable("manifest: next_cursor: expected an unsigned integer");
  }
  bool more = page.Bool("more", false);
  uint64_t next = page.Unsigned("next_cursor", cache->cursor);
  if (more && next <= cache->cursor) {
    return Unavailable("manifest: more pages announced but next_cursor " + std::to_string(next) +
                       " does not advance past " + std::to_string(cache->cursor));
  }
  for (auto& rec : page.records) ApplyRecord(std::move(rec), cache);
  cache->cursor = next;
  cache->disk_total = page.Unsigned("disk.total", 0);
  cache->disk_free = page.Unsigned("disk.free", 0);
  cache->outbound_only = page.Bool("outbound_only", m.outbound_only);
  cache->high_watermark = page.Number("watermarks.high", 0.0);
  return more;
}

// Follows `m`'s manifest from `cache.cursor` to its end (applied to `cache`).
Status FetchManifest(const MemberRef& m, const std::string& token, NodeCache* cache) {
  for (int page = 0; page < 1000; ++page) {
    std::string path = "/sync/manifest?cursor=" + std::to_string(cache->cursor) +
                       "&limit=" + std::to_string(kManifestPage);
    RIFT_ASSIGN_OR_RETURN(auto r, Call(m.url, token, "GET", path, "", 0));
    if (r.status != 200) return Unavailable("manifest: HTTP " + std::to_string(r.status));
    auto parsed = inventory::ParseManifestPage(r.body);
    if (!parsed.ok()) return Unavailable(m.url + ": " + parsed.status().message());
    RIFT_ASSIGN_OR_RETURN(bool more, ApplyPage(std::move(*parsed), m, cache));
    if (!more) return Status::Ok();
  }
  return Status::Ok();
}

// Runs fn(i) for i in [0, n) on at most `threads` threads.
void ForEachParallel(size_t n, size_t threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (size_t t = 0; t < std::min(n, std::max<size_t>(1, threads)); ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next++) < n;) fn(i);
    });
  }
  for (auto& t : pool) t.join();
}

}  // namespace

Result<NodeReport> ParseNodeReport(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return InvalidArgument("body: expected a JSON object");
  NodeReport r;
  try {
    if (!j.value("node_id", json()).is_string() || j["node_id"].get<std::string>().empty()) {
      return InvalidArgument("node_id: required");
    }
    r.node_id = j["node_id"];
    if (j.contains("manifest")) {
      const json& m = j["manifest"];
      if (!m.is_object()) return InvalidArgument("manifest: expected an object");
      r.has_manifest = true;
      r.manifest_from = m.value("from", uint64_t{0});
      for (const auto& rec : m.value("records", json::array())) {
        if (!rec.is_object() || !rec.value("path", json()).is_string()) {
          return InvalidArgument("manifest.records[]: expected {path, size, sha256, ...}");
        }
        r.records.push_back(ParseRecord(rec));
      }
      r.next_cursor = m.value("next_cursor", r.manifest_from);
      r.more = m.value("more", false);
      json disk = m.value("disk", json::object());
      r.disk_total = disk.value("total", uint64_t{0});
      r.disk_free = disk.value("free", uint64_t{0});
      r.high_watermark = m.value("watermarks", json::object()).value("high", 0.0);
    }
    for (const auto& p : j.value("pushes", json::array())) {
      if (!p.is_object())
        return InvalidArgument("pushes[]: expected {path, sha256, target, state}");
      r.pushes.push_back({p.value("path", ""), p.value("sha256", ""), p.value("target", ""),
                          p.value("state", ""), p.value("error", "")});
    }
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("body: unexpected shape: ") + e.what());
  }
  return r;
}

struct LeaderSync::Impl {
  LeaderContext ctx;
  mutable std::mutex mu;  // cache, sent_holders, plans, next_plan
  std::map<std::string, NodeCache> cache;
  std::map<std::string, size_t> sent_holders;  // node -> hash of the last holders body
  // Pulls issued and not yet seen in the target's manifest, by (target, path). Counted as held
  // while fresh, so rounds in quick succession do not place extra copies; dropped when the
  // target restarts (new incarnation: its queue is gone) or after kPendingTtl.
  struct Pending {
    inventory::FileRecord record;
    TimePoint issued;
    uint64_t incarnation = 0;
  };
  std::map<std::pair<std::string, std::string>, Pending> pending;
  std::map<std::string, uint64_t> incarnation;  // as of the last Views()
  std::deque<PlanSummary> plans;
  uint64_t next_plan = 1;
  // Pushes planned for outbound-only holders, by (source, target, path).
  struct Assignment {
    std::string source, target, path;
    inventory::FileRecord record;  // the version to push (the source's record)
    uint64_t term = 0;
    std::string state = "planned";  // planned | active
    TimePoint updated;
    int64_t issued_ms = 0, updated_ms = 0;
  };
  using Key = std::tuple<std::string, std::string, std::string>;
  std::map<Key, Assignment> assignments;
  std::deque<PushAssignmentInfo> ended;  // newest first
  uint64_t pushes_done = 0, pushes_failed = 0;
  uint64_t assignments_term = 0;
  std::map<std::string, std::vector<PullSpec>> pull_orders;  // outbound-only target -> pulls
  std::map<std::string, TimePoint> reported;                 // outbound-only node -> its last poll

  bool OutboundOnly(const MemberRef& m) const {
    return m.node_id != ctx.node_id &&
           (m.outbound_only || ctx.outbound_only_nodes.count(m.node_id) > 0);
  }

  static PushAssignmentInfo Info(const Assignment& a) {
    return {a.source, a.target, a.path, a.record.sha256, a.record.size,
            a.term,   a.state,  "",     a.issued_ms,     a.updated_ms};
  }

  // Ends an assignment (mu held).
  std::map<Key, Assignment>::iterator End(std::map<Key, Assignment>::iterator it, bool ok,
                                          const std::string& why) {
    PushAssignmentInfo info = Info(it->second);
    info.state = ok ? "done" : "failed";
    info.error = ok ? "" : why;
    info.updated_ms = RealTime().WallMillis();
    (ok ? pushes_done : pushes_failed)++;
    if (!ok) {
      log::Warn("sync: push of " + info.path + " from " + info.source + " to " + info.target +
                " failed: " + why);
    }
    ended.push_front(std::move(info));
    while (ended.size() > kEndedPushes) ended.pop_back();
    return assignments.erase(it);
  }

  // A new term: the assignments and pull orders of the old one are dropped (mu held).
  void DropStale(uint64_t term) {
    if (term == assignments_term) return;
    for (auto it = assignments.begin(); it != assignments.end();) {
      it = End(it, false,
               "planned in term " + std::to_string(it->second.term) + ", now term " +
                   std::to_string(term));
    }
    pull_orders.clear();
    assignments_term = term;
  }

  // Ends assignments whose target now holds the version, or whose source went silent
  // (mu held).
  void SweepAssignments() {
    auto now = Clock::now();
    for (auto it = assignments.begin(); it != assignments.end();) {
      const Assignment& a = it->second;
      auto c = cache.find(a.target);
      if (c != cache.end()) {
        auto f = c->second.files.find(a.path);
        if (f != c->second.files.end() && f->second.sealed && f->second.sha256 == a.record.sha256) {
          it = End(it, true, "");
          continue;
        }
      }
      if (now - a.updated > kAssignmentTtl) {
        it = End(it, false,
                 "source " + a.source + " silent for " +
                     std::to_string(ToMillis(now - a.updated) / 1000) + " s");
        continue;
      }
      ++it;
    }
  }
  std::condition_variable cv;
  bool stopping = false, started = false;
  std::thread thread;
  LeaderSync* owner = nullptr;

  // Refreshes every alive member's manifest; returns the members to plan with and the
  // failures. Suspect members (not called: a hung node would hold the round for the whole
  // read timeout) and members whose manifest cannot be read this round are planned with their
  // last manifest, marked suspect, so that their copies still count: a slow or flapping node
  // must not make the round place extra copies.
  std::vector<MemberRef> Refresh(std::map<std::string, std::string>* errors) {
    auto members = ctx.sync_members ? ctx.sync_members() : ctx.alive_members();
    std::vector<NodeCache> work(members.size());
    {
      std::lock_guard lock(mu);
      for (size_t i = 0; i < members.size(); ++i) work[i] = cache[members[i].node_id];
    }
    std::vector<Status> st(members.size());
    // Outbound-only nodes cannot be called: their manifests arrive with their polls.
    ForEachParallel(members.size(), ctx.fetch_threads, [&](size_t i) {
      if (members[i].suspect) {
        st[i] = Unavailable("suspected by membership: planned with its last manifest");
      } else if (!OutboundOnly(members[i])) {
        st[i] = FetchManifest(members[i], ctx.token, &work[i]);
      }
    });
    std::vector<MemberRef> ok;
    std::lock_guard lock(mu);
    auto now = Clock::now();
    for (size_t i = 0; i < members.size(); ++i) {
      if (OutboundOnly(members[i])) {
        auto r = reported.find(members[i].node_id);
        if (r == reported.end() || now - r->second > kReportFresh) {
          (*errors)[members[i].node_id] =
              "outbound-only: no manifest from its polls (POST /sync/assignments) in the last " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::seconds>(kReportFresh).count()) +
              " s";
          continue;
        }
        cache[members[i].node_id].outbound_only = true;
        ok.push_back(members[i]);
        continue;
      }
      if (!st[i].ok()) {
        (*errors)[members[i].node_id] = st[i].ToString();
        auto c = cache.find(members[i].node_id);
        if (c != cache.end() && c->second.cursor > 0 &&
            c->second.incarnation == members[i].incarnation &&
            now - c->second.read_at <= kStaleManifestTtl) {  // plan with the last one read
          ok.push_back(members[i]);
          ok.back().suspect = true;
        }
        continue;
      }
      auto& c = cache[members[i].node_id];
      if (work[i].cursor >= c.cursor) c = std::move(work[i]);
      c.read_at = now;
      c.incarnation = members[i].incarnation;
      ok.push_back(members[i]);
    }
    return ok;
  }

  std::vector<sync::NodeView> Views(const std::vector<MemberRef>& members) {
    std::vector<sync::NodeView> views;
    std::lock_guard lock(mu);
    SweepAssignments();
    for (const auto& m : members) {
      const auto& c = cache[m.node_id];
      sync::NodeView v;
      v.node_id = m.node_id;
      v.url = m.url;
      v.training = ctx.training_nodes.count(m.node_id) > 0;
      v.suspect = m.suspect;
      v.outbound_only = c.outbound_only || OutboundOnly(m);
      v.disk_total = c.disk_total;
      v.disk_free = c.disk_free;
      v.high_watermark = c.high_watermark > 0 ? c.high_watermark : ctx.high_watermark;
      v.files = c.files;
      incarnation[m.node_id] = m.incarnation;
      for (auto it = pending.begin(); it != pending.end();) {
        const auto& [key, p] = *it;
        if (key.first != m.node_id) {
          ++it;
          continue;
        }
        auto held = c.files.find(key.second);
        bool arrived = held != c.files.end() && held->second.sha256 == p.record.sha256;
        if (arrived || p.incarnation != m.incarnation || Clock::now() - p.issued > kPendingTtl) {
          it = pending.erase(it);
          continue;
        }
        v.files.emplace(key.second, p.record);
        ++it;
      }
      // A push in progress counts as held by its target (no second copy is planned meanwhile).
      for (const auto& [key, a] : assignments) {
        if (a.target == m.node_id) v.files.emplace(a.path, a.record);
      }
      views.push_back(std::move(v));
    }
    return views;
  }

  // POST /sync/holders to each node whose list of other holders changed since last sent.
  // Outbound-only nodes are skipped: they cannot be called (they get no holder claims, so their
  // cleanup deletes nothing that needs a verified copy elsewhere).
  void SendHolders(const std::vector<sync::NodeView>& views, uint64_t term) {
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> who;  // path,sha
    for (const auto& v : views) {
      if (v.suspect) continue;  // no claims from a manifest that could not be read this round
      for (const auto& [p, f] : v.files) {
        if (f.sealed && !f.sha256.empty()) who[{p, f.sha256}].push_back(v.node_id);
      }
    }
    ForEachParallel(views.size(), ctx.fetch_threads, [&](size_t i) {
      const auto& v = views[i];
      if (v.suspect || (v.outbound_only && v.node_id != ctx.node_id)) return;
      json list = json::array();
      for (const auto& [p, f] : v.files) {
        if (!f.sealed || f.sha256.empty()) continue;
        for (const auto& id : who[{p, f.sha256}]) {
          if (id != v.node_id) list.push_back({{"path", p}, {"node_id", id}, {"sha256", f.sha256}});
        }
      }
      std::string body = json{{"holders", list}, {"term", term}}.dump();
      size_t h = std::hash<std::string>()(list.dump());
      {
        std::lock_guard lock(mu);
        if (list.empty() || sent_holders[v.node_id] == h) return;
      }
      if (!ctx.has_lease()) return;
      auto r = Call(v.url, ctx.token, "POST", "/sync/holders", body, term);
      if (r.ok() && r->status == 200) {
        std::lock_guard lock(mu);
        sent_holders[v.node_id] = h;
      }
    });
  }

  // Leader-triggered cleanup: POST /cleanup to every node above the high watermark.
  void TriggerCleanup() {
    std::map<std::string, std::string> errors;
    auto members = Refresh(&errors);
    uint64_t term = ctx.term();
    for (const auto& m : members) {
      if (OutboundOnly(m) || m.suspect) continue;  // cannot be called (or not now)
      NodeCache c;
      {
        std::lock_guard lock(mu);
        c.disk_total = cache[m.node_id].disk_total;
        c.disk_free = cache[m.node_id].disk_free;
        c.high_watermark = cache[m.node_id].high_watermark;
      }
      if (c.disk_total == 0) continue;
      double used = 1.0 - static_cast<double>(c.disk_free) / static_cast<double>(c.disk_total);
      double high = c.high_watermark > 0 ? c.high_watermark : ctx.high_watermark;
      if (used <= high || !ctx.has_lease()) continue;
      log::Info("cleanup: " + m.node_id + " at " + std::to_string(static_cast<int>(used * 100)) +
                "% of its data volume: asking it to clean up");
      auto r = Call(m.url, ctx.token, "POST", "/cleanup", json{{"term", term}}.dump(), term);
      if (!r.ok() || r->status != 200) log::Warn("cleanup on " + m.node_id + " failed");
    }
  }

  void Loop();
};

LeaderSync::LeaderSync(LeaderContext context) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = std::move(context);
  impl_->owner = this;
}
LeaderSync::~LeaderSync() { Stop(); }

void LeaderSync::Start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->started) return;
  impl_->started = true;
  impl_->thread = std::thread([impl = impl_.get()] { impl->Loop(); });
}

void LeaderSync::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->started) return;
    impl_->started = false;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

Result<PlanSummary> LeaderSync::Run(PlanKind kind) {
  Impl& s = *impl_;
  if (kind == PlanKind::kTraining && s.ctx.training_nodes.empty()) {
    return FailedPrecondition(
        "no training node configured: give a host `role: nn_training` (or `all`) in "
        "distributed_hosts.yaml");
  }
  PlanSummary sum;
  sum.kind = kind == PlanKind::kTraining ? "training" : "replication";
  sum.term = s.ctx.term();
  sum.at_ms = RealTime().WallMillis();
  auto members = s.Refresh(&sum.errors);
  auto views = s.Views(members);
  sync::Plan plan = kind == PlanKind::kTraining ? sync::PlanTraining(views, s.ctx.classes, {})
                                                : sync::PlanReplication(views, s.ctx.classes, {});
  sum.shortfalls = plan.shortfalls;
  std::map<std::string, const sync::NodeView*> by_id;
  std::map<std::string, std::string> url;
  for (const auto& v : views) {
    url[v.node_id] = v.url;
    by_id[v.node_id] = &v;
  }
  {
    std::lock_guard lock(s.mu);
    s.DropStale(sum.term);
    for (const auto& p : plan.pushes) {
      Impl::Key key{p.source, p.target, p.path};
      auto it = s.assignments.find(key);
      if (it != s.assignments.end() && it->second.record.sha256 == p.sha256) {
        sum.pushes_kept++;
        continue;
      }
      Impl::Assignment a;
      a.source = p.source;
      a.target = p.target;
      a.path = p.path;
      a.record = by_id[p.source]->files.at(p.path);
      a.term = sum.term;
      a.updated = Clock::now();
      a.issued_ms = a.updated_ms = sum.at_ms;
      s.assignments[key] = std::move(a);
      sum.pushes_planned++;
    }
  }
  std::map<std::string, json> per_target;
  std::map<std::string, std::vector<PullSpec>> orders;  // for outbound-only targets
  std::vector<std::pair<std::string, inventory::FileRecord>> issued;
  for (const auto& p : plan.pulls) {
    json sources = json::array();
    for (const auto& id : p.sources) sources.push_back(url[id]);
    inventory::FileRecord rec;
    if (!p.sources.empty()) rec = by_id[p.sources.front()]->files.at(p.path);
    if (by_id[p.target]->outbound_only && p.target != s.ctx.node_id) {
      PullSpec spec{p.path, p.sha256, p.size, {}, rec.mtime_ns};
      for (const auto& id : p.sources) spec.sources.push_back(url[id]);
      orders[p.target].push_back(std::move(spec));
      issued.emplace_back(p.target, rec);
      sum.pulls_per_node[p.target]++;
      sum.bytes += p.size;
      continue;
    }
    per_target[p.target].push_back({{"path", p.path},
                                    {"sha256", p.sha256},
                                    {"size", p.size},
                                    {"sources", sources},
                                    {"mtime_ns", rec.mtime_ns}});
    issued.emplace_back(p.target, rec);
    sum.pulls_per_node[p.target]++;
    sum.bytes += p.size;
  }
  if (!s.ctx.has_lease()) return NotLeader("lease lost before issuing pulls");
  std::vector<std::pair<std::string, json>> targets(per_target.begin(), per_target.end());
  std::vector<std::string> errs(targets.size());
  ForEachParallel(targets.size(), s.ctx.fetch_threads, [&](size_t i) {
    if (!s.ctx.has_lease()) return void(errs[i] = "lease lost: not sent");
    std::string body = json{{"files", targets[i].second}, {"term", sum.term}}.dump();
    auto r = Call(url[targets[i].first], s.ctx.token, "POST", "/sync/pull", body, sum.term);
    if (!r.ok())
      errs[i] = r.status().ToString();
    else if (r->status != 202)
      errs[i] = "HTTP " + std::to_string(r->status) + ": " + r->body;
  });
  for (size_t i = 0; i < targets.size(); ++i) {
    if (!errs[i].empty()) sum.errors[targets[i].first] = errs[i];
  }
  {
    std::lock_guard lock(s.mu);
    for (auto& [target, specs] : orders) {  // handed out at the target's next poll
      auto& list = s.pull_orders[target];
      list.insert(list.end(), specs.begin(), specs.end());
    }
    for (const auto& [target, rec] : issued) {
      if (!sum.errors.count(target)) {
        s.pending[{target, rec.path}] = {rec, Clock::now(), s.incarnation[target]};
      }
    }
  }
  s.SendHolders(views, sum.term);
  std::lock_guard lock(s.mu);
  sum.plan_id = "plan-" + std::to_string(s.next_plan++);
  s.plans.push_front(sum);
  while (s.plans.size() > kRecentPlans) s.plans.pop_back();
  log::Info("sync: " + sum.plan_id + " (" + sum.kind + ") " + std::to_string(plan.pulls.size()) +
            " pulls, " + std::to_string(sum.pushes_planned) + " new pushes, " +
            std::to_string(sum.shortfalls.size()) + " shortfalls");
  return sum;
}

std::vector<FanoutReply> LeaderSync::PostToAll(const std::string& path, const std::string& body) {
  auto members = impl_->ctx.alive_members();
  uint64_t term = impl_->ctx.term();
  std::vector<FanoutReply> out(members.size());
  ForEachParallel(members.size(), impl_->ctx.fetch_threads, [&](size_t i) {
    out[i].node_id = members[i].node_id;
    auto r = Call(members[i].url, impl_->ctx.token, "POST", path, body, term);
    if (!r.ok()) {
      out[i].error = r.status().ToString();
      return;
    }
    out[i].status = r->status;
    out[i].body = r->body;
  });
  return out;
}

Result<NodeAssignments> LeaderSync::Assign(const NodeReport& report) {
  Impl& s = *impl_;
  if (!s.ctx.has_lease()) return NotLeader("this node holds no leader lease");
  const uint64_t term = s.ctx.term();
  std::map<std::string, std::string> urls;
  for (const auto& m : s.ctx.alive_members()) {
    if (!s.OutboundOnly(m)) urls[m.node_id] = m.url;
  }
  std::lock_guard lock(s.mu);
  s.DropStale(term);
  auto now = Clock::now();
  int64_t now_ms = RealTime().WallMillis();
  NodeCache& c = s.cache[report.node_id];
  s.reported[report.node_id] = now;
  c.outbound_only = true;
  if (report.has_manifest) {
    if (report.manifest_from == c.cursor) {  // else the node resends from our cursor
      for (const auto& r : report.records) ApplyRecord(r, &c);
      c.cursor = std::max(c.cursor, report.next_cursor);
    }
    c.disk_total = report.disk_total;
    c.disk_free = report.disk_free;
    c.high_watermark = report.high_watermark;
  }
  for (const auto& p : report.pushes) {
    auto it = s.assignments.find({report.node_id, p.target, p.path});
    if (it == s.assignments.end() || it->second.record.sha256 != p.sha256) continue;
    if (p.state == "done") {
      // Held by the target from now on, even if this round's copy of its manifest predates the
      // push (else the round would place another copy): like an issued pull, until the
      // target's manifest shows it.
      const Impl::Assignment& a = it->second;
      s.pending[{a.target, a.path}] = {a.record, now, s.incarnation[a.target]};
      s.End(it, true, "");
    } else if (p.state == "failed") {
      s.End(it, false, p.error.empty() ? "reported failed" : p.error);
    } else {
      it->second.state = "active";
      it->second.updated = now;
      it->second.updated_ms = now_ms;
    }
  }
  NodeAssignments out;
  out.term = term;
  out.cursor = c.cursor;
  for (auto& [key, a] : s.assignments) {
    if (a.source != report.node_id) continue;
    auto u = urls.find(a.target);
    if (u == urls.end()) continue;  // target not alive now: next poll
    a.state = "active";
    a.updated = now;
    a.updated_ms = now_ms;
    out.pushes.push_back(
        {a.path, a.record.sha256, a.record.size, a.record.mtime_ns, a.target, u->second, a.term});
  }
  auto orders = s.pull_orders.find(report.node_id);
  if (orders != s.pull_orders.end()) {
    out.pulls = std::move(orders->second);
    s.pull_orders.erase(orders);
  }
  return out;
}

NodeAssignments LeaderSync::Listed(const std::string& node_id) const {
  const Impl& s = *impl_;
  std::map<std::string, std::string> urls;
  for (const auto& m : s.ctx.alive_members()) urls[m.node_id] = m.url;
  std::lock_guard lock(s.mu);
  NodeAssignments out;
  out.term = s.assignments_term;
  auto c = s.cache.find(node_id);
  out.cursor = c == s.cache.end() ? 0 : c->second.cursor;
  for (const auto& [key, a] : s.assignments) {
    if (a.source != node_id) continue;
    auto u = urls.find(a.target);
    out.pushes.push_back({a.path, a.record.sha256, a.record.size, a.record.mtime_ns, a.target,
                          u == urls.end() ? "" : u->second, a.term});
  }
  auto orders = s.pull_orders.find(node_id);
  if (orders != s.pull_orders.end()) out.pulls = orders->second;
  return out;
}

PushFigures LeaderSync::Pushes() const {
  const Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  PushFigures f;
  f.done = s.pushes_done;
  f.failed = s.pushes_failed;
  for (const auto& [key, a] : s.assignments) {
    (a.state == "planned" ? f.planned : f.active)++;
    f.assignments.push_back(Impl::Info(a));
  }
  f.assignments.insert(f.assignments.end(), s.ended.begin(), s.ended.end());
  return f;
}

std::vector<PlanSummary> LeaderSync::RecentPlans() const {
  std::lock_guard lock(impl_->mu);
  return {impl_->plans.begin(), impl_->plans.end()};
}

void LeaderSync::Impl::Loop() {
  auto next_sync = Clock::now() + ctx.sync_interval;
  auto next_cleanup = Clock::now() + ctx.cleanup_interval;
  std::unique_lock lock(mu);
  while (!stopping) {
    cv.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping; });
    if (stopping) return;
    lock.unlock();
    auto now = Clock::now();
    if (!ctx.has_lease()) {  // a new leader starts its rounds one interval after winning
      next_sync = now + ctx.sync_interval;
      next_cleanup = now + ctx.cleanup_interval;
    } else if (now >= next_sync) {
      next_sync = now + ctx.sync_interval;
      if (!ctx.training_nodes.empty()) (void)owner->Run(PlanKind::kTraining);
      (void)owner->Run(PlanKind::kReplication);
    } else if (now >= next_cleanup) {
      next_cleanup = now + ctx.cleanup_interval;
      TriggerCleanup();
    }
    lock.lock();
  }
}

}  // namespace rift::datasvc
