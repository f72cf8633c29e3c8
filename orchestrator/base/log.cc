#include "orchestrator/base/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace rift::log {
namespace {
std::shared_ptr<spdlog::logger>& Logger() {
  static std::shared_ptr<spdlog::logger> logger = spdlog::stderr_logger_mt("rift");
  return logger;
}
spdlog::level::level_enum ToSpd(Level l) {
  switch (l) {
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}
}  // namespace

void Init(std::string_view program, std::string_view file, Level level) {
  try {
    std::shared_ptr<spdlog::logger> logger;
    if (file.empty()) {
      logger = std::make_shared<spdlog::logger>(
          std::string(program), std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
      logger = std::make_shared<spdlog::logger>(
          std::string(program),
          std::make_shared<spdlog::sinks::basic_file_sink_mt>(std::string(file), false));
    }
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %n: %v");
    logger->set_level(ToSpd(level));
    logger->flush_on(spdlog::level::info);
    Logger() = logger;
  } catch (const std::exception& e) {
    Logger()->error("cannot open log file: {}", e.what());
  }
}

void SetLevel(Level level) { Logger()->set_level(ToSpd(level)); }

void Write(Level level, std::string_view message) { Logger()->log(ToSpd(level), "{}", message); }

}  // namespace rift::log
