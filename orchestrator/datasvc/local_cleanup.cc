#include "orchestrator/datasvc/local_cleanup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "orchestrator/base/log.h"
#include "orchestrator/base/time.h"
#include "orchestrator/inventory/paths.h"
#include "orchestrator/net/http_client.h"

namespace rift::datasvc {
namespace {

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Keep-alive clients by holder URL, for one cleanup run.
using Clients = std::map<std::string, std::unique_ptr<net::HttpClient>>;

// True if `url` serves `path` sealed with exactly `sha256` (one byte fetched).
bool VerifyHolder(Clients* clients, const std::string& url, const std::string& token,
                  const std::string& path, const std::string& sha256) {
  auto& client = (*clients)[url];
  if (!client) {
    net::ClientOptions o;
    o.auth_token = token;
    o.connect_timeout = std::chrono::milliseconds(1000);
    o.read_timeout = std::chrono::milliseconds(3000);
    auto c = net::HttpClient::Create(url, o);
    if (!c.ok()) return false;
    client = std::move(c).value();
  }
  bool match = false;
  net::StreamHandlers h;
  h.on_head = [&](const net::HttpResult& head) {
    if (head.status != 206 && head.status != 200) return false;
    auto et = head.headers.find("etag");
    auto xs = head.headers.find("x-ringrift-sha256");
    match = (et != head.headers.end() && et->second == "\"" + sha256 + "\"") ||
            (xs != head.headers.end() && xs->second == sha256);
    return head.status == 206;  // a 200 would stream the whole file: stop
  };
  h.on_data = [](const char*, size_t) { return true; };
  auto r = client->Stream("GET", "/sync/file?path=" + UrlEncode(path), {{"Range", "bytes=0-0"}}, h);
  return match && r.ok() && r->status == 206;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

Result<cleanup::Volume> MeasureVolume(const std::string& dir) {
  struct statvfs v {};
  if (statvfs(dir.c_str(), &v) != 0) return Internal("statvfs " + dir + " failed");
  return cleanup::Volume{static_cast<uint64_t>(v.f_blocks) * v.f_frsize,
                         static_cast<uint64_t>(v.f_bavail) * v.f_frsize};
}

Status UnlinkBeneath(const std::string& root, const std::string& rel) {
  int dir = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return FailedPrecondition("cannot open the data root");
  std::stringstream ss(rel);
  std::vector<std::string> parts;
  for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = openat(dir, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(dir);
    if (next < 0) return PermissionDenied(rel + ": directory missing or a symlink");
    dir = next;
  }
  struct stat st {};
  Status out = Status::Ok();
  if (fstatat(dir, parts.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    out = NotFound(rel + ": no such file");
  } else if (!S_ISREG(st.st_mode)) {
    out = PermissionDenied(rel + ": not a regular file");
  } else if (unlinkat(dir, parts.back().c_str(), 0) != 0) {
    out = Internal(rel + ": unlink failed");
  }
  close(dir);
  return out;
}

Result<CleanupOutcome> RunLocalCleanup(DataService* data, const CleanupRequest& req,
                                       const UrlOf& url_of) {
  auto* inv = data->inventory();
  const std::string& root = data->options().data_root;
  const std::string& self = data->options().node_id;
  CleanupOutcome out;
  RIFT_ASSIGN_OR_RETURN(out.volume, MeasureVolume(root));

  std::vector<cleanup::Candidate> cands;
  std::vector<cleanup::Refusal> unknown;
  auto add = [&](inventory::FileRecord rec) {
    cleanup::Candidate c{rec, {}};
    for (auto& h : inv->Holders(rec.path)) {
      if (h.node_id != self && h.sha256 == rec.sha256) c.holders.push_back(h);
    }
    cands.push_back(std::move(c));
  };
  if (req.explicit_files) {
    for (const auto& f : req.files) {
      auto rel = inventory::ConfinePath(root, f);
      if (!rel.ok()) {
        unknown.push_back({f, rel.status().ToString()});
        continue;
      }
      auto rec = inv->Get(*rel);
      if (!rec || rec->deleted) {
        unknown.push_back({*rel, "not in the inventory"});
        continue;
      }
      add(*rec);
    }
  } else {
    for (auto& r : inv->Sealed()) add(std::move(r));
  }
  auto plan = [&] {
    return req.explicit_files ? cleanup::PlanFiles(cands, data->classes(), req.force)
                              : cleanup::PlanCleanup(out.volume, req.marks, cands, data->classes());
  };
  // Pass 1 trusts the recorded holders; only the holders it relies on are re-verified, and
  // pass 2 plans with verified holders alone (unverified claims justify nothing).
  cleanup::CleanupPlan first = plan();
  std::set<std::string> relied;
  Clients clients;
  for (const auto& d : first.deletions) relied.insert(d.path);
  for (auto& c : cands) {
    std::vector<inventory::Holder> ok;
    if (relied.count(c.record.path)) {
      for (const auto& h : c.holders) {
        out.holders_checked++;
        std::string url = url_of(h.node_id);
        if (!url.empty() &&
            VerifyHolder(&clients, url, data->options().token, c.record.path, c.record.sha256)) {
          ok.push_back(h);
        }
      }
    }
    out.holders_verified += ok.size();
    c.holders = std::move(ok);
  }
  out.plan = plan();
  out.plan.refusals.insert(out.plan.refusals.end(), unknown.begin(), unknown.end());
  if (req.dry_run) return out;
  for (const auto& d : out.plan.deletions) {
    Status st = UnlinkBeneath(root, d.path);
    if (!st.ok()) {
      out.failed.push_back({d.path, st.ToString()});
      continue;
    }
    (void)inv->RecordDeleted(d.path, RealTime().WallMillis());
    out.deleted.push_back(d.path);
    log::Info("cleanup: deleted " + d.path + " (" + std::to_string(d.size) +
              " bytes): " + (req.explicit_files && !req.reason.empty() ? req.reason + "; " : "") +
              d.reason + "; justified by [" + Join(d.justified_by) + "]");
  }
  return out;
}

}  // namespace rift::datasvc
