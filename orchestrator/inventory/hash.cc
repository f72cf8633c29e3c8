#include "orchestrator/inventory/hash.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <cstring>
#include <memory>

namespace rift::inventory::internal {
namespace {

struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string Hex(const unsigned char* d, unsigned n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (unsigned i = 0; i < n; ++i) {
    out[2 * i] = kDigits[d[i] >> 4];
    out[2 * i + 1] = kDigits[d[i] & 0xf];
  }
  return out;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  return Hex(md, n);
}

Result<std::string> Sha256OfFd(int fd, uint64_t* bytes) {
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return Internal("sha256: cannot initialise libcrypto digest");
  }
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // Up to 1 MiB: large enough to run at disk speed, small enough to keep memory flat; sized by
  // the file so hashing 10,000 small files does not allocate (and touch) 10 GiB of buffers.
  struct stat st {};
  size_t cap = 1 << 20;
  if (::fstat(fd, &st) == 0 && st.st_size >= 0) {
    cap = std::clamp<size_t>(static_cast<size_t>(st.st_size) + 1, 4096, cap);
  }
  std::unique_ptr<unsigned char[]> buf(new unsigned char[cap]);
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf.get(), cap, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("sha256: read failed: " + std::string(std::strerror(errno)));
    if (n == 0) break;
    if (EVP_DigestUpdate(ctx.get(), buf.get(), static_cast<size_t>(n)) != 1) {
      return Internal("sha256: digest update failed");
    }
    off += n;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) return Internal("sha256: digest failed");
  if (bytes) *bytes += static_cast<uint64_t>(off);
  return Hex(md, len);
}

bool IsSha256Hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace rift::inventory::internal
