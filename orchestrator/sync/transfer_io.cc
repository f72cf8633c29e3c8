#include "orchestrator/sync/transfer_io.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "orchestrator/inventory/paths.h"

namespace rift::sync::internal {
namespace {

EVP_MD_CTX* Ctx(void* p) { return static_cast<EVP_MD_CTX*>(p); }

std::string Errno(int e) { return std::strerror(e); }

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { Reset(); }
Sha256::~Sha256() { EVP_MD_CTX_free(Ctx(ctx_)); }
void Sha256::Reset() { EVP_DigestInit_ex(Ctx(ctx_), EVP_sha256(), nullptr); }
void Sha256::Update(const char* data, size_t len) { EVP_DigestUpdate(Ctx(ctx_), data, len); }
std::string Sha256::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(Ctx(ctx_), md, &n);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  Reset();
  return out;
}

Status MakeParents(const std::string& root, const std::string& rel) {
  std::string path = root;
  size_t pos = 0;
  for (;;) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) return Status::Ok();
    path += "/" + rel.substr(pos, slash - pos);
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      if (errno == ENOSPC || errno == EDQUOT) {
        return ResourceExhausted("disk full creating " + path);
      }
      return Internal("mkdir " + path + ": " + Errno(errno));
    }
    pos = slash + 1;
  }
}

Status WriteAll(int fd, const char* data, size_t len, uint64_t offset, const std::string& what,
                int* err) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pwrite(fd, data + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      if (err) *err = e;
      if (e == ENOSPC || e == EDQUOT) {
        return ResourceExhausted("disk full writing " + what + " after " +
                                 std::to_string(offset + done) + " bytes");
      }
      return Internal("write " + what + ": " + Errno(e));
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

void StartWriteback(int fd, uint64_t offset, uint64_t len) {
  // Advisory: an error here (e.g. a filesystem without support) shows up again at fsync.
  (void)::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(len),
                          SYNC_FILE_RANGE_WRITE);
}

Status HashPrefix(int fd, uint64_t len, Sha256* hash) {
  std::vector<char> buf(1 << 20);
  uint64_t off = 0;
  while (off < len) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), len - off));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Internal("reading back the partial file: " + Errno(n < 0 ? errno : EIO));
    hash->Update(buf.data(), static_cast<size_t>(n));
    off += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Internal("open " + dir + ": " + Errno(errno));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  return rc == 0 ? Status::Ok() : Internal("fsync " + dir + ": " + Errno(e));
}

Status FsyncRename(int fd, const std::string& part, const std::string& final, bool fsync) {
  if (fsync && ::fsync(fd) != 0) {
    int e = errno;
    if (e == ENOSPC || e == EDQUOT) return ResourceExhausted("disk full syncing " + part);
    return Internal("fsync " + part + ": " + Errno(e));
  }
  if (::rename(part.c_str(), final.c_str()) != 0) {
    return Internal("rename " + part + " -> " + final + ": " + Errno(errno));
  }
  return fsync ? FsyncDir(DirName(final)) : Status::Ok();
}

int64_t MtimeNs(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

Status SafeToReplace(const std::string& final_path, const std::string& rel,
                     const inventory::Inventory* inventory) {
  return SafeToReplaceAt(AT_FDCWD, final_path, rel, inventory);
}

Status SafeToReplaceAt(int dirfd, const std::string& leaf, const std::string& rel,
                       const inventory::Inventory* inventory) {
  struct stat st {};
  if (::fstatat(dirfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || inventory == nullptr) {
    return Status::Ok();
  }
  auto rec = inventory->Get(rel);
  int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (rec && rec->sealed && !rec->deleted && S_ISREG(st.st_mode) &&
      rec->size == static_cast<uint64_t>(st.st_size) && rec->mtime_ns == mtime) {
    return Status::Ok();
  }
  return FailedPrecondition("not replacing '" + rel +
                            "': the local file changed since it was last sealed (it may be "
                            "newer data being written); the next sync round re-plans it");
}

void SetMtime(const std::string& path, int64_t mtime_ns) {
  if (mtime_ns <= 0) return;
  struct timespec ts[2] = {{mtime_ns / 1000000000, mtime_ns % 1000000000},
                           {mtime_ns / 1000000000, mtime_ns % 1000000000}};
  ::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

Throttle::Throttle(uint64_t rate) : rate_(rate), start_(std::chrono::steady_clock::now()) {}

void Throttle::Consumed(uint64_t n) {
  if (rate_ == 0) return;
  bytes_ += n;
  auto due = start_ + std::chrono::duration<double>(static_cast<double>(bytes_) / rate_);
  auto now = std::chrono::steady_clock::now();
  if (due > now + std::chrono::seconds(1)) {
    std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::nanoseconds>(due - now));
  }
}

namespace {
constexpr size_t kMaxRequestedPath = 4096;  // as inventory::ConfinePath
}  // namespace

bool PlainName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '%') return false;
  }
  return true;
}

DirCache::~DirCache() {
  for (auto& [parent, fd] : fds_) ::close(fd);
}

Result<DirCache::Entry> DirCache::Resolve(const std::string& requested) {
  size_t slash = requested.rfind('/');
  if (slash != std::string::npos && slash > 0 && requested.size() <= kMaxRequestedPath) {
    auto it = fds_.find(requested.substr(0, slash));
    std::string leaf = requested.substr(slash + 1);
    if (it != fds_.end() && PlainName(leaf)) return Entry{it->second, leaf, requested};
  }
  RIFT_ASSIGN_OR_RETURN(std::string rel, inventory::ConfinePath(root_, requested));
  slash = rel.rfind('/');
  std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
  RIFT_ASSIGN_OR_RETURN(int fd, Open(parent));
  return Entry{fd, slash == std::string::npos ? rel : rel.substr(slash + 1), rel};
}

Result<int> DirCache::Open(const std::string& parent) {
  auto it = fds_.find(parent);
  if (it != fds_.end()) return it->second;
  int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return FailedPrecondition("cannot open the data root: " + Errno(errno));
  size_t pos = 0;
  while (pos < parent.size()) {
    size_t slash = parent.find('/', pos);
    if (slash == std::string::npos) slash = parent.size();
    const std::string name = parent.substr(pos, slash - pos);
    if (create_ && ::mkdirat(fd, name.c_str(), 0755) != 0 && errno != EEXIST) {
      int e = errno;
      ::close(fd);
      if (e == ENOSPC || e == EDQUOT) {
        return ResourceExhausted("disk full creating " + parent.substr(0, slash));
      }
      return Internal("mkdir " + parent.substr(0, slash) + ": " + Errno(e));
    }
    int next = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    ::close(fd);
    if (next < 0) {
      if (e == ENOENT) return NotFound("no directory '" + parent.substr(0, slash) + "'");
      return PermissionDenied("'" + parent.substr(0, slash) +
                              "' is a symlink or not a directory; refused");
    }
    fd = next;
    pos = slash + 1;
  }
  fds_[parent] = fd;
  return fd;
}

Status DirCache::SyncAll() {
  for (const auto& [parent, fd] : fds_) {
    if (::fsync(fd) != 0) return Internal("fsync of directory '" + parent + "': " + Errno(errno));
  }
  return Status::Ok();
}

bool IsSha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string QueryEscape(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace rift::sync::internal
