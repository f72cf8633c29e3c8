#include "orchestrator/pipeline/hashing.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace rift::pipeline {

struct StreamHash::Impl {
  EVP_MD_CTX* ctx = nullptr;
  uint64_t bytes = 0;
  uint64_t lines = 0;
};

StreamHash::StreamHash() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
}

StreamHash::~StreamHash() { EVP_MD_CTX_free(impl_->ctx); }

void StreamHash::Update(const char* data, size_t n) {
  EVP_DigestUpdate(impl_->ctx, data, n);
  impl_->bytes += n;
  impl_->lines += static_cast<uint64_t>(std::count(data, data + n, '\n'));
}

Transferred StreamHash::Finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, md, &len);
  static const char kHex[] = "0123456789abcdef";
  Transferred t;
  t.bytes = impl_->bytes;
  t.lines = impl_->lines;
  for (unsigned int i = 0; i < len; ++i) {
    t.sha256 += kHex[md[i] >> 4];
    t.sha256 += kHex[md[i] & 15];
  }
  EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
  impl_->bytes = impl_->lines = 0;
  return t;
}

Result<Transferred> HashFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    std::string msg = "cannot open " + path + ": " + std::strerror(e);
    return e == ENOENT ? NotFound(msg) : Internal(msg);
  }
  StreamHash h;
  std::vector<char> buf(1 << 20);
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string msg = "cannot read " + path + ": " + std::strerror(errno);
      ::close(fd);
      return Internal(msg);
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return h.Finish();
}

bool IsSha256Hex(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace rift::pipeline
