#include "orchestrator/api/metrics.h"

#include <cstdio>
#include <string_view>

namespace rift::api {
namespace {

std::string EscapeLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Family(std::string* out, const char* name, const char* type, const char* help) {
  *out += "# HELP ";
  *out += name;
  *out += ' ';
  *out += help;
  *out += "\n# TYPE ";
  *out += name;
  *out += ' ';
  *out += type;
  *out += '\n';
}

void Sample(std::string* out, std::string_view name, std::string_view labels, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  *out += name;
  if (!labels.empty()) {
    *out += '{';
    *out += labels;
    *out += '}';
  }
  *out += ' ';
  *out += buf;
  *out += '\n';
}

}  // namespace

std::string RenderMetrics(const PublishedState& state, const Router& router) {
  const core::Snapshot& c = state.core;
  std::string out;
  out.reserve(2048);
  Family(&out, "ringrift_leader", "gauge", "1 if this node is the leader, else 0.");
  Sample(&out, "ringrift_leader", "", c.role == "leader" ? 1 : 0);
  Family(&out, "ringrift_leader_lease", "gauge", "1 if this node leads and holds a quorum lease.");
  Sample(&out, "ringrift_leader_lease", "", c.lease ? 1 : 0);
  Family(&out, "ringrift_term", "gauge", "Current election term.");
  Sample(&out, "ringrift_term", "", static_cast<double>(c.term));
  Family(&out, "ringrift_quorum", "gauge",
         "1 if this node sees a quorum (leader with lease, or "
         "follower hearing a leader).");
  Sample(&out, "ringrift_quorum", "", c.quorum ? 1 : 0);
  Family(&out, "ringrift_voter", "gauge", "1 if this node is a voter.");
  Sample(&out, "ringrift_voter", "", c.voter ? 1 : 0);
  Family(&out, "ringrift_members", "gauge", "Known members other than this node, by state.");
  Sample(&out, "ringrift_members", "state=\"alive\"", static_cast<double>(c.alive));
  Sample(&out, "ringrift_members", "state=\"suspect\"", static_cast<double>(c.suspect));
  Sample(&out, "ringrift_members", "state=\"dead\"", static_cast<double>(c.dead));
  Family(&out, "ringrift_conflicts", "gauge", "Duplicate node id conflicts detected.");
  Sample(&out, "ringrift_conflicts", "", static_cast<double>(c.conflicts.size()));
  const auto& e = c.election_stats;
  Family(&out, "ringrift_elections_total", "counter", "Election campaigns started by this node.");
  Sample(&out, "ringrift_elections_total", "", static_cast<double>(e.elections_started));
  Family(&out, "ringrift_pre_votes_total", "counter", "Pre-vote rounds started by this node.");
  Sample(&out, "ringrift_pre_votes_total", "", static_cast<double>(e.pre_votes_started));
  Family(&out, "ringrift_leader_changes_total", "counter", "New leaders observed by this node.");
  Sample(&out, "ringrift_leader_changes_total", "", static_cast<double>(e.leader_changes));
  Family(&out, "ringrift_step_downs_total", "counter", "Times this node stepped down as leader.");
  Sample(&out, "ringrift_step_downs_total", "", static_cast<double>(e.stepped_down));
  Family(&out, "ringrift_vote_store_errors_total", "counter", "Failed durable vote writes.");
  Sample(&out, "ringrift_vote_store_errors_total", "", static_cast<double>(e.store_errors));
  Family(&out, "ringrift_local_health", "gauge",
         "Lifeguard local health score (0 = healthy; higher = this node is slow).");
  Sample(&out, "ringrift_local_health", "", c.local_health);
  Family(&out, "ringrift_healthy", "gauge", "1 if /health reports healthy.");
  Sample(&out, "ringrift_healthy", "", IsHealthy(state.system) ? 1 : 0);
  Family(&out, "ringrift_disk_used_ratio", "gauge", "Used fraction of the data volume.");
  Sample(&out, "ringrift_disk_used_ratio", "", state.system.disk_percent / 100.0);
  Family(&out, "ringrift_memory_used_ratio", "gauge", "Used fraction of memory.");
  Sample(&out, "ringrift_memory_used_ratio", "", state.system.memory_percent / 100.0);
  Family(&out, "ringrift_cpu_used_ratio", "gauge", "Busy fraction of all CPUs.");
  Sample(&out, "ringrift_cpu_used_ratio", "", state.system.cpu_percent / 100.0);
  const DataStats& d = state.data;
  Family(&out, "ringrift_data_files", "gauge", "Files under the data root (last scan).");
  Sample(&out, "ringrift_data_files", "", static_cast<double>(d.files));
  Family(&out, "ringrift_data_sealed_files", "gauge", "Sealed files in the inventory.");
  Sample(&out, "ringrift_data_sealed_files", "", static_cast<double>(d.sealed_files));
  Family(&out, "ringrift_data_sealed_bytes", "gauge", "Bytes of sealed files in the inventory.");
  Sample(&out, "ringrift_data_sealed_bytes", "", static_cast<double>(d.sealed_bytes));
  Family(&out, "ringrift_sync_transfers_active", "gauge", "Pulls running now.");
  Sample(&out, "ringrift_sync_transfers_active", "", static_cast<double>(d.transfers_active));
  Family(&out, "ringrift_sync_transfers_failed_total", "counter", "Pulls that failed.");
  Sample(&out, "ringrift_sync_transfers_failed_total", "", static_cast<double>(d.transfers_failed));
  Family(&out, "ringrift_sync_bytes_received_total", "counter", "Bytes received by pulls.");
  Sample(&out, "ringrift_sync_bytes_received_total", "", static_cast<double>(d.bytes_received));
  Family(&out, "ringrift_http_requests_total", "counter", "HTTP requests by route and status.");
  for (const auto& [key, count] : router.RequestCounts()) {
    std::string labels =
        "route=\"" + EscapeLabel(key.first) + "\",code=\"" + std::to_string(key.second) + "\"";
    Sample(&out, "ringrift_http_requests_total", labels, static_cast<double>(count));
  }
  return out;
}

}  // namespace rift::api
