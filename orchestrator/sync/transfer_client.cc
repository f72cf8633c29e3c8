#include "orchestrator/sync/transfer_client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "orchestrator/inventory/paths.h"
#include "orchestrator/net/http_client.h"
#include "orchestrator/sync/part_writer.h"
#include "orchestrator/sync/transfer_io.h"

namespace rift::sync {
namespace {

using internal::Sha256;

int64_t WallMs(const PullOptions& o) {
  if (o.now_ms) return o.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Pull {
  Pull(const PullRequest& r, const PullOptions& o, std::string p)
      : req(r), opt(o), part(std::move(p)) {}
  const PullRequest& req;
  const PullOptions& opt;
  std::string part;
  int fd = -1;
  std::unique_ptr<internal::PartWriter> writer;  // of fd, once it is open
  Sha256 hash;
  PullResult result;
  Status local;  // a local failure (disk full, I/O): stops the pull

  // Bytes received and handed to the writer (the .part's length once it has finished).
  uint64_t offset() const { return writer->offset(); }
  internal::Throttle throttle{opt.bandwidth_bytes_per_sec};

  bool Restart() {
    local = writer->Reset(0);
    if (!local.ok()) return false;
    if (::ftruncate(fd, 0) != 0) {
      local = Internal("truncate " + part + ": " + std::strerror(errno));
      return false;
    }
    result.bytes_resumed = 0;
    hash.Reset();
    return true;
  }

  // One attempt with one source; returns its failure, if any.
  Status FromSource(const std::string& base, const std::string& rel) {
    net::ClientOptions co;
    co.connect_timeout = opt.connect_timeout;
    co.read_timeout = opt.read_timeout;
    co.write_timeout = opt.read_timeout;
    co.auth_token = req.token;
    RIFT_ASSIGN_OR_RETURN(auto client, net::HttpClient::Create(base, co));
    std::vector<std::pair<std::string, std::string>> headers = {
        {"If-Match", "\"" + req.sha256 + "\""}};
    if (offset() > 0) headers.emplace_back("Range", "bytes=" + std::to_string(offset()) + "-");
    Status source_error;
    net::StreamHandlers h;
    h.on_head = [&](const net::HttpResult& head) {
      if (head.status == 200 && offset() > 0) return Restart();  // no resume from this source
      if (head.status == 206) {
        std::string want = "bytes " + std::to_string(offset()) + "-";
        auto it = head.headers.find("content-range");
        if (it == head.headers.end() || it->second.rfind(want, 0) != 0) {
          source_error = Unavailable(base + " answered another range than " + want);
          return false;
        }
      }
      return true;
    };
    h.on_data = [&](const char* data, size_t len) {
      if (offset() + len > req.size) {
        source_error = Unavailable(base + " sent more than " + std::to_string(req.size) + " bytes");
        return false;
      }
      local = writer->Write(data, len);
      if (!local.ok()) return false;
      hash.Update(data, len);
      result.bytes_received += len;
      throttle.Consumed(len);
      return !opt.progress || opt.progress(base, offset(), req.size);
    };
    Result<net::HttpResult> r =
        client->Download("/sync/file?path=" + internal::QueryEscape(rel), headers, h);
    if (!local.ok()) return local;
    if (!source_error.ok()) return source_error;
    if (!r.ok()) return r.status();
    if (r->status != 200 && r->status != 206) {
      return Unavailable(base + " answered " + std::to_string(r->status) + ": " + r->body);
    }
    if (offset() != req.size) return Unavailable(base + " ended the body early");
    return Status::Ok();
  }
};

}  // namespace

Result<PullResult> PullFile(const PullRequest& request, const PullOptions& options) {
  RIFT_ASSIGN_OR_RETURN(std::string rel, inventory::ConfinePath(options.data_root, request.path));
  RIFT_RETURN_IF_ERROR(internal::MakeParents(options.data_root, rel));
  std::string final_path = options.data_root + "/" + rel;
  Pull p{request, options, final_path + ".part"};
  p.fd = ::open(p.part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (p.fd < 0) return Internal("open " + p.part + ": " + std::strerror(errno));
  struct FdCloser {
    Pull& p;
    ~FdCloser() {
      p.writer.reset();  // its pending writes use the fd
      if (p.fd >= 0) ::close(p.fd);
    }
  } closer{p};
  p.writer = std::make_unique<internal::PartWriter>(p.fd, p.part, options.fsync, request.size);
  auto fail_and_remove = [&](Status s) -> Result<PullResult> {
    ::unlink(p.part.c_str());
    return s;
  };
  struct stat st {};
  if (::fstat(p.fd, &st) != 0) return Internal("stat " + p.part + ": " + std::strerror(errno));
  uint64_t have = static_cast<uint64_t>(st.st_size);
  if (have > request.size) {
    if (!p.Restart()) return fail_and_remove(p.local);
  } else if (have > 0) {
    RIFT_RETURN_IF_ERROR(internal::HashPrefix(p.fd, have, &p.hash));
    RIFT_RETURN_IF_ERROR(p.writer->Reset(have));
    p.result.bytes_resumed = have;
  }
  std::string errors;
  for (int round = 0; round < 2 && p.offset() < request.size; ++round) {
    for (const std::string& base : request.sources) {
      if (p.offset() == request.size && request.size > 0) break;
      ++p.result.sources_tried;
      Status s = p.FromSource(base, rel);
      if (!p.local.ok()) {
        if (p.local.code() == Code::kResourceExhausted) return fail_and_remove(p.local);
        return p.local;
      }
      if (s.ok()) {
        p.result.source = base;
        break;
      }
      errors += (errors.empty() ? "" : "; ") + s.message();
    }
    if (!p.result.source.empty()) break;
  }
  // Everything received reaches the file, also when the pull stops early (kept for resume).
  if (Status s = p.writer->Finish(); !s.ok()) {
    if (s.code() == Code::kResourceExhausted) return fail_and_remove(s);
    return s;
  }
  if (p.offset() != request.size) {
    return Unavailable("pull of '" + rel + "' stopped at " + std::to_string(p.offset()) + " of " +
                       std::to_string(request.size) + " bytes (kept for resume): " + errors);
  }
  std::string got = p.hash.HexDigest();
  if (got != request.sha256) {
    return fail_and_remove(Internal("sha256 mismatch for '" + rel + "': expected " +
                                    request.sha256 + ", received " + got + " (discarded)"));
  }
  if (Status s = internal::SafeToReplace(final_path, rel, options.inventory); !s.ok()) {
    return fail_and_remove(s);
  }
  internal::SetMtime(p.part, request.mtime_ns);  // before the fsync, so it is durable too
  Status s = internal::FsyncRename(p.fd, p.part, final_path, options.fsync);
  if (!s.ok()) return fail_and_remove(s);
  if (options.inventory) {
    RIFT_RETURN_IF_ERROR(options.inventory->RecordReceived(
        rel, request.size, internal::MtimeNs(final_path), request.sha256, WallMs(options)));
  }
  return p.result;
}

}  // namespace rift::sync
