#pragma once
// What the HTTP handlers need from the node. node::Node implements it; tests use a fake.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/core/node_core.h"
#include "orchestrator/protocol/messages.h"

namespace rift::api {

// Sampled by the node's ticker (~1 Hz), never inside a request.
struct SystemStats {
  double disk_percent = 0;    // of the data volume (statvfs of <RINGRIFT_DIR>/data)
  double memory_percent = 0;  // (MemTotal - MemAvailable) / MemTotal
  double cpu_percent = 0;     // all CPUs, since the previous sample
  int selfplay_jobs = 0;
  int training_jobs = 0;
};

// Data-plane figures (inventory scan and transfers), copied from the data service by the ticker.
struct DataStats {
  uint64_t files = 0, sealed_files = 0, sealed_bytes = 0;
  uint64_t transfers_active = 0, transfers_queued = 0, transfers_failed = 0;
  uint64_t bytes_received = 0;
};

// A running job (from the job manager, sampled by the ticker), for /status.
struct RunningJob {
  std::string id, kind;
  int pid = 0;
  int64_t started_ms = 0;
};

// Immutable once published; handlers hold a shared_ptr to one for the whole request.
struct PublishedState {
  core::Snapshot core;
  SystemStats system;
  DataStats data;
  std::vector<RunningJob> jobs;
};

// POST /register: a node (its watchdog, every few minutes) announces where it can be reached.
struct Registration {
  std::string node_id;
  std::string url;   // normalised: no trailing '/'
  int ssh_port = 0;  // 0 = not given
};

class NodeApi {
 public:
  virtual ~NodeApi() = default;
  // The newest published state; never blocks on the core. Never null once serving.
  virtual std::shared_ptr<const PublishedState> State() const = 0;
  // Hands inbound peer envelopes to the core; returns the replies for the sender.
  virtual std::vector<protocol::Envelope> Deliver(std::vector<protocol::Envelope> batch) = 0;
  // True while this node leads and holds a quorum lease (checked now, under the core lock).
  virtual bool HasLease() const = 0;
  // Fencing check of a leader term carried by a request (NodeCore::CheckTerm).
  virtual Status CheckTerm(uint64_t term) const = 0;
  // Adds a registered URL to membership as a seed to probe. Returns whether it was new.
  // kInvalidArgument for a URL membership refuses (our own, loopback from a real cluster).
  virtual Result<bool> Register(const Registration& registration) {
    return FailedPrecondition("this node does not accept registrations");
  }
};

// Unhealthy at disk >= 90 % or memory >= 95 % (the original's thresholds).
bool IsHealthy(const SystemStats& s);

}  // namespace rift::api
