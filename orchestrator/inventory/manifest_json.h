#pragma once
// The records of GET /sync/manifest as JSON text, written straight into a string: a page of
// 5,000 records costs a few milliseconds instead of the tens a JSON DOM costs to build, dump and
// free. Same output as nlohmann::json with the replacement error handler (invalid UTF-8 in a
// path becomes U+FFFD), so any JSON parser reads it back.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/inventory/types.h"

namespace rift::inventory {

// `[{"path":..,"size":..,"mtime_ns":..,"sha256":..,"class":..,"version":..,"sealed":..,
//    "deleted":..,"seq":..}, ...]`
std::string RecordsJson(const std::vector<FileRecord>& records);
// Appends `s` as a JSON string literal (quotes included).
void AppendJsonString(std::string* out, const std::string& s);

// A manifest page as read back by the leader: the records, streamed into FileRecords without a
// JSON DOM (a 5,000-record page parses about twice as fast), and the page's other scalars by
// dotted path ("next_cursor", "more", "disk.free", "watermarks.high", ...). Arrays other than
// "records" are skipped.
struct ManifestPage {
  struct Value {
    enum class Kind { kNull, kBool, kUnsigned, kInteger, kFloat, kString } kind = Kind::kNull;
    bool b = false;
    uint64_t u = 0;
    int64_t i = 0;
    double d = 0;
    std::string s;
  };
  std::vector<FileRecord> records;
  std::map<std::string, Value> fields;
  bool has_records = false;  // the page had a "records" array

  // A field's value, or `def` when absent or of another type (integers read as numbers too).
  uint64_t Unsigned(const std::string& key, uint64_t def) const;
  double Number(const std::string& key, double def) const;
  bool Bool(const std::string& key, bool def) const;
  std::string String(const std::string& key, const std::string& def) const;
};

// kInvalidArgument, naming the offset or the record field, for malformed JSON, a body that is not
// an object, or a record field of the wrong type (e.g. "records[3].size: expected an unsigned
// integer"). Unknown record fields are ignored.
Result<ManifestPage> ParseManifestPage(std::string_view body);

}  // namespace rift::inventory
