#include "orchestrator/inventory/walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rift::inventory::internal {
namespace {

// Real trees are a few levels deep; the bound only guards against bind-mount loops.
constexpr int kMaxDepth = 64;

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// One component as readdir returns it.
bool AcceptableComponent(const char* name) {
  if (name[0] == '.') return false;  // dot-files, ".", "..", editor and rsync temporaries
  for (const char* p = name; *p; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c == 0x7f || c == '\\' || c == '%') return false;
  }
  return true;
}

void WalkDir(int fd, const std::string& prefix, int depth, WalkResult* out) {
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    out->unreadable.push_back(prefix);
    return;
  }
  while (dirent* e = ::readdir(dir)) {
    if (!AcceptableComponent(e->d_name)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0 &&
          e->d_name[0] != '.') {
        ++out->skipped_names;
      }
      continue;
    }
    const std::string rel = prefix + e->d_name;
    unsigned char type = e->d_type;
    if (type == DT_LNK) continue;
    if (type == DT_DIR) {
      if (depth >= kMaxDepth) {
        out->unreadable.push_back(rel + "/");
        continue;
      }
      int sub = ::openat(::dirfd(dir), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        if (errno != ENOENT) out->unreadable.push_back(rel + "/");
        continue;
      }
      WalkDir(sub, rel + "/", depth + 1, out);
      continue;
    }
    if (type != DT_REG && type != DT_UNKNOWN) continue;  // fifos, sockets, devices
    struct stat st {};
    if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished
    if (S_ISDIR(st.st_mode)) {  // DT_UNKNOWN filesystems
      int sub = ::openat(::dirfd(dir), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0 && depth < kMaxDepth) {
        WalkDir(sub, rel + "/", depth + 1, out);
      } else {
        if (sub >= 0) ::close(sub);
        out->unreadable.push_back(rel + "/");
      }
      continue;
    }
    if (!S_ISREG(st.st_mode) || EndsWith(rel, ".part")) continue;
    out->files.push_back({rel, static_cast<uint64_t>(st.st_size),
                          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                              st.st_mtim.tv_nsec});
  }
  ::closedir(dir);
}

}  // namespace

bool IndexableName(const std::string& rel) {
  if (rel.empty() || EndsWith(rel, ".part")) return false;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    const std::string part = rel.substr(start, slash - start);
    if (part.empty() || !AcceptableComponent(part.c_str())) return false;
    start = slash + 1;
  }
  return true;
}

Result<WalkResult> WalkTree(const std::string& root) {
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return NotFound("cannot open data root '" + root + "': " + std::strerror(errno));
  }
  WalkResult out;
  WalkDir(fd, "", 0, &out);
  if (!out.unreadable.empty() && out.unreadable.front().empty()) {
    return Internal("cannot read data root '" + root + "'");
  }
  return out;
}

}  // namespace rift::inventory::internal
