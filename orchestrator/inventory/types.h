#pragma once
// Data-plane value types shared by the inventory, the transfer code and the planners.
// Paths are always relative to the data root (`$RINGRIFT_DIR/data`), '/'-separated, normalised
// (no '.', '..', empty or absolute components).
#include <cstdint>
#include <string>
#include <vector>

namespace rift::inventory {

// A class of files (from config `file_classes:`), matched by path prefix in order.
struct FileClass {
  std::string name;                  // selfplay | training | models | logs | tmp | ...
  std::vector<std::string> prefixes; // e.g. "selfplay/"; a file takes the first class matching
  int replication = 2;               // copies on distinct nodes (1 = no replication)
  bool training_needs_all = false;   // training nodes must hold every sealed file of the class
  bool protect = false;              // never deleted by cleanup (current/candidate models)
  int cleanup_rank = 50;             // lower goes first when freeing space (tmp 0, logs 10, ...)
};

// The defaults used when config names none (see docs/data-plane.md).
std::vector<FileClass> DefaultFileClasses();
// Name of the class of `path` ("other" if none matches).
const FileClass& ClassOf(const std::vector<FileClass>& classes, const std::string& path);

// One file as this node knows it.
struct FileRecord {
  std::string path;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string sha256;     // hex; empty until sealed
  std::string klass;
  uint64_t version = 0;   // bumps each time the file is sealed with new content
  bool sealed = false;
  bool deleted = false;   // tombstone (manifest only)
  uint64_t seq = 0;       // change sequence number (manifest cursor)
};

// A verified copy of a file version somewhere in the cluster.
struct Holder {
  std::string node_id;
  std::string sha256;
  int64_t verified_at_ms = 0;  // wall clock when verified
};

}  // namespace rift::inventory
