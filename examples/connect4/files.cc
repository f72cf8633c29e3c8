#include "examples/connect4/files.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace rift::c4 {
namespace {

std::string Errno() { return std::strerror(errno); }

std::string DirOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

Status FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Internal("open directory " + dir + ": " + Errno());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Internal("fsync directory " + dir + ": " + Errno());
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("write " + path + ": " + Errno());
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ReadWholeFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return NotFound("cannot read " + path + ": " + Errno());
  std::string data;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return Internal("read " + path + ": I/O error");
  return data;
}

Status WriteFileAtomic(const std::string& path, std::string_view data) {
  // A hidden ".part" name: the data inventory never indexes it, even for an instant.
  const std::filesystem::path p(path);
  std::string name = ".";
  name += p.filename().string();
  name += '.';
  name += std::to_string(::getpid());
  name += ".part";
  const std::string tmp = (p.parent_path() / name).string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Internal("create " + tmp + ": " + Errno());
  Status st = WriteAll(fd, data, tmp);
  if (st.ok() && ::fsync(fd) != 0) st = Internal("fsync " + tmp + ": " + Errno());
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = Internal("rename " + tmp + " to " + path + ": " + Errno());
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return FsyncDir(DirOf(path));
}

Status EnsureDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("cannot create directory " + dir + ": " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) {
    return FailedPrecondition(dir + " exists but is not a directory");
  }
  return Status::Ok();
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  static const char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (unsigned i = 0; i < n; ++i) {
    out[2 * i] = kDigits[md[i] >> 4];
    out[2 * i + 1] = kDigits[md[i] & 0xf];
  }
  return out;
}

PartFile::~PartFile() { Discard(); }

Status PartFile::Open(const std::string& final_path) {
  Discard();
  final_path_ = final_path;
  part_path_ = final_path + ".part";
  file_ = std::fopen(part_path_.c_str(), "wbx");  // x: never clobber another writer's file
  if (file_ == nullptr) return Internal("create " + part_path_ + ": " + Errno());
  return Status::Ok();
}

Status PartFile::Append(std::string_view line) {
  if (file_ == nullptr) return FailedPrecondition("part file is not open");
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() ||
      std::fputc('\n', file_) == EOF) {
    return Internal("write " + part_path_ + ": " + Errno());
  }
  return Status::Ok();
}

Status PartFile::Commit() {
  if (file_ == nullptr) return FailedPrecondition("part file is not open");
  Status st;
  if (std::fflush(file_) != 0) st = Internal("write " + part_path_ + ": " + Errno());
  if (st.ok() && ::fsync(::fileno(file_)) != 0) {
    st = Internal("fsync " + part_path_ + ": " + Errno());
  }
  if (std::fclose(file_) != 0 && st.ok()) st = Internal("close " + part_path_ + ": " + Errno());
  file_ = nullptr;
  if (st.ok() && ::rename(part_path_.c_str(), final_path_.c_str()) != 0) {
    st = Internal("rename " + part_path_ + " to " + final_path_ + ": " + Errno());
  }
  if (!st.ok()) return st;  // the .part file stays for inspection; nothing is deleted
  return FsyncDir(DirOf(final_path_));
}

void PartFile::Discard() {
  if (file_ == nullptr) return;
  std::fclose(file_);
  file_ = nullptr;
  ::unlink(part_path_.c_str());
}

}  // namespace rift::c4
