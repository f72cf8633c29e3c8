#pragma once
// HTTP byte ranges for file serving (pure). One range is answered; several ranges in one
// request are ignored (the whole file with 200, which RFC 9110 allows), as is a malformed
// header. Unsatisfiable ranges (start past the end, "-0", anything on an empty file) give 416.
#include <cstdint>
#include <string>
#include <string_view>

namespace rift::sync {

enum class RangeKind {
  kNone,           // no Range header, several ranges, or malformed: serve the whole file (200)
  kSingle,         // serve `offset`, `length` (206)
  kUnsatisfiable,  // 416 with Content-Range: bytes */size
};

struct RangeSpec {
  RangeKind kind = RangeKind::kNone;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// `header` is the raw Range value ("bytes=0-99", "bytes=100-", "bytes=-500").
RangeSpec ParseRange(std::string_view header, uint64_t size);

// "bytes a-b/size" for a kSingle spec.
std::string ContentRange(const RangeSpec& spec, uint64_t size);

// True when an If-Match value ("*", "\"sha\"", W/"sha", lists) matches the ETag "\"sha256\"".
bool IfMatchAccepts(std::string_view if_match, std::string_view sha256);

}  // namespace rift::sync
