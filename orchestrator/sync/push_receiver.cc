// PushReceiver: the target side of a push (see push.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "orchestrator/base/log.h"
#include "orchestrator/base/time.h"
#include "orchestrator/inventory/paths.h"
#include "orchestrator/sync/push.h"
#include "orchestrator/sync/transfer_io.h"

namespace rift::sync {
namespace {

constexpr uint64_t kWritebackStep = 8 << 20;

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

std::string Errno() { return std::strerror(errno); }

Status OpenError(const std::string& what) {
  if (errno == ENOSPC || errno == EDQUOT) return ResourceExhausted("disk full creating " + what);
  return Internal("open " + what + ": " + Errno());
}

// The inventory holds `rel` sealed in this version, unchanged on disk.
bool Held(const inventory::Inventory* inv, const std::string& root, const std::string& rel,
          const PushFileInfo& f) {
  auto rec = inv ? inv->Get(rel) : std::nullopt;
  if (!rec || rec->deleted || !rec->sealed || rec->sha256 != f.sha256) return false;
  struct stat st {};
  if (::lstat((root + "/" + rel).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return static_cast<uint64_t>(st.st_size) == rec->size && mtime == rec->mtime_ns;
}

}  // namespace

struct PushReceiver::Impl {
  PushReceiverOptions o;

  // One file being pushed. `busy` marks the one thread working on it (writing a chunk,
  // preparing, finishing); everything else here is read and changed under `mu`, or by the
  // busy thread only.
  struct Active {
    PushFileInfo info;
    std::string rel, part, final_path;
    bool prepared = false;
    bool restart = false;  // another version was being pushed: its .part is worthless
    bool busy = false;
    uint64_t offset = 0;          // bytes in the .part, all hashed into `hash`
    uint64_t writeback_from = 0;  // start of the bytes written but not yet sent to the disk
    internal::Sha256 hash;
    TimePoint last;
  };

  mutable std::mutex mu;
  std::map<std::string, std::unique_ptr<Active>> active;  // rel -> push in progress
  PushReceiverFigures figures;

  int64_t WallMs() const { return o.now_ms ? o.now_ms() : RealTime().WallMillis(); }

  // Validates and takes `file`'s entry for this thread (busy), creating it (and claiming the
  // path) if needed. A new entry, or one for another version, is not prepared yet.
  Result<Active*> Acquire(const PushFileInfo& file) {
    if (!internal::IsSha256(file.sha256)) {
      return InvalidArgument("sha256: expected 64 lower-case hex digits");
    }
    RIFT_ASSIGN_OR_RETURN(std::string rel, inventory::ConfinePath(o.data_root, file.path));
    std::lock_guard lock(mu);
    auto it = active.find(rel);
    if (it != active.end()) {
      Active* a = it->second.get();
      if (a->busy) {
        return Unavailable("another chunk of '" + rel + "' is being written; retry");
      }
      if (a->info.sha256 != file.sha256 || a->info.size != file.size) {
        a->prepared = false;  // another version: start over
        a->restart = true;
      }
      a->info = file;
      a->info.path = rel;
      a->busy = true;
      return a;
    }
    if (o.claim && !o.claim(rel)) {
      return Unavailable("'" + rel + "' is being pulled by this node; retry later");
    }
    auto a = std::make_unique<Active>();
    a->info = file;
    a->info.path = rel;
    a->rel = rel;
    a->final_path = o.data_root + "/" + rel;
    a->part = a->final_path + ".part";
    a->busy = true;
    a->last = Clock::now();
    Active* raw = a.get();
    active.emplace(rel, std::move(a));
    return raw;
  }

  void Unbusy(Active* a) {
    std::lock_guard lock(mu);
    a->busy = false;
    a->last = Clock::now();
  }

  // Forgets `a` and gives its path back; with `remove_part`, the .part goes too.
  void Drop(Active* a, bool remove_part, bool failed) {
    if (remove_part) ::unlink(a->part.c_str());
    std::lock_guard lock(mu);
    if (failed) figures.failed++;
    std::string rel = a->rel;
    active.erase(rel);
    if (o.release) o.release(rel);
  }

  // A failure of the push of `a`: local I/O and disk full lose the .part (nothing corrupt
  // stays); refusals keep nothing either.
  Status Fail(Active* a, Status s) {
    Drop(a, true, true);
    return s;
  }

  // First use of `a` (or a new version): checks, then resumes from the .part.
  // Returns held=true (and drops `a`) when this version is already here.
  Result<bool> Prepare(Active* a) {
    if (Held(o.inventory, o.data_root, a->rel, a->info)) {
      Drop(a, false, false);
      return true;
    }
    if (Status s = internal::SafeToReplace(a->final_path, a->rel, o.inventory); !s.ok()) {
      Drop(a, false, true);
      return s;
    }
    if (Status s = internal::MakeParents(o.data_root, a->rel); !s.ok()) return Fail(a, s);
    Fd fd(::open(a->part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (fd.get() < 0) return Fail(a, OpenError(a->part));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Fail(a, Internal("stat " + a->part + ": " + Errno()));
    uint64_t have = static_cast<uint64_t>(st.st_size);
    a->hash.Reset();
    if (have > a->info.size || a->restart) {
      if (::ftruncate(fd.get(), 0) != 0) {
        return Fail(a, Internal("truncate " + a->part + ": " + Errno()));
      }
      have = 0;
    } else if (have > 0) {
      // A .part from before a restart (of either side): its bytes count once hashed again. A
      // .part of another version is caught by the final digest check.
      if (Status s = internal::HashPrefix(fd.get(), have, &a->hash); !s.ok()) return Fail(a, s);
    }
    a->offset = a->writeback_from = have;
    a->prepared = true;
    a->restart = false;
    return false;
  }

  // The last byte arrived: verify, fsync, rename, record; `a` is dropped either way.
  Result<PushProgress> Finish(Active* a, int fd) {
    std::string got = a->hash.HexDigest();
    if (got != a->info.sha256) {
      return Fail(a, InvalidArgument("sha256 mismatch for '" + a->rel + "': declared " +
                                     a->info.sha256 + ", received " + got + " (discarded)"));
    }
    if (Status s = internal::SafeToReplace(a->final_path, a->rel, o.inventory); !s.ok()) {
      return Fail(a, s);
    }
    internal::SetMtime(a->part, a->info.mtime_ns);
    if (Status s = internal::FsyncRename(fd, a->part, a->final_path, o.fsync); !s.ok()) {
      return Fail(a, s);
    }
    const uint64_t size = a->info.size;
    Status rec = o.inventory
                     ? o.inventory->RecordReceived(a->rel, size, internal::MtimeNs(a->final_path),
                                                   a->info.sha256, WallMs())
                     : Status::Ok();
    {
      std::lock_guard lock(mu);
      figures.files_received++;
    }
    Drop(a, false, false);
    if (!rec.ok()) return rec;
    PushProgress p;
    p.offset = size;
    p.complete = true;
    return p;
  }

  Result<PushProgress> Write(const PushFileInfo& file, uint64_t offset, std::string_view data) {
    RIFT_ASSIGN_OR_RETURN(Active * a, Acquire(file));
    if (!a->prepared) {
      Result<bool> held = Prepare(a);
      if (!held.ok()) return held.status();
      if (*held) {
        PushProgress p;
        p.offset = file.size;
        p.complete = p.held = true;
        p.accepted = offset == 0 && data.empty();
        return p;
      }
    }
    if (offset != a->offset) {
      PushProgress p;
      p.offset = a->offset;
      p.accepted = false;
      Unbusy(a);
      return p;
    }
    if (offset + data.size() > a->info.size) {
      Unbusy(a);
      return InvalidArgument("chunk ends at " + std::to_string(offset + data.size()) +
                             ", past the declared size " + std::to_string(a->info.size));
    }
    Fd fd(::open(a->part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (fd.get() < 0) return Fail(a, OpenError(a->part));
    if (!data.empty()) {
      Status s = internal::WriteAll(fd.get(), data.data(), data.size(), offset, a->part);
      if (!s.ok()) return Fail(a, s);
      a->hash.Update(data.data(), data.size());
      a->offset += data.size();
      {
        std::lock_guard lock(mu);
        figures.bytes_received += data.size();
      }
      if (o.fsync && a->offset - a->writeback_from >= kWritebackStep) {
        internal::StartWriteback(fd.get(), a->writeback_from, a->offset - a->writeback_from);
        a->writeback_from = a->offset;
      }
    }
    if (a->offset == a->info.size) return Finish(a, fd.get());
    PushProgress p;
    p.offset = a->offset;
    Unbusy(a);
    return p;
  }
};

PushReceiver::PushReceiver(PushReceiverOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->o = std::move(options);
}

PushReceiver::~PushReceiver() {
  std::lock_guard lock(impl_->mu);
  for (const auto& [rel, a] : impl_->active) {
    if (impl_->o.release) impl_->o.release(rel);
  }
  impl_->active.clear();
}

Result<PushProgress> PushReceiver::Begin(const PushFileInfo& file) {
  Impl& s = *impl_;
  RIFT_ASSIGN_OR_RETURN(Impl::Active * a, s.Acquire(file));
  if (!a->prepared) {
    Result<bool> held = s.Prepare(a);
    if (!held.ok()) return held.status();
    if (*held) {
      PushProgress p;
      p.offset = file.size;
      p.complete = p.held = true;
      return p;
    }
  }
  PushProgress p;
  p.offset = a->offset;
  s.Unbusy(a);
  return p;
}

Result<PushProgress> PushReceiver::Write(const PushFileInfo& file, uint64_t offset,
                                         std::string_view data) {
  return impl_->Write(file, offset, data);
}

std::vector<Status> PushReceiver::WriteWhole(
    const std::vector<std::pair<PushFileInfo, std::string_view>>& files) {
  Impl& s = *impl_;
  std::vector<Status> out(files.size());
  struct Ready {
    size_t index;
    Impl::Active* a;
  };
  std::vector<Ready> ready;
  std::set<std::string> made_dirs;
  Status local;  // disk full: the rest of the batch is not even tried
  for (size_t i = 0; i < files.size(); ++i) {
    const auto& [info, data] = files[i];
    if (!local.ok()) {
      out[i] = local;
      continue;
    }
    if (data.size() != info.size) {
      out[i] = InvalidArgument("'" + info.path + "': " + std::to_string(data.size()) +
                               " bytes sent, " + std::to_string(info.size) + " declared");
      continue;
    }
    Result<Impl::Active*> got = s.Acquire(info);
    if (!got.ok()) {
      out[i] = got.status();
      continue;
    }
    Impl::Active* a = *got;
    if (Held(s.o.inventory, s.o.data_root, a->rel, a->info)) {
      s.Drop(a, false, false);
      continue;
    }
    if (Status st = internal::SafeToReplace(a->final_path, a->rel, s.o.inventory); !st.ok()) {
      s.Drop(a, false, true);
      out[i] = st;
      continue;
    }
    std::string parent = internal::DirName(a->rel);
    if (!made_dirs.count(parent)) {  // one mkdir walk per directory
      if (Status st = internal::MakeParents(s.o.data_root, a->rel); !st.ok()) {
        out[i] = s.Fail(a, st);
        if (st.code() == Code::kResourceExhausted) local = st;
        continue;
      }
      made_dirs.insert(parent);
    }
    Fd fd(::open(a->part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    Status st = fd.get() < 0 ? OpenError(a->part)
                             : internal::WriteAll(fd.get(), data.data(), data.size(), 0, a->part);
    if (!st.ok()) {
      out[i] = s.Fail(a, st);
      if (st.code() == Code::kResourceExhausted) local = st;
      continue;
    }
    a->hash.Reset();
    a->hash.Update(data.data(), data.size());
    std::string got_sha = a->hash.HexDigest();
    if (got_sha != info.sha256) {
      out[i] = s.Fail(a, InvalidArgument("sha256 mismatch for '" + a->rel + "': declared " +
                                         info.sha256 + ", received " + got_sha + " (discarded)"));
      continue;
    }
    internal::SetMtime(a->part, info.mtime_ns);
    ready.push_back({i, a});
  }
  if (!local.ok()) {  // disk full: nothing of this batch stays
    for (const Ready& r : ready) out[r.index] = s.Fail(r.a, local);
    return out;
  }
  // Durable data before the renames: one syncfs for the batch, then renames, then each
  // directory once.
  if (s.o.fsync && !ready.empty()) {
    int root = ::open(s.o.data_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root >= 0) {
      ::syncfs(root);
      ::close(root);
    }
  }
  std::set<std::string> dirs;
  std::vector<inventory::Inventory::Received> records;
  std::vector<size_t> recorded;
  std::vector<Impl::Active*> renamed;
  for (const Ready& r : ready) {
    Impl::Active* a = r.a;
    if (Status st = internal::SafeToReplace(a->final_path, a->rel, s.o.inventory); !st.ok()) {
      out[r.index] = s.Fail(a, st);
      continue;
    }
    if (::rename(a->part.c_str(), a->final_path.c_str()) != 0) {
      out[r.index] = s.Fail(a, Internal("rename " + a->part + ": " + Errno()));
      continue;
    }
    dirs.insert(internal::DirName(a->final_path));
    records.push_back({a->rel, a->info.size, internal::MtimeNs(a->final_path), a->info.sha256});
    recorded.push_back(r.index);
    renamed.push_back(a);
  }
  for (const std::string& d : dirs) {
    if (s.o.fsync) {
      if (Status st = internal::FsyncDir(d); !st.ok()) log::Warn("push: " + st.ToString());
    }
  }
  if (s.o.inventory && !records.empty()) {  // one transaction for the whole batch
    std::vector<Status> st = s.o.inventory->RecordReceivedBatch(records, s.WallMs());
    for (size_t k = 0; k < st.size() && k < recorded.size(); ++k) out[recorded[k]] = st[k];
  }
  {
    std::lock_guard lock(s.mu);
    s.figures.files_received += renamed.size();
    for (const Impl::Active* a : renamed) s.figures.bytes_received += a->info.size;
  }
  for (Impl::Active* a : renamed) s.Drop(a, false, false);
  return out;
}

void PushReceiver::ExpireIdle() {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  auto now = Clock::now();
  for (auto it = s.active.begin(); it != s.active.end();) {
    Impl::Active& a = *it->second;
    if (!a.busy && now - a.last > s.o.idle_timeout) {
      log::Info("push of '" + a.rel + "' idle for " +
                std::to_string(ToMillis(now - a.last) / 1000) + " s: forgotten (" +
                std::to_string(a.offset) + " of " + std::to_string(a.info.size) +
                " bytes kept in its .part)");
      if (s.o.release) s.o.release(a.rel);
      it = s.active.erase(it);
    } else {
      ++it;
    }
  }
}

PushReceiverFigures PushReceiver::Figures() const {
  std::lock_guard lock(impl_->mu);
  PushReceiverFigures f = impl_->figures;
  f.active = impl_->active.size();
  return f;
}

std::vector<PushedFile> PushReceiver::Active() const {
  std::lock_guard lock(impl_->mu);
  std::vector<PushedFile> out;
  auto now = Clock::now();
  for (const auto& [rel, a] : impl_->active) {
    out.push_back({rel, a->busy, a->offset, a->info.size, ToMillis(now - a->last)});
  }
  return out;
}

}  // namespace rift::sync
