#pragma once
// Carries envelope batches to peers: one POST per (destination URL, route) per Send(), to
// protocol::RouteFor(body), on a small worker pool. The HTTP response's batch (the peer's
// replies) is decoded and handed to `on_replies`. Lost requests are lost messages: the protocol
// recovers by its own timers, so the transport never retries.
//
// Bounded: the task queue (full -> the batch is dropped and counted), the batches queued per
// destination, the number of cached keep-alive clients (least recently used idle ones are
// evicted), connect and read timeouts. At most one request per destination is in flight, so an
// unreachable (black-holed) peer occupies one worker at most and never delays other peers'
// heartbeats behind its timeouts.
// Thread-safe. `on_replies` runs on a transport worker; it must not call Send() while holding
// a lock that Send's callers hold.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/protocol/messages.h"

namespace rift::net {

struct TransportOptions {
  size_t workers = 4;
  size_t max_queue = 256;        // pending batches
  size_t max_queue_per_url = 8;  // pending batches for one destination
  size_t max_clients = 256;
  std::chrono::milliseconds connect_timeout{300};
  std::chrono::milliseconds request_timeout{1000};
  std::string auth_token;
};

struct TransportStats {
  uint64_t batches_sent = 0;
  uint64_t batches_failed = 0;   // transport error or non-200 answer
  uint64_t batches_dropped = 0;  // queue full, no URL, or after Stop()
  uint64_t envelopes_sent = 0;
  uint64_t replies_received = 0;
};

class PeerTransport {
 public:
  using ReplySink = std::function<void(std::vector<protocol::Envelope>)>;

  PeerTransport(TransportOptions options, ReplySink on_replies);
  ~PeerTransport();  // Stop()s
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Groups by to_url and route; envelopes without to_url are dropped (counted).
  void Send(std::vector<protocol::Envelope> envelopes);
  // Drops pending batches and joins the workers (in-flight requests finish or time out).
  void Stop();
  TransportStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::net
