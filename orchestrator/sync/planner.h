#pragma once
// Sync planning, pure: from the cluster's view of who holds what, decide which node pulls which
// file from whom. The leader runs it; it never does I/O.
//
//  - Training plan (POST /sync/training): every training node must hold every sealed file of
//    every class with training_needs_all (selfplay by default).
//  - Replication plan (POST /sync/start): every sealed file of every class reaches its class's
//    replication target on distinct nodes. New copies go to the eligible node with the most free
//    bytes (ties broken by node id, so plans are deterministic), never to a node at or above
//    its high watermark (after counting the bytes already planned for it), never to a node that
//    already holds the version, never to an outbound-only node as a pull *source* (those push).
//  - Never to a node whose record of the path is unsealed: the file is being written there, and
//    a pull would replace newer local data.
//  - Each pull lists every known holder of the exact version (sha256) as a source, best first
//    (the file's origin, then others by id), so the puller can fail over.
//  - Bounded: at most `max_pulls_per_node` pulls per target per plan (the next round continues).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "orchestrator/inventory/types.h"

namespace rift::sync {

struct NodeView {
  std::string node_id;
  std::string url;
  bool alive = true;
  // Alive but suspected, or its manifest could not be read this round (its last one is used):
  // its copies count toward replication targets, but it is neither a source nor a target.
  bool suspect = false;
  bool training = false;       // role nn_training/all, or chosen by GPU strength
  bool outbound_only = false;  // cannot be pulled from; pushes instead
  uint64_t disk_total = 0;     // bytes of the data volume
  uint64_t disk_free = 0;
  double high_watermark = 0.80;  // fraction used at which nothing more is placed here
  // Sealed files this node holds (path -> record), from its manifest.
  std::map<std::string, inventory::FileRecord> files;
};

struct Pull {
  std::string target;             // node id that pulls
  std::string path;
  std::string sha256;
  uint64_t size = 0;
  std::vector<std::string> sources;  // node ids holding this version, best first
};

struct Push {  // an outbound-only holder sends its file to a target
  std::string source;
  std::string target;
  std::string path;
  std::string sha256;
  uint64_t size = 0;
};

struct Plan {
  std::vector<Pull> pulls;
  std::vector<Push> pushes;
  // Files that cannot reach their target (not enough eligible nodes), with the reason.
  std::vector<std::pair<std::string, std::string>> shortfalls;
};

struct PlanOptions {
  size_t max_pulls_per_node = 1000;
};

Plan PlanTraining(const std::vector<NodeView>& nodes,
                  const std::vector<inventory::FileClass>& classes, const PlanOptions& options);
Plan PlanReplication(const std::vector<NodeView>& nodes,
                     const std::vector<inventory::FileClass>& classes,
                     const PlanOptions& options);

}  // namespace rift::sync
