#include "orchestrator/sync/transfer_range.h"

#include <cctype>
#include <charconv>

namespace rift::sync {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Digits only (no sign, no spaces), fits in 64 bits.
bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

RangeSpec ParseRange(std::string_view header, uint64_t size) {
  RangeSpec none;
  header = Trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size()) return none;
  for (size_t i = 0; i < kUnit.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kUnit[i]) return none;
  }
  std::string_view spec = Trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return none;  // several ranges: whole file
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return none;
  std::string_view first = Trim(spec.substr(0, dash));
  std::string_view last = Trim(spec.substr(dash + 1));
  RangeSpec bad{RangeKind::kUnsatisfiable, 0, 0};
  if (first.empty()) {  // suffix: the last n bytes
    uint64_t n = 0;
    if (!ParseU64(last, &n)) return none;
    if (n == 0 || size == 0) return bad;
    if (n > size) n = size;
    return {RangeKind::kSingle, size - n, n};
  }
  uint64_t a = 0;
  if (!ParseU64(first, &a)) return none;
  uint64_t b = 0;
  if (!last.empty()) {
    if (!ParseU64(last, &b) || b < a) return none;
  }
  if (a >= size) return bad;
  if (last.empty() || b >= size) b = size - 1;
  return {RangeKind::kSingle, a, b - a + 1};
}

std::string ContentRange(const RangeSpec& spec, uint64_t size) {
  return "bytes " + std::to_string(spec.offset) + "-" +
         std::to_string(spec.offset + spec.length - 1) + "/" + std::to_string(size);
}

bool IfMatchAccepts(std::string_view if_match, std::string_view sha256) {
  if_match = Trim(if_match);
  if (if_match.empty() || if_match == "*") return true;
  while (!if_match.empty()) {
    size_t comma = if_match.find(',');
    std::string_view tag = Trim(if_match.substr(0, comma));
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') {
      tag = tag.substr(1, tag.size() - 2);
    }
    if (tag == sha256) return true;
    if (comma == std::string_view::npos) break;
    if_match.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace rift::sync
