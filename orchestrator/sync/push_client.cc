// PushFile and PushBatch: the source side of a push (see push.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "orchestrator/inventory/paths.h"
#include "orchestrator/net/http_client.h"
#include "orchestrator/sync/push.h"
#include "orchestrator/sync/transfer_io.h"

namespace rift::sync {
namespace {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr int kBusyRetries = 20;
constexpr int kMaxConflicts = 8;
constexpr int kTransportRetries = 3;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Code CodeFromName(const std::string& name) {
  static const std::pair<const char*, Code> kCodes[] = {
      {"INVALID_ARGUMENT", Code::kInvalidArgument},
      {"NOT_FOUND", Code::kNotFound},
      {"FAILED_PRECONDITION", Code::kFailedPrecondition},
      {"STALE_TERM", Code::kStaleTerm},
      {"UNAVAILABLE", Code::kUnavailable},
      {"PERMISSION_DENIED", Code::kPermissionDenied},
      {"UNAUTHENTICATED", Code::kUnauthenticated},
      {"RESOURCE_EXHAUSTED", Code::kResourceExhausted},
      {"INSUFFICIENT_STORAGE", Code::kResourceExhausted},
  };
  for (const auto& [n, c] : kCodes) {
    if (name == n) return c;
  }
  return Code::kInternal;
}

// A refusal by the target, as a Status naming the target and its message.
Status FromAnswer(const std::string& target, const std::string& rel, const net::HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  std::string code, message = r.body.substr(0, 500);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    code = j["error"].value("code", "");
    message = j["error"].value("message", message);
  }
  Code c = CodeFromName(code);
  if (r.status == 507) c = Code::kResourceExhausted;
  if (c == Code::kInternal && r.status == 503) c = Code::kUnavailable;
  return Status(c, target + " refused the push of '" + rel + "' (HTTP " + std::to_string(r.status) +
                       "): " + message);
}

// `fd` is still the sealed version `f` of `rel` (size, mtime and sha256 as recorded).
Status CheckSealed(const inventory::Inventory* inv, const std::string& rel, int fd,
                   const PushFileInfo& f) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Internal("stat '" + rel + "': " + std::strerror(errno));
  if (static_cast<uint64_t>(st.st_size) != f.size) {
    return FailedPrecondition("'" + rel + "' is " + std::to_string(st.st_size) +
                              " bytes here, not the " + std::to_string(f.size) +
                              " bytes of the version to push");
  }
  if (!inv) return Status::Ok();
  auto rec = inv->Get(rel);
  int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (!rec || rec->deleted || !rec->sealed || rec->sha256 != f.sha256 || rec->mtime_ns != mtime ||
      rec->size != f.size) {
    return FailedPrecondition("'" + rel + "' here is no longer the sealed version " + f.sha256 +
                              ": nothing pushed");
  }
  return Status::Ok();
}

Status ReadAt(int fd, char* buf, size_t len, uint64_t offset, const std::string& rel) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, buf + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("read '" + rel + "': " + std::strerror(errno));
    if (n == 0) return FailedPrecondition("'" + rel + "' shrank while being pushed");
    got += static_cast<size_t>(n);
  }
  return Status::Ok();
}

net::ClientOptions Client(const PushOptions& o, const std::string& token) {
  net::ClientOptions co;
  co.connect_timeout = o.connect_timeout;
  co.read_timeout = o.read_timeout;
  co.write_timeout = o.read_timeout;
  co.auth_token = token;
  return co;
}

// Calls `fn` until the target is not busy (503), a bounded number of times.
Result<net::HttpResult> RetryBusy(const std::function<Result<net::HttpResult>()>& fn) {
  for (int attempt = 0;; ++attempt) {
    Result<net::HttpResult> r = fn();
    if (!r.ok() || r->status != 503 || attempt == kBusyRetries) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(50 * (attempt + 1)));
  }
}

}  // namespace

Result<PushResult> PushFile(const PushRequest& request, const PushOptions& options) {
  const PushFileInfo& f = request.file;
  RIFT_ASSIGN_OR_RETURN(std::string rel, inventory::ConfinePath(options.data_root, f.path));
  RIFT_ASSIGN_OR_RETURN(int raw, inventory::OpenBeneath(options.data_root, rel));
  Fd fd(raw);
  RIFT_RETURN_IF_ERROR(CheckSealed(options.inventory, rel, fd.get(), f));
  const Headers headers = {{"X-RingRift-Term", std::to_string(request.term)}};
  const std::string query = "/sync/push?path=" + internal::QueryEscape(rel) +
                            "&sha256=" + f.sha256 + "&size=" + std::to_string(f.size) +
                            "&mtime_ns=" + std::to_string(f.mtime_ns);
  PushResult result;
  std::unique_ptr<net::HttpClient> client;
  // (Re)connects and asks the target where to continue; true when it already holds the file.
  auto begin = [&](uint64_t* offset) -> Result<bool> {
    RIFT_ASSIGN_OR_RETURN(client,
                          net::HttpClient::Create(request.target, Client(options, request.token)));
    RIFT_ASSIGN_OR_RETURN(net::HttpResult r,
                          RetryBusy([&] { return client->Get(query, headers); }));
    if (r.status != 200) return FromAnswer(request.target, rel, r);
    json b = json::parse(r.body, nullptr, false);
    if (!b.is_object()) return Unavailable(request.target + ": invalid answer to GET /sync/push");
    if (b.value("held", false) || b.value("complete", false)) return true;
    *offset = b.value("offset", uint64_t{0});
    if (*offset > f.size) return Unavailable(request.target + " holds more than the file's size");
    return false;
  };
  uint64_t offset = 0;
  RIFT_ASSIGN_OR_RETURN(bool held, begin(&offset));
  if (held) {
    result.already_held = true;
    return result;
  }
  result.bytes_resumed = offset;
  if (options.progress && !options.progress(offset, f.size)) {
    return Unavailable("push of '" + rel + "' stopped");
  }
  internal::Throttle throttle(options.bandwidth_bytes_per_sec);
  const size_t chunk = std::clamp<size_t>(options.chunk_bytes, 1, kPushChunkBytes);
  std::string body;
  int conflicts = 0, transport_failures = 0;
  for (;;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, f.size - offset));
    body.resize(n);
    RIFT_RETURN_IF_ERROR(ReadAt(fd.get(), body.data(), n, offset, rel));
    const std::string path = query + "&offset=" + std::to_string(offset);
    Result<net::HttpResult> sent =
        RetryBusy([&] { return client->Post(path, body, "application/octet-stream", headers); });
    if (!sent.ok()) {
      // The connection broke (a keep-alive closed, a network blip): reconnect, ask where the
      // target is, continue from there.
      if (++transport_failures > kTransportRetries) return sent.status();
      std::this_thread::sleep_for(std::chrono::milliseconds(200 * transport_failures));
      Result<bool> again = begin(&offset);
      if (!again.ok()) {
        Code c = again.status().code();
        if (c != Code::kUnavailable && c != Code::kDeadlineExceeded) return again.status();
        continue;
      }
      if (*again) return result;
      continue;
    }
    transport_failures = 0;
    const net::HttpResult& r = *sent;
    json j = json::parse(r.body, nullptr, false);
    if (r.status == 409 && j.is_object() && j.contains("offset")) {
      // The target holds another length (e.g. it restarted and lost what it had not synced).
      if (++conflicts > kMaxConflicts) return FromAnswer(request.target, rel, r);
      offset = std::min<uint64_t>(j.value("offset", uint64_t{0}), f.size);
      continue;
    }
    if (r.status != 200 || !j.is_object()) return FromAnswer(request.target, rel, r);
    result.bytes_sent += n;
    throttle.Consumed(n);
    if (j.value("complete", false)) return result;
    uint64_t next = j.value("offset", uint64_t{0});
    if (next != offset + n) {
      return Unavailable(request.target + " answered offset " + std::to_string(next) +
                         " after a chunk ending at " + std::to_string(offset + n));
    }
    offset = next;
    if (options.progress && !options.progress(offset, f.size)) {
      return Unavailable("push of '" + rel + "' stopped at " + std::to_string(offset) + " of " +
                         std::to_string(f.size) + " bytes (the target keeps them)");
    }
  }
}

Result<PushBatchResult> PushBatch(const std::vector<PushRequest>& files,
                                  const PushOptions& options) {
  PushBatchResult out;
  if (files.empty()) return out;
  const PushRequest& first = files.front();
  RIFT_ASSIGN_OR_RETURN(auto client,
                        net::HttpClient::Create(first.target, Client(options, first.token)));
  const Headers headers = {{"X-RingRift-Term", std::to_string(first.term)}};
  internal::Throttle throttle(options.bandwidth_bytes_per_sec);
  std::string body;
  std::vector<const PushFileInfo*> in_body;

  auto flush = [&]() -> Status {
    if (in_body.empty()) return Status::Ok();
    Result<net::HttpResult> r = RetryBusy([&] {
      return client->Post("/sync/push-batch", body, "application/x-ringrift-files", headers);
    });
    json j = r.ok() ? json::parse(r->body, nullptr, false) : json();
    if (!r.ok() || r->status != 200 || !j.is_object() || !j.value("files", json()).is_array() ||
        j["files"].size() != in_body.size()) {
      Status s = !r.ok()
                     ? r.status()
                     : (r->status != 200 ? FromAnswer(first.target, "batch", *r)
                                         : Unavailable(first.target + ": invalid batch answer"));
      for (const PushFileInfo* f : in_body) out.failed.emplace_back(f->path, s);
    } else {
      for (size_t i = 0; i < in_body.size(); ++i) {
        const json& res = j["files"][i];
        if (res.value("ok", false)) {
          out.files_ok++;
          out.bytes_sent += in_body[i]->size;
        } else {
          out.failed.emplace_back(in_body[i]->path,
                                  Status(CodeFromName(res.value("code", "")),
                                         first.target + " refused '" + in_body[i]->path +
                                             "': " + res.value("error", std::string("?"))));
        }
      }
    }
    throttle.Consumed(body.size());
    body.clear();
    in_body.clear();
    return Status::Ok();
  };

  for (const PushRequest& req : files) {
    const PushFileInfo& f = req.file;
    json header = {
        {"path", f.path}, {"sha256", f.sha256}, {"size", f.size}, {"mtime_ns", f.mtime_ns}};
    std::string line = header.dump() + "\n";
    if (line.size() + f.size > kPushChunkBytes) {
      out.failed.emplace_back(f.path,
                              InvalidArgument("'" + f.path +
                                              "' is too large for a "
                                              "batch (" +
                                              std::to_string(f.size) + " bytes): push it alone"));
      continue;
    }
    Result<std::string> rel = inventory::ConfinePath(options.data_root, f.path);
    Result<int> raw =
        rel.ok() ? inventory::OpenBeneath(options.data_root, *rel) : Result<int>(rel.status());
    if (!raw.ok()) {
      out.failed.emplace_back(f.path, raw.status());
      continue;
    }
    Fd fd(*raw);
    Status st = CheckSealed(options.inventory, *rel, fd.get(), f);
    if (!st.ok()) {
      out.failed.emplace_back(f.path, st);
      continue;
    }
    if (body.size() + line.size() + f.size > kPushChunkBytes) RIFT_RETURN_IF_ERROR(flush());
    size_t at = body.size();
    body += line;
    body.resize(at + line.size() + f.size);
    st = ReadAt(fd.get(), body.data() + at + line.size(), f.size, 0, *rel);
    if (!st.ok()) {
      body.resize(at);
      out.failed.emplace_back(f.path, st);
      continue;
    }
    in_body.push_back(&f);
  }
  RIFT_RETURN_IF_ERROR(flush());
  return out;
}

}  // namespace rift::sync
