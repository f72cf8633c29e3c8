#include "orchestrator/datasvc/push_agent.h"

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "orchestrator/base/log.h"
#include "orchestrator/datasvc/local_cleanup.h"
#include "orchestrator/net/http_client.h"

namespace rift::datasvc {
namespace {

using nlohmann::json;
constexpr size_t kManifestRecords = 2000;
constexpr size_t kMaxReports = 2000;  // push outcomes per poll (the rest in the next ones)

json RecordJson(const inventory::FileRecord& r) {
  return {{"path", r.path},     {"size", r.size},       {"mtime_ns", r.mtime_ns},
          {"sha256", r.sha256}, {"class", r.klass},     {"version", r.version},
          {"sealed", r.sealed}, {"deleted", r.deleted}, {"seq", r.seq}};
}

// Shared with the data service's push-done callback, which may run on a worker thread just
// after the agent stopped.
struct Waker {
  std::mutex mu;
  std::condition_variable cv;
  bool wake = false, stopping = false;
  void Wake() {
    {
      std::lock_guard lock(mu);
      wake = true;
    }
    cv.notify_all();
  }
};

}  // namespace

struct PushAgent::Impl {
  PushAgentContext ctx;
  std::shared_ptr<Waker> waker = std::make_shared<Waker>();
  mutable std::mutex mu;  // figures, started
  bool started = false;
  PushAgentFigures figures;
  std::thread thread;
  // Poll thread only:
  std::vector<PushOutcome> unreported;  // kept until a poll succeeds
  std::string preferred;                // a leader URL learned from a 421 or a 200
  uint64_t cursor = 0;                  // where the leader's copy of our manifest ends
  int redirects = 0;                    // 421s followed since the last answer
  bool first = true;

  // The manifest page after `cursor`, at most manifest_page_bytes of records.
  json Page(bool* more) {
    inventory::Manifest m = ctx.data->inventory()->ManifestSince(cursor, kManifestRecords);
    json records = json::array();
    size_t bytes = 0;
    uint64_t next = cursor;
    *more = m.more;
    for (const auto& r : m.records) {
      json j = RecordJson(r);
      size_t n = j.dump().size() + 1;
      if (!records.empty() && bytes + n > ctx.manifest_page_bytes) {
        *more = true;
        break;
      }
      bytes += n;
      next = r.seq;
      records.push_back(std::move(j));
    }
    if (records.size() == m.records.size()) next = std::max(next, m.next_cursor);
    auto vol = MeasureVolume(ctx.data->options().data_root);
    cleanup::Volume v = vol.ok() ? *vol : cleanup::Volume{};
    return {{"from", cursor},
            {"records", std::move(records)},
            {"next_cursor", next},
            {"more", *more},
            {"disk", {{"total", v.total}, {"free", v.free}}},
            {"watermarks", {{"high", ctx.marks.high}, {"low", ctx.marks.low}}}};
  }

  json Reports() {
    json out = json::array();
    size_t n = 0;
    for (const auto& o : unreported) {
      if (++n > kMaxReports) break;
      out.push_back({{"path", o.path},
                     {"sha256", o.sha256},
                     {"target", o.target_id},
                     {"state", o.ok ? "done" : "failed"},
                     {"error", o.error}});
    }
    for (const auto& p : ctx.data->PendingPushes()) {
      out.push_back(
          {{"path", p.path}, {"sha256", p.sha256}, {"target", p.target_id}, {"state", "active"}});
    }
    return out;
  }

  std::vector<std::string> Candidates() {
    std::vector<std::string> out;
    if (!preferred.empty()) out.push_back(preferred);
    for (auto& u : ctx.leader_urls()) {
      if (u != preferred && !u.empty()) out.push_back(u);
    }
    return out;
  }

  void Error(const std::string& e) {
    std::lock_guard lock(mu);
    figures.poll_errors++;
    if (figures.last_error != e) log::Warn("push agent: " + e);
    figures.last_error = e;
  }

  // One poll; returns true to poll again at once (more manifest to send).
  bool Poll() {
    auto fresh = ctx.data->TakePushOutcomes();
    unreported.insert(unreported.end(), fresh.begin(), fresh.end());
    bool more = false;
    json body = {{"node_id", ctx.node_id}, {"manifest", Page(&more)}, {"pushes", Reports()}};
    const uint64_t sent_next = body["manifest"]["next_cursor"];
    const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
    std::string errors;
    for (const std::string& url : Candidates()) {
      net::ClientOptions o;
      o.auth_token = ctx.token;
      o.connect_timeout = std::chrono::milliseconds(1000);
      o.read_timeout = std::chrono::milliseconds(15000);
      o.write_timeout = std::chrono::milliseconds(5000);
      auto client = net::HttpClient::Create(url, o);
      if (!client.ok()) continue;
      auto r = (*client)->Post("/sync/assignments", text, "application/json");
      if (!r.ok()) {
        errors += (errors.empty() ? "" : "; ") + url + ": " + r.status().ToString();
        if (url == preferred) preferred.clear();
        continue;
      }
      json j = json::parse(r->body, nullptr, false);
      if (r->status == 421) {  // not the leader: it may name one (followed a few times in a row)
        if (j.is_object() && j.value("leader_url", json()).is_string() && ++redirects <= 3) {
          preferred = j["leader_url"];
          return true;
        }
        errors += (errors.empty() ? "" : "; ") + url + ": not the leader (" +
                  (redirects > 3 ? "redirected in a loop" : "no leader known") + ")";
        continue;
      }
      if (r->status != 200 || !j.is_object()) {
        errors += (errors.empty() ? "" : "; ") + url + ": HTTP " + std::to_string(r->status) + " " +
                  r->body.substr(0, 300);
        continue;
      }
      preferred = url;
      redirects = 0;
      return Apply(j, more, sent_next);
    }
    Error(errors.empty() ? "no leader or member known to ask" : errors);
    redirects = 0;
    return false;
  }

  bool Apply(const json& j, bool more, uint64_t sent_next) {
    size_t reported = std::min(unreported.size(), kMaxReports);
    unreported.erase(unreported.begin(), unreported.begin() + static_cast<ptrdiff_t>(reported));
    uint64_t term = j.value("term", uint64_t{0});
    uint64_t answered = j.value("cursor", cursor);
    // The leader applied our page (its cursor is where the page ended), or it holds another
    // cursor (a new leader starts at 0): continue from its cursor either way.
    bool resend = answered != sent_next;
    cursor = answered;
    std::vector<PushSpec> pushes;
    std::vector<PullSpec> pulls;
    try {
      for (const auto& p : j.value("pushes", json::array())) {
        pushes.push_back({p.at("path"), p.at("sha256"), p.at("size"),
                          p.value("mtime_ns", int64_t{0}), p.at("target"), p.at("target_url"),
                          term});
      }
      for (const auto& f : j.value("pulls", json::array())) {
        PullSpec spec{
            f.at("path"), f.at("sha256"), f.at("size"), {}, f.value("mtime_ns", int64_t{0})};
        for (const auto& s : f.value("sources", json::array())) spec.sources.push_back(s);
        pulls.push_back(std::move(spec));
      }
    } catch (const json::exception& e) {
      Error(std::string("assignments: unexpected shape: ") + e.what());
      return false;
    }
    if (!pushes.empty()) {
      auto r = ctx.data->SubmitPushes(pushes);
      if (!r.ok()) Error("assigned pushes refused: " + r.status().ToString());
    }
    if (!pulls.empty()) {
      auto r = ctx.data->Submit(pulls);
      if (!r.ok()) Error("assigned pulls refused: " + r.status().ToString());
    }
    {
      std::lock_guard lock(mu);
      figures.polls++;
      figures.leader_url = preferred;
      figures.term = term;
      figures.cursor = cursor;
      figures.pushes_received += pushes.size();
      figures.pulls_received += pulls.size();
      figures.last_error.clear();
    }
    if (first) {
      log::Info("push agent: polling the leader at " + preferred + " (outbound-only node)");
      first = false;
    }
    return more || resend || unreported.size() > 0;
  }

  void Loop() {
    Waker& w = *waker;
    while (true) {
      bool again = Poll();
      std::unique_lock lock(w.mu);
      if (!again) {
        w.cv.wait_for(lock, ctx.poll_interval, [&w] { return w.stopping || w.wake; });
      }
      w.wake = false;
      if (w.stopping) return;
    }
  }
};

PushAgent::PushAgent(PushAgentContext context) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = std::move(context);
}

PushAgent::~PushAgent() { Stop(); }

void PushAgent::Start() {
  Impl* s = impl_.get();
  {
    std::lock_guard lock(s->mu);
    if (s->started) return;
    s->started = true;
  }
  s->ctx.data->OnPushDone([w = s->waker] { w->Wake(); });
  s->thread = std::thread([s] { s->Loop(); });
}

void PushAgent::Stop() {
  Impl* s = impl_.get();
  {
    std::lock_guard lock(s->mu);
    if (!s->started) return;
    s->started = false;
  }
  s->ctx.data->OnPushDone(nullptr);
  {
    std::lock_guard lock(s->waker->mu);
    s->waker->stopping = true;
  }
  s->waker->cv.notify_all();
  s->thread.join();
}

PushAgentFigures PushAgent::Figures() const {
  std::lock_guard lock(impl_->mu);
  return impl_->figures;
}

}  // namespace rift::datasvc
