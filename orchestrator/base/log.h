#pragma once
// Logging facade: spdlog stays inside log.cc. Callers pass finished strings; never log tokens.
#include <string>
#include <string_view>

namespace rift::log {

enum class Level { kDebug, kInfo, kWarn, kError };

// Configure the process logger: to stderr, or appended to `file` when non-empty.
void Init(std::string_view program, std::string_view file = {}, Level level = Level::kInfo);
void SetLevel(Level level);
void Write(Level level, std::string_view message);

inline void Debug(std::string_view m) { Write(Level::kDebug, m); }
inline void Info(std::string_view m) { Write(Level::kInfo, m); }
inline void Warn(std::string_view m) { Write(Level::kWarn, m); }
inline void Error(std::string_view m) { Write(Level::kError, m); }

}  // namespace rift::log
