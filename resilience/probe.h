#pragma once
// The local /health probe: a plain socket, so that "nobody listens" (connection refused: the
// daemon is down) and "nobody answers" (connect or read timeout: the daemon is hung, e.g.
// SIGSTOPped while the kernel still completes handshakes) are told apart exactly.
#include <string>

#include "orchestrator/base/time.h"
#include "resilience/policy.h"

namespace rift::resilience {

struct ProbeResult {
  Health health = Health::kError;
  int http_status = 0;
  std::string body;    // the answer's body (kOk only)
  std::string detail;  // why it failed, for the log
};

// GET /health from host:port (numeric IPv4/IPv6 or a name) within `timeout` overall. kOk for an
// HTTP 200; kRefused when the connection is refused; kTimeout when connecting or answering takes
// longer; kError for anything else (reset, another status, garbage).
ProbeResult ProbeHealth(const std::string& host, int port, Duration timeout);

}  // namespace rift::resilience
