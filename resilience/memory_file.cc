#include "resilience/memory_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace rift::resilience {

using nlohmann::json;

Result<PolicyMemory> LoadMemory(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + " does not exist");
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgument(path + ": not a JSON object");
  PolicyMemory m;
  try {
    m.restarts_ms = j.value("restarts_ms", std::vector<int64_t>{});
    m.consecutive_restarts = j.value("consecutive_restarts", 0);
    m.disconnected_since_ms = j.value("disconnected_since_ms", int64_t{0});
    m.fallback_active = j.value("fallback_active", false);
    m.last_cleanup_ms = j.value("last_cleanup_ms", int64_t{0});
    m.last_register_ms = j.value("last_register_ms", int64_t{0});
  } catch (const json::exception& e) {
    return InvalidArgument(path + ": " + e.what());
  }
  return m;
}

Status SaveMemory(const std::string& path, const PolicyMemory& m) {
  json j = {{"restarts_ms", m.restarts_ms},
            {"consecutive_restarts", m.consecutive_restarts},
            {"disconnected_since_ms", m.disconnected_since_ms},
            {"fallback_active", m.fallback_active},
            {"last_cleanup_ms", m.last_cleanup_ms},
            {"last_register_ms", m.last_register_ms}};
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out.flush()) return Internal("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Internal("cannot rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

}  // namespace rift::resilience
