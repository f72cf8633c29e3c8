#pragma once
// Internal to the transfer code: the sequential writer of a large pull's `.part` file.
//
// Durable mode (the pull fsyncs before the rename) writes whole blocks with O_DIRECT from a
// small pool of aligned buffers, on a writer thread, while the caller receives and hashes the
// next ones. The data never sits in the page cache as dirty pages, so no writeback competes with
// the network for the CPU and the final fsync has almost nothing left to do; the disk and the
// network work at the same time. The unaligned tail (and a filesystem that refuses O_DIRECT)
// goes through the page cache with writeback started every few MiB. docs/data-plane.md has the
// figures behind this choice.
//
// Not durable: plain pwrite, nothing else.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "orchestrator/base/status.h"

namespace rift::sync::internal {

class PartWriter {
 public:
  // `fd`: the .part file, open O_RDWR (the writer does not own it); `path` names it in errors.
  // Durable mode uses O_DIRECT (a second fd of the same file) when `size_hint`, the bytes
  // expected, fills at least one 4 MiB block; smaller files are not worth a thread and 12 MiB.
  PartWriter(int fd, std::string path, bool durable, uint64_t size_hint = UINT64_MAX);
  ~PartWriter();
  PartWriter(const PartWriter&) = delete;
  PartWriter& operator=(const PartWriter&) = delete;

  // Waits for pending writes, then appends from `offset` on (the bytes before it are already in
  // the file; with O_DIRECT the partial block before `offset` is read back to be rewritten).
  // Reset(0) forgets an earlier write error (the caller truncates); a later offset reports it.
  Status Reset(uint64_t offset);
  // Appends `len` bytes at the current offset. Fails with the first write error seen so far
  // (ENOSPC/EDQUOT -> kResourceExhausted).
  Status Write(const char* data, size_t len);
  // Writes everything still buffered and waits for it: afterwards the file holds every byte
  // given to Write() (fsync is the caller's). Write() may go on afterwards.
  Status Finish();
  // Bytes accepted so far (file offset of the next Write).
  uint64_t offset() const;
  // Whether blocks currently go to the disk with O_DIRECT.
  bool direct() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::sync::internal
