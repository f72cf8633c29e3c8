#include "orchestrator/sync/part_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "orchestrator/sync/transfer_io.h"

namespace rift::sync::internal {
namespace {

constexpr uint64_t kAlign = 4096;             // O_DIRECT offset, length and address alignment
constexpr size_t kChunk = 4 << 20;            // one O_DIRECT write
constexpr size_t kBuffers = 3;                // one being filled, up to two queued or writing
constexpr uint64_t kWritebackStep = 8 << 20;  // buffered mode: start writeback this often

struct AlignedFree {
  void operator()(char* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<char, AlignedFree>;

// The fd of the same open file reopened with O_DIRECT (-1 where that is not possible: no
// O_DIRECT on this platform, no /proc, or a filesystem that refuses it).
int ReopenDirect(int fd) {
#ifdef O_DIRECT
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  return ::open(self.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
#else
  (void)fd;
  return -1;
#endif
}

}  // namespace

struct PartWriter::Impl {
  int fd;
  std::string path;
  bool durable;
  int dfd = -1;                        // O_DIRECT fd (-1: buffered mode)
  std::atomic<bool> fell_back{false};  // O_DIRECT writes refused: the writer uses fd instead
  uint64_t offset = 0;

  // Buffered mode.
  uint64_t writeback_from = 0;

  // Direct mode: `cur` holds the bytes of [cur_at, cur_at + fill); cur_at is aligned.
  Buffer cur;
  uint64_t cur_at = 0;
  size_t fill = 0;

  struct Job {
    Buffer buf;
    uint64_t at;
    size_t len;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> queue;     // guarded by mu
  std::vector<Buffer> free;  // guarded by mu
  bool busy = false;         // the writer holds a job (guarded by mu)
  bool stop = false;         // guarded by mu
  Status error;              // first write error (guarded by mu)
  std::thread writer;

  Impl(int f, std::string p, bool d, uint64_t size_hint) : fd(f), path(std::move(p)), durable(d) {
    if (!durable || size_hint < kChunk) return;
    dfd = ReopenDirect(fd);
    if (dfd < 0) return;
    for (size_t i = 0; i < kBuffers; ++i) {
      char* b = static_cast<char*>(std::aligned_alloc(kAlign, kChunk));
      if (b == nullptr) {
        ::close(dfd);
        dfd = -1;
        free.clear();
        return;
      }
      free.emplace_back(b);
    }
    cur = std::move(free.back());
    free.pop_back();
    try {
      writer = std::thread([this] { Run(); });
    } catch (const std::system_error&) {
      ::close(dfd);
      dfd = -1;
    }
  }

  ~Impl() {
    if (writer.joinable()) {
      Drain();  // queued writes finish (or are skipped after an error) before the fd goes
      {
        std::lock_guard<std::mutex> l(mu);
        stop = true;
      }
      cv.notify_all();
      writer.join();
    }
    if (dfd >= 0) ::close(dfd);
  }

  // The writer thread: one job at a time, in order, so the file is always a contiguous prefix.
  void Run() {
    std::unique_lock<std::mutex> l(mu);
    for (;;) {
      cv.wait(l, [&] { return stop || !queue.empty(); });
      if (stop) return;
      Job job = std::move(queue.front());
      queue.pop_front();
      busy = true;
      bool failed = !error.ok();
      l.unlock();
      Status s = failed ? Status::Ok() : WriteJob(job);
      l.lock();
      if (!s.ok() && error.ok()) error = s;
      free.push_back(std::move(job.buf));
      busy = false;
      cv.notify_all();
    }
  }

  Status WriteJob(const Job& job) {
    if (!fell_back) {
      int err = 0;
      Status s = WriteAll(dfd, job.buf.get(), job.len, job.at, path, &err);
      if (s.ok() || err != EINVAL) return s;
      // The filesystem took the O_DIRECT open but not the write (the alignment it needs is
      // larger, or no support after all): this job, again whole, and every later one go
      // through the cache.
      fell_back = true;
    }
    return WriteAll(fd, job.buf.get(), job.len, job.at, path);
  }

  Status FirstError() {
    std::lock_guard<std::mutex> l(mu);
    return error;
  }

  Status SetError(Status s) {
    std::lock_guard<std::mutex> l(mu);
    if (error.ok()) error = s;
    return s;
  }

  // Queues cur[0, len) (len a multiple of kAlign) and takes a free buffer for what follows.
  void Submit(size_t len) {
    std::unique_lock<std::mutex> l(mu);
    queue.push_back(Job{std::move(cur), cur_at, len});
    cv.notify_all();
    cv.wait(l, [&] { return !free.empty(); });
    cur = std::move(free.back());
    free.pop_back();
  }

  void Drain() {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return queue.empty() && !busy; });
  }

  Status WriteBuffered(const char* data, size_t len) {
    RIFT_RETURN_IF_ERROR(WriteAll(fd, data, len, offset, path));
    offset += len;
    if (durable && offset - writeback_from >= kWritebackStep) {
      StartWriteback(fd, writeback_from, offset - writeback_from);
      writeback_from = offset;
    }
    return Status::Ok();
  }
};

PartWriter::PartWriter(int fd, std::string path, bool durable, uint64_t size_hint)
    : impl_(std::make_unique<Impl>(fd, std::move(path), durable, size_hint)) {}

PartWriter::~PartWriter() = default;

uint64_t PartWriter::offset() const { return impl_->offset; }

bool PartWriter::direct() const { return impl_->dfd >= 0 && !impl_->fell_back; }

Status PartWriter::Reset(uint64_t offset) {
  Impl& m = *impl_;
  if (m.dfd >= 0) {
    m.Drain();
    if (offset > 0) {
      // The bytes before `offset` must all be in the file: a failed write is still the answer.
      RIFT_RETURN_IF_ERROR(m.FirstError());
    } else {
      std::lock_guard<std::mutex> l(m.mu);
      m.error = Status::Ok();  // starting over (the caller truncates)
    }
    uint64_t at = offset & ~(kAlign - 1);
    size_t fill = static_cast<size_t>(offset - at);
    size_t got = 0;
    while (got < fill) {  // the partial block before `offset` is rewritten whole
      ssize_t n = ::pread(m.fd, m.cur.get() + got, fill - got, static_cast<off_t>(at + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return m.SetError(Internal("reading back the end of " + m.path + ": " +
                                   std::strerror(n < 0 ? errno : EIO)));
      }
      got += static_cast<size_t>(n);
    }
    m.cur_at = at;
    m.fill = fill;
  }
  m.offset = m.writeback_from = offset;
  return Status::Ok();
}

Status PartWriter::Write(const char* data, size_t len) {
  Impl& m = *impl_;
  if (m.dfd < 0) return m.WriteBuffered(data, len);
  RIFT_RETURN_IF_ERROR(m.FirstError());
  while (len > 0) {
    size_t n = std::min(len, kChunk - m.fill);
    std::memcpy(m.cur.get() + m.fill, data, n);
    m.fill += n;
    m.offset += n;
    data += n;
    len -= n;
    if (m.fill == kChunk) {
      m.Submit(kChunk);
      m.cur_at += kChunk;
      m.fill = 0;
    }
  }
  return Status::Ok();
}

Status PartWriter::Finish() {
  Impl& m = *impl_;
  if (m.dfd < 0) return Status::Ok();
  size_t whole = m.fill & ~static_cast<size_t>(kAlign - 1);
  if (whole > 0) {
    // The whole blocks go to the writer; the partial one stays in a fresh `cur`, at the start,
    // for the write below and for any later Write().
    size_t tail = m.fill - whole;
    std::vector<char> copy(m.cur.get() + whole, m.cur.get() + m.fill);
    m.Submit(whole);
    // (tail may be 0: an empty vector's data() may be null, which memcpy must not get)
    if (tail > 0) std::memcpy(m.cur.get(), copy.data(), tail);
    m.cur_at += whole;
    m.fill = tail;
  }
  m.Drain();
  RIFT_RETURN_IF_ERROR(m.FirstError());
  if (m.fill > 0) {
    Status s = WriteAll(m.fd, m.cur.get(), m.fill, m.cur_at, m.path);
    if (!s.ok()) return m.SetError(s);
  }
  return Status::Ok();
}

}  // namespace rift::sync::internal
