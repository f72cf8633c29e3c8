#include "orchestrator/sync/transfer_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "orchestrator/api/errors.h"
#include "orchestrator/inventory/paths.h"
#include "orchestrator/sync/transfer_io.h"
#include "orchestrator/sync/transfer_range.h"

namespace rift::sync {
namespace {

using api::HttpRequest;
using api::HttpResponse;

// Stream slots, shared by the handlers and the bodies in flight (which outlive the handler).
struct Slots {
  explicit Slots(size_t max) : max(max) {}
  const size_t max;
  std::atomic<size_t> used{0};
};

// Holds one slot for its lifetime.
class SlotGuard {
 public:
  static std::unique_ptr<SlotGuard> TryTake(std::shared_ptr<Slots> slots) {
    size_t n = slots->used.fetch_add(1);
    if (n >= slots->max) {
      slots->used.fetch_sub(1);
      return nullptr;
    }
    return std::unique_ptr<SlotGuard>(new SlotGuard(std::move(slots)));
  }
  ~SlotGuard() { slots_->used.fetch_sub(1); }

 private:
  explicit SlotGuard(std::shared_ptr<Slots> slots) : slots_(std::move(slots)) {}
  std::shared_ptr<Slots> slots_;
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

bool PreadFull(int fd, char* buf, size_t len, uint64_t offset, size_t* got) {
  *got = 0;
  while (*got < len) {
    ssize_t n = ::pread(fd, buf + *got, len - *got, static_cast<off_t>(offset + *got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    *got += static_cast<size_t>(n);
  }
  return true;
}

struct OpenFile {
  Fd fd;
  std::string rel;
  uint64_t size = 0;
  std::string sha256;
};

// A sealed file whose bytes on disk are still the sealed version. kFailedPrecondition = 409.
Result<OpenFile> OpenSealed(const TransferContext& ctx, const std::string& requested) {
  RIFT_ASSIGN_OR_RETURN(std::string rel, inventory::ConfinePath(ctx.data_root, requested));
  std::optional<inventory::FileRecord> rec = ctx.inventory->Get(rel);
  if (!rec || rec->deleted) return NotFound("'" + rel + "' is not in the inventory");
  if (!rec->sealed || rec->sha256.empty()) {
    return FailedPrecondition("'" + rel + "' is not sealed yet; retry after the next scan");
  }
  RIFT_ASSIGN_OR_RETURN(int raw, inventory::OpenBeneath(ctx.data_root, rel));
  OpenFile f;
  f.fd.reset(raw);
  struct stat st {};
  if (::fstat(raw, &st) != 0 || !S_ISREG(st.st_mode)) {
    return NotFound("'" + rel + "' is not a regular file");
  }
  int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (static_cast<uint64_t>(st.st_size) != rec->size || mtime_ns != rec->mtime_ns) {
    return FailedPrecondition("'" + rel + "' changed since sealed; retry after the next scan");
  }
  f.rel = rel;
  f.size = rec->size;
  f.sha256 = rec->sha256;
  return f;
}

// OpenSealed for a batch: the path is resolved through `dirs` (one directory walk per
// directory, see internal::DirCache) and the file opened relative to its directory without
// following a symlink.
Result<OpenFile> OpenSealedIn(const TransferContext& ctx, internal::DirCache* dirs,
                              const std::string& requested) {
  RIFT_ASSIGN_OR_RETURN(internal::DirCache::Entry where, dirs->Resolve(requested));
  std::optional<inventory::FileRecord> rec = ctx.inventory->Get(where.rel);
  if (!rec || rec->deleted) return NotFound("'" + where.rel + "' is not in the inventory");
  if (!rec->sealed || rec->sha256.empty()) {
    return FailedPrecondition("'" + where.rel + "' is not sealed yet; retry after the next scan");
  }
  int raw = ::openat(where.dirfd, where.leaf.c_str(),
                     O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (raw < 0) {
    if (errno == ELOOP) return PermissionDenied("'" + where.rel + "' is a symlink; refused");
    return NotFound("'" + where.rel + "': " + std::strerror(errno));
  }
  OpenFile f;
  f.fd.reset(raw);
  struct stat st {};
  if (::fstat(raw, &st) != 0 || !S_ISREG(st.st_mode)) {
    return NotFound("'" + where.rel + "' is not a regular file");
  }
  int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (static_cast<uint64_t>(st.st_size) != rec->size || mtime_ns != rec->mtime_ns) {
    return FailedPrecondition("'" + where.rel + "' changed since sealed; retry after the next scan");
  }
  f.rel = where.rel;
  f.size = rec->size;
  f.sha256 = rec->sha256;
  return f;
}

HttpResponse OpenError(const Status& s) {
  if (s.code() == Code::kFailedPrecondition) return api::ErrorResponse(409, "CONFLICT", s.message());
  return api::ErrorResponse(s);
}

HttpResponse Busy(const Slots& slots) {
  HttpResponse r = api::ErrorResponse(
      Unavailable(std::to_string(slots.max) + " file streams already running; retry"));
  r.headers["Retry-After"] = "1";
  return r;
}

// One file, or a slice of it.
class FileSource : public api::BodySource {
 public:
  FileSource(Fd fd, uint64_t base, uint64_t length, std::unique_ptr<SlotGuard> slot)
      : fd_(std::move(fd)), base_(base), length_(length), slot_(std::move(slot)) {}
  uint64_t size() const override { return length_; }
  bool Read(uint64_t offset, char* buf, size_t len, size_t* got) override {
    if (offset >= length_) return false;
    len = static_cast<size_t>(std::min<uint64_t>(len, length_ - offset));
    return PreadFull(fd_.get(), buf, len, base_ + offset, got);
  }

 private:
  Fd fd_;
  uint64_t base_, length_;
  std::unique_ptr<SlotGuard> slot_;
};

HttpResponse ServeFile(const TransferContext& ctx, const std::shared_ptr<Slots>& slots,
                       const HttpRequest& req) {
  auto it = req.query.find("path");
  if (it == req.query.end()) return api::ErrorResponse(InvalidArgument("missing ?path="));
  auto slot = SlotGuard::TryTake(slots);
  if (!slot) return Busy(*slots);
  Result<OpenFile> f = OpenSealed(ctx, it->second);
  if (!f.ok()) return OpenError(f.status());
  HttpResponse r;
  r.headers["Accept-Ranges"] = "bytes";
  r.headers["ETag"] = "\"" + f->sha256 + "\"";
  r.headers["X-RingRift-Sha256"] = f->sha256;
  if (!IfMatchAccepts(req.Header("If-Match"), f->sha256)) {
    HttpResponse e = api::ErrorResponse(412, "FAILED_PRECONDITION",
                                        "'" + f->rel + "' is now version " + f->sha256);
    e.headers = r.headers;
    return e;
  }
  RangeSpec range = ParseRange(req.Header("Range"), f->size);
  if (range.kind == RangeKind::kUnsatisfiable) {
    HttpResponse e = api::ErrorResponse(416, "RANGE_NOT_SATISFIABLE",
                                        "range outside 0.." + std::to_string(f->size));
    e.headers = r.headers;
    e.headers["Content-Range"] = "bytes */" + std::to_string(f->size);
    return e;
  }
  if (range.kind == RangeKind::kNone) {
    range = {RangeKind::kSingle, 0, f->size};
  } else {
    r.status = 206;
    r.headers["Content-Range"] = ContentRange(range, f->size);
  }
  r.content_type = "application/octet-stream";
  r.body_source = std::make_shared<FileSource>(std::move(f->fd), range.offset, range.length,
                                               std::move(slot));
  return r;
}

// The POST /sync/files body: header line, bytes, next file...
class BatchSource : public api::BodySource {
 public:
  BatchSource(TransferContext ctx, std::vector<std::string> paths,
              std::unique_ptr<SlotGuard> slot)
      : ctx_(std::move(ctx)),
        paths_(std::move(paths)),
        slot_(std::move(slot)),
        dirs_(ctx_.data_root, /*create=*/false) {}
  uint64_t size() const override { return kUnknownSize; }
  bool Read(uint64_t, char* buf, size_t len, size_t* got) override {
    *got = 0;
    while (*got < len) {
      if (header_pos_ < header_.size()) {
        size_t n = std::min(len - *got, header_.size() - header_pos_);
        std::copy_n(header_.data() + header_pos_, n, buf + *got);
        header_pos_ += n, *got += n;
      } else if (file_pos_ < file_size_) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(len - *got, file_size_ - file_pos_));
        size_t n = 0;
        if (!PreadFull(fd_.get(), buf + *got, want, file_pos_, &n) || n == 0) return false;
        file_pos_ += n, *got += n;
      } else if (next_ < paths_.size()) {
        NextFile();
      } else {
        break;  // end of the batch
      }
    }
    return true;
  }

 private:
  void NextFile() {
    const std::string& p = paths_[next_++];
    nlohmann::json h = {{"path", p}};
    fd_.reset();
    file_pos_ = file_size_ = 0;
    Result<OpenFile> f = OpenSealedIn(ctx_, &dirs_, p);
    if (f.ok()) {
      h["size"] = f->size;
      h["sha256"] = f->sha256;
      file_size_ = f->size;
      fd_ = std::move(f->fd);
    } else {
      h["error"] = f.status().message();
      h["code"] = std::string(CodeName(f.status().code()));
    }
    header_ = h.dump() + "\n";
    header_pos_ = 0;
  }

  TransferContext ctx_;
  std::vector<std::string> paths_;
  std::unique_ptr<SlotGuard> slot_;
  internal::DirCache dirs_;
  size_t next_ = 0;
  std::string header_;
  size_t header_pos_ = 0;
  Fd fd_;
  uint64_t file_pos_ = 0, file_size_ = 0;
};

HttpResponse ServeBatch(const TransferContext& ctx, const std::shared_ptr<Slots>& slots,
                        const HttpRequest& req) {
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("paths") ||
      !body["paths"].is_array()) {
    return api::ErrorResponse(InvalidArgument("body must be {\"paths\":[...]}"));
  }
  if (body["paths"].size() > ctx.max_batch_paths) {
    return api::ErrorResponse(
        InvalidArgument("at most " + std::to_string(ctx.max_batch_paths) + " paths per batch"));
  }
  std::vector<std::string> paths;
  for (const auto& p : body["paths"]) {
    if (!p.is_string()) return api::ErrorResponse(InvalidArgument("paths must be strings"));
    paths.push_back(p.get<std::string>());
  }
  auto slot = SlotGuard::TryTake(slots);
  if (!slot) return Busy(*slots);
  HttpResponse r;
  r.content_type = "application/x-ringrift-files";
  r.body_source = std::make_shared<BatchSource>(ctx, std::move(paths), std::move(slot));
  return r;
}

}  // namespace

void RegisterTransferRoutes(api::Router* router, const TransferContext& context) {
  auto slots = std::make_shared<Slots>(std::max<size_t>(1, context.max_streams));
  router->Add("GET", "/sync/file", [context, slots](const HttpRequest& req) {
    return ServeFile(context, slots, req);
  });
  router->Add("POST", "/sync/files", [context, slots](const HttpRequest& req) {
    return ServeBatch(context, slots, req);
  });
}

}  // namespace rift::sync
