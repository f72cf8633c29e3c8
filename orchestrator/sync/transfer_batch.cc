// PullBatch: many small files over POST /sync/files (see transfer_client.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "orchestrator/inventory/paths.h"
#include "orchestrator/net/http_client.h"
#include "orchestrator/sync/transfer_client.h"
#include "orchestrator/sync/transfer_io.h"

namespace rift::sync {
namespace {

constexpr size_t kMaxPathsPerPost = 1000;
constexpr size_t kMaxHeaderLine = 64 << 10;
constexpr size_t kWriteBuffer = 1 << 20;
// POSTs in flight at once (each on its own connection and stream slot): file creation and the
// inventory records of one batch overlap with the network and disk work of the others.
constexpr size_t kParallelPosts = 4;
constexpr size_t kMinPathsPerPost = 64;
constexpr int kBusyRetries = 20;

struct Received {
  std::string rel;
  std::string leaf;
  int dirfd = -1;  // owned by the reader's DirCache
  int64_t mtime_ns = 0;
  const BatchFile* want;
};

// Parses the framed stream of one POST and writes each file to its .part (relative to its
// directory's fd, see internal::DirCache).
class BatchReader {
 public:
  BatchReader(const PullOptions& opt, std::map<std::string, const BatchFile*> wanted)
      : opt_(opt), wanted_(std::move(wanted)), dirs_(opt.data_root, /*create=*/true) {}
  ~BatchReader() { CloseCurrent(true); }

  bool Feed(const char* data, size_t len) {
    while (len > 0) {
      if (skip_ > 0) {  // the bytes of a file refused locally
        size_t n = static_cast<size_t>(std::min<uint64_t>(len, skip_));
        skip_ -= n, bytes_ += n, data += n, len -= n;
        continue;
      }
      if (!cur_) {
        const char* nl = static_cast<const char*>(std::memchr(data, '\n', len));
        size_t n = nl ? static_cast<size_t>(nl - data) : len;
        line_.append(data, n);
        if (line_.size() > kMaxHeaderLine) return Fail(Unavailable("batch header line too long"));
        data += n, len -= n;
        if (!nl) return true;
        data += 1, len -= 1;
        if (!StartFile()) return false;
        continue;
      }
      // The client hands over pieces of at most a few KiB, often split across two files:
      // collect them and write (and hash) a file in pieces of up to kWriteBuffer.
      size_t n = static_cast<size_t>(std::min<uint64_t>(len, cur_->size - pos_));
      buf_.insert(buf_.end(), data, data + n);
      pos_ += n, bytes_ += n, data += n, len -= n;
      if ((buf_.size() >= kWriteBuffer || pos_ == cur_->size) && !Flush()) return false;
      if (pos_ == cur_->size && !FinishFile()) return false;
    }
    return true;
  }

  // The remainder of a header-only file (size 0) is handled in StartFile.
  std::vector<Received>& done() { return done_; }
  std::map<std::string, Status>& errors() { return errors_; }
  const Status& local() const { return local_; }
  uint64_t bytes() const { return bytes_; }
  internal::DirCache& dirs() { return dirs_; }

 private:
  bool Flush() {
    local_ = internal::WriteAll(fd_, buf_.data(), buf_.size(), pos_ - buf_.size(), part_);
    if (!local_.ok()) return false;
    hash_.Update(buf_.data(), buf_.size());
    buf_.clear();
    return true;
  }
  bool Fail(Status s) {
    stream_ = std::move(s);
    return false;
  }
  bool StartFile() {
    nlohmann::json h = nlohmann::json::parse(line_, nullptr, false);
    line_.clear();
    if (h.is_discarded() || !h.contains("path") || !h["path"].is_string()) {
      return Fail(Unavailable("malformed batch header"));
    }
    const std::string& path = h["path"].get_ref<const std::string&>();
    auto it = wanted_.find(path);
    if (it == wanted_.end()) return Fail(Unavailable("batch sent an unrequested file " + path));
    if (h.contains("error")) {
      errors_[path] = Unavailable(h["error"].is_string() ? h["error"].get<std::string>() : "?");
      return true;
    }
    const BatchFile* want = it->second;
    uint64_t size = h.value("size", uint64_t{0});
    if (size != want->size || h.value("sha256", std::string()) != want->sha256) {
      return Fail(Unavailable("source holds another version of " + path));
    }
    Result<internal::DirCache::Entry> where = dirs_.Resolve(path);
    if (!where.ok()) {
      if (where.status().code() == Code::kResourceExhausted) {
        local_ = where.status();
        return false;
      }
      // Refused here (a symlinked or non-directory parent...): this file fails, the rest of
      // the batch goes on.
      errors_[path] = where.status();
      skip_ = size;
      return true;
    }
    cur_entry_ = std::move(where).value();
    part_ = cur_entry_.leaf + ".part";
    fd_ = ::openat(cur_entry_.dirfd, part_.c_str(),
                   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0) {
      local_ = errno == ENOSPC ? ResourceExhausted("disk full creating " + cur_entry_.rel + ".part")
                               : Internal("open " + cur_entry_.rel + ".part: " +
                                          std::strerror(errno));
      return false;
    }
    cur_ = want;
    pos_ = 0;
    buf_.clear();
    hash_.Reset();
    return want->size > 0 || FinishFile();
  }
  bool FinishFile() {
    std::string got = hash_.HexDigest();
    if (got != cur_->sha256) {
      errors_[cur_->path] = Internal("sha256 mismatch for '" + cur_entry_.rel + "': expected " +
                                     cur_->sha256 + ", received " + got + " (discarded)");
      CloseCurrent(true);
      return true;
    }
    // The source's mtime, set on the open file; its stat is what the inventory records (a
    // rename keeps it).
    int64_t mtime = cur_->mtime_ns;
    if (mtime > 0) {
      struct timespec ts[2] = {{mtime / 1000000000, mtime % 1000000000},
                               {mtime / 1000000000, mtime % 1000000000}};
      ::futimens(fd_, ts);
    }
    struct stat st {};
    if (::fstat(fd_, &st) == 0) {
      mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    }
    done_.push_back({cur_entry_.rel, cur_entry_.leaf, cur_entry_.dirfd, mtime, cur_});
    CloseCurrent(false);
    return true;
  }
  void CloseCurrent(bool remove) {
    if (fd_ >= 0) ::close(fd_);
    if (remove && cur_) ::unlinkat(cur_entry_.dirfd, part_.c_str(), 0);
    fd_ = -1;
    cur_ = nullptr;
  }

  const PullOptions& opt_;
  std::map<std::string, const BatchFile*> wanted_;
  internal::DirCache dirs_;
  internal::DirCache::Entry cur_entry_;
  std::string line_, part_;
  std::vector<char> buf_;
  const BatchFile* cur_ = nullptr;
  int fd_ = -1;
  uint64_t pos_ = 0, bytes_ = 0, skip_ = 0;
  internal::Sha256 hash_;
  std::vector<Received> done_;
  std::map<std::string, Status> errors_;
  Status local_, stream_;
};

int64_t WallMs(const PullOptions& o) {
  if (o.now_ms) return o.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One POST for `files` from `base`; verified files are renamed into place and recorded.
// `*status` is the HTTP status (0 when the request failed in transport).
Status PostOnce(net::HttpClient* client, const std::vector<const BatchFile*>& files,
                const PullOptions& opt, BatchResult* out, std::map<std::string, Status>* errs,
                int* status) {
  nlohmann::json body = {{"paths", nlohmann::json::array()}};
  std::map<std::string, const BatchFile*> wanted;
  for (const BatchFile* f : files) {
    body["paths"].push_back(f->path);
    wanted[f->path] = f;
  }
  BatchReader reader(opt, std::move(wanted));
  net::StreamHandlers h;
  h.on_data = [&](const char* d, size_t n) { return reader.Feed(d, n); };
  Result<net::HttpResult> r = client->Stream("POST", "/sync/files", {}, h, body.dump(),
                                             "application/json");
  *status = r.ok() ? r->status : 0;
  out->bytes_received += reader.bytes();
  auto part_of = [](const Received& f) { return f.leaf + ".part"; };
  if (reader.local().code() == Code::kResourceExhausted) {
    for (const Received& f : reader.done()) ::unlinkat(f.dirfd, part_of(f).c_str(), 0);
    return reader.local();
  }
  // Durable data before the renames: one syncfs for the whole batch instead of one fsync per
  // file; then the renames, then each directory once.
  if (opt.fsync && !reader.done().empty()) {
    int root = ::open(opt.data_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root >= 0) {
      ::syncfs(root);
      ::close(root);
    }
  }
  std::set<const BatchFile*> delivered;
  std::vector<inventory::Inventory::Received> records;
  std::vector<const BatchFile*> recorded;
  for (const Received& f : reader.done()) {
    const std::string part = part_of(f);
    if (Status s = internal::SafeToReplaceAt(f.dirfd, f.leaf, f.rel, opt.inventory); !s.ok()) {
      ::unlinkat(f.dirfd, part.c_str(), 0);
      (*errs)[f.want->path] = s;
      continue;
    }
    if (::renameat(f.dirfd, part.c_str(), f.dirfd, f.leaf.c_str()) != 0) {
      (*errs)[f.want->path] = Internal("rename " + f.rel + ".part: " + std::strerror(errno));
      continue;
    }
    delivered.insert(f.want);
    ++out->files_ok;
    errs->erase(f.want->path);
    if (opt.inventory) {
      records.push_back({f.rel, f.want->size, f.mtime_ns, f.want->sha256});
      recorded.push_back(f.want);
    }
  }
  if (opt.fsync && !delivered.empty()) RIFT_RETURN_IF_ERROR(reader.dirs().SyncAll());
  if (opt.inventory && !records.empty()) {  // one transaction for the whole POST
    std::vector<Status> st = opt.inventory->RecordReceivedBatch(records, WallMs(opt));
    for (size_t i = 0; i < st.size(); ++i) {
      if (!st[i].ok()) (*errs)[recorded[i]->path] = st[i];
    }
  }
  for (auto& [path, s] : reader.errors()) (*errs)[path] = s;
  Status fallback = r.ok() ? (r->status == 200 ? Unavailable("not in the batch answer")
                                               : Unavailable(client->base_url() + " answered " +
                                                             std::to_string(r->status)))
                           : r.status();
  for (const BatchFile* f : files) {
    if (!delivered.count(f) && !errs->count(f->path)) (*errs)[f->path] = fallback;
  }
  return Status::Ok();
}

// One source's round: the files in POSTs of at most kMaxPathsPerPost, up to kParallelPosts at
// once. Files not delivered are returned in `left`, their errors in `errs`.
Status FromSource(const std::string& base, const std::vector<const BatchFile*>& pending,
                  const BatchRequest& request, const PullOptions& options, BatchResult* out,
                  std::map<std::string, Status>* errs, std::vector<const BatchFile*>* left) {
  size_t per_post = std::clamp<size_t>((pending.size() + kParallelPosts - 1) / kParallelPosts,
                                       kMinPathsPerPost, kMaxPathsPerPost);
  std::vector<std::vector<const BatchFile*>> chunks;
  for (size_t i = 0; i < pending.size(); i += per_post) {
    chunks.emplace_back(pending.begin() + i,
                        pending.begin() + std::min(pending.size(), i + per_post));
  }
  std::mutex mu;
  size_t next = 0;
  Status local;  // the first local failure (disk full...): stops every worker
  auto work = [&] {
    net::ClientOptions co;
    co.connect_timeout = options.connect_timeout;
    co.read_timeout = options.read_timeout;
    co.write_timeout = options.read_timeout;
    co.auth_token = request.token;
    auto client = net::HttpClient::Create(base, co);
    for (;;) {
      size_t i;
      {
        std::lock_guard lock(mu);
        if (next == chunks.size() || !local.ok()) return;
        i = next++;
      }
      BatchResult part;
      std::map<std::string, Status> part_errs;
      Status s = client.ok() ? Status::Ok() : client.status();
      if (client.ok()) {
        // A source whose stream slots are all taken answers 503: wait for a slot.
        for (int attempt = 0; attempt <= kBusyRetries; ++attempt) {
          int status = 0;
          part_errs.clear();
          s = PostOnce(client->get(), chunks[i], options, &part, &part_errs, &status);
          if (!s.ok() || status != 503) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(50 * (attempt + 1)));
        }
      }
      std::lock_guard lock(mu);
      if (!s.ok() && client.ok()) {
        if (local.ok()) local = s;
        return;
      }
      if (!client.ok()) {
        for (const BatchFile* f : chunks[i]) part_errs[f->path] = s;
      }
      out->files_ok += part.files_ok;
      out->bytes_received += part.bytes_received;
      for (auto& [path, e] : part_errs) (*errs)[path] = e;
      for (const BatchFile* f : chunks[i]) {
        if (part_errs.count(f->path)) left->push_back(f);
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < std::min(kParallelPosts, chunks.size()); ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  return local;
}

}  // namespace

Result<BatchResult> PullBatch(const BatchRequest& request, const PullOptions& options) {
  BatchResult out;
  std::map<std::string, Status> errs;
  std::vector<const BatchFile*> pending;
  for (const BatchFile& f : request.files) pending.push_back(&f);
  for (const std::string& base : request.sources) {
    if (pending.empty()) break;
    std::vector<const BatchFile*> left;
    RIFT_RETURN_IF_ERROR(FromSource(base, pending, request, options, &out, &errs, &left));
    pending.swap(left);
  }
  for (const BatchFile* f : pending) {
    auto it = errs.find(f->path);
    out.failed.emplace_back(f->path, it == errs.end() ? Unavailable("no source") : it->second);
  }
  return out;
}

}  // namespace rift::sync
