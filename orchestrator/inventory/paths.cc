#include "orchestrator/inventory/paths.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define RIFT_HAVE_OPENAT2_H 1
#endif

#include "orchestrator/inventory/paths_internal.h"

namespace rift::inventory {
namespace {

// Requests name files with relative paths; anything near PATH_MAX is an attack or a bug.
constexpr size_t kMaxPath = 4096;
constexpr size_t kMaxComponent = 255;

std::vector<std::string> Split(const std::string& rel) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    parts.push_back(rel.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

// realpath() as a string; empty on failure (errno set).
std::string RealPath(const std::string& path) {
  char* p = ::realpath(path.c_str(), nullptr);
  if (p == nullptr) return {};
  std::string out(p);
  std::free(p);
  return out;
}

bool Inside(const std::string& real_root, const std::string& real) {
  if (real == real_root) return true;
  if (real_root == "/") return true;
  return real.size() > real_root.size() && real.compare(0, real_root.size(), real_root) == 0 &&
         real[real_root.size()] == '/';
}

Status OpenError(int err, const std::string& rel) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return NotFound("no such file in the data tree: '" + rel + "'");
    case ELOOP:   // a symlink on the way (RESOLVE_NO_SYMLINKS / O_NOFOLLOW)
    case EXDEV:   // RESOLVE_BENEATH: resolution would leave the root
      return PermissionDenied("path '" + rel + "' goes through a symlink; refused");
    case EACCES:
    case EPERM:
      return PermissionDenied("cannot open '" + rel + "': " + std::strerror(err));
    default:
      return Internal("cannot open '" + rel + "': " + std::strerror(err));
  }
}

// Only regular files are served. O_NONBLOCK at open time keeps a FIFO planted in the tree from
// blocking the caller; it is cleared again for the regular file that we keep.
Result<int> CheckRegular(int fd, const std::string& rel) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return OpenError(err, rel);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("'" + rel + "' is not a regular file");
  }
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) (void)::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

constexpr int kFileFlags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

#if defined(RIFT_HAVE_OPENAT2_H) && defined(SYS_openat2)
// -1: not yet known, 0: unavailable (old kernel or seccomp), 1: available.
std::atomic<int> g_openat2_state{-1};

// Returns the fd, or -1 with errno; ENOSYS means "use the walk".
int TryOpenat2(int root_fd, const std::string& rel) {
  if (g_openat2_state.load(std::memory_order_relaxed) == 0) {
    errno = ENOSYS;
    return -1;
  }
  struct open_how how {};
  how.flags = kFileFlags;
  // NO_SYMLINKS: we never serve through symlinks (the inventory does not index them either), so
  // there is no need to reason about where one points. BENEATH refuses '..' and absolute jumps.
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
  long fd = ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof(how));
  if (fd < 0 && (errno == ENOSYS || errno == E2BIG)) {
    g_openat2_state.store(0, std::memory_order_relaxed);
    errno = ENOSYS;
    return -1;
  }
  // Some container seccomp profiles answer EPERM for syscalls they do not know; an EPERM on the
  // very first call is treated as "unavailable" and the walk decides instead.
  if (fd < 0 && errno == EPERM && g_openat2_state.load(std::memory_order_relaxed) == -1) {
    g_openat2_state.store(0, std::memory_order_relaxed);
    errno = ENOSYS;
    return -1;
  }
  g_openat2_state.store(1, std::memory_order_relaxed);
  return static_cast<int>(fd);
}
#else
int TryOpenat2(int, const std::string&) {
  errno = ENOSYS;
  return -1;
}
#endif

}  // namespace

namespace internal {

Result<std::string> NormaliseRelative(const std::string& requested) {
  if (requested.empty()) return InvalidArgument("empty path");
  if (requested.size() > kMaxPath) {
    return InvalidArgument("path longer than " + std::to_string(kMaxPath) + " bytes");
  }
  for (unsigned char c : requested) {
    if (c < 0x20 || c == 0x7f) return InvalidArgument("path contains a control character");
    if (c == '\\') return InvalidArgument("path contains a backslash");
    // Callers decode the query string once; a '%' left over is a second encoded layer.
    if (c == '%') return InvalidArgument("path contains '%' (encoded form refused)");
  }
  if (requested[0] == '/') return InvalidArgument("absolute path refused");
  std::string out;
  for (const std::string& part : Split(requested)) {
    if (part.empty() || part == ".") continue;  // "a//b", "./a": normalised away
    if (part == "..") return InvalidArgument("'..' component refused");
    if (part.size() > kMaxComponent) return InvalidArgument("path component too long");
    if (!out.empty()) out += '/';
    out += part;
  }
  if (out.empty()) return InvalidArgument("path names the data root itself");
  return out;
}

Result<int> OpenBeneathWalk(const std::string& data_root, const std::string& rel) {
  int dir = ::open(data_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Internal("cannot open data root: " + std::string(std::strerror(errno)));
  std::vector<std::string> parts = Split(rel);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = ::openat(dir, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    int err = errno;
    if (next < 0) {
      // O_NOFOLLOW|O_DIRECTORY on a symlink answers ELOOP or ENOTDIR depending on the kernel;
      // lstat tells which it was so a symlinked directory is reported as such.
      struct stat st {};
      if (::fstatat(dir, parts[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        err = ELOOP;
      }
      ::close(dir);
      return OpenError(err, rel);
    }
    ::close(dir);
    dir = next;
  }
  int fd = ::openat(dir, parts.back().c_str(), kFileFlags);
  int err = errno;
  ::close(dir);
  if (fd < 0) return OpenError(err, rel);
  return CheckRegular(fd, rel);
}

}  // namespace internal

Result<std::string> ConfinePath(const std::string& data_root, const std::string& requested) {
  RIFT_ASSIGN_OR_RETURN(std::string rel, internal::NormaliseRelative(requested));
  const std::string real_root = RealPath(data_root);
  if (real_root.empty()) {
    return FailedPrecondition("data root is not accessible: " + std::string(std::strerror(errno)));
  }
  // Check each existing prefix: a symlink inside the root is fine as long as it resolves inside
  // the root (realpath resolves chains too). Missing components end the check: nothing below
  // them exists to escape through, and OpenBeneath refuses symlinks anyway.
  std::string prefix = data_root;
  for (const std::string& part : Split(rel)) {
    prefix += '/';
    prefix += part;
    struct stat st {};
    if (::lstat(prefix.c_str(), &st) != 0) break;
    if (!S_ISLNK(st.st_mode)) continue;
    const std::string real = RealPath(prefix);
    if (real.empty()) {
      return PermissionDenied("path '" + rel + "' goes through a symlink that does not resolve");
    }
    if (!Inside(real_root, real)) {
      return PermissionDenied("path '" + rel + "' goes through a symlink leading outside the "
                              "data tree");
    }
  }
  return rel;
}

Result<int> OpenBeneath(const std::string& data_root, const std::string& rel) {
  // Defence in depth: callers should have confined `rel`, but a raw one must not slip through.
  RIFT_ASSIGN_OR_RETURN(std::string norm, internal::NormaliseRelative(rel));
  int root = ::open(data_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return Internal("cannot open data root: " + std::string(std::strerror(errno)));
  int fd = TryOpenat2(root, norm);
  int err = errno;
  ::close(root);
  if (fd < 0 && err == ENOSYS) return internal::OpenBeneathWalk(data_root, norm);
  if (fd < 0) return OpenError(err, norm);
  return CheckRegular(fd, norm);
}

}  // namespace rift::inventory
