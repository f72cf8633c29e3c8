// The watchdog's settings: defaults, the `watchdog:` YAML section, precedence, and errors that
// name file, line and key.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "orchestrator/settings/internal.h"
#include "orchestrator/settings/settings.h"
#include "orchestrator/settings/settings_fixture_for_test.h"

namespace rift::settings {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

class WatchdogSettingsTest : public SettingsFixture {};

TEST_F(WatchdogSettingsTest, DefaultsWithoutAnySource) {
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  const WatchdogSettings& w = s->watchdog;
  EXPECT_EQ(w.interval, seconds(10));
  EXPECT_EQ(w.startup_grace, seconds(60));
  EXPECT_EQ(w.restart_budget, 5);
  EXPECT_EQ(w.service_manager, "auto");
  EXPECT_TRUE(w.fallback);
  EXPECT_EQ(w.register_interval, std::chrono::minutes(5));
}

TEST_F(WatchdogSettingsTest, YamlSectionThenEnvironmentThenFlags) {
  Yaml(R"(watchdog:
  interval: 2s
  health_timeout: 750ms
  startup_grace: 30
  restart_budget: 3
  budget_window: 10m
  disconnect_grace: 0.5
  fallback: false
  service_manager: none
  log_file: /tmp/resilience.log
)");
  src_.env["RINGRIFT_WATCHDOG_INTERVAL"] = "1s";
  src_.env["RINGRIFT_WATCHDOG_RESTART_BUDGET"] = "4";
  src_.flags["RINGRIFT_WATCHDOG_INTERVAL"] = "200ms";
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  const WatchdogSettings& w = s->watchdog;
  EXPECT_EQ(w.interval, milliseconds(200));  // flag over env over YAML
  EXPECT_EQ(w.restart_budget, 4);            // env over YAML
  EXPECT_EQ(w.health_timeout, milliseconds(750));
  EXPECT_EQ(w.startup_grace, seconds(30));
  EXPECT_EQ(w.budget_window, std::chrono::minutes(10));
  EXPECT_EQ(w.disconnect_grace, milliseconds(500));
  EXPECT_FALSE(w.fallback);
  EXPECT_EQ(w.service_manager, "none");
  EXPECT_EQ(w.log_file, "/tmp/resilience.log");
}

TEST_F(WatchdogSettingsTest, BadValuesNameFileLineAndKey) {
  Yaml(R"(watchdog:
  interval: soon
  restart_budget: 0
  service_manager: systemdd
  intervall: 3s
)");
  auto s = LoadIt();
  ASSERT_FALSE(s.ok());
  std::string all = Dump();
  EXPECT_NE(all.find("hosts.yaml:2: watchdog.interval: expected a duration"), std::string::npos)
      << all;
  EXPECT_NE(all.find("hosts.yaml:3: watchdog.restart_budget: must be between 1"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("hosts.yaml:4: watchdog.service_manager: expected auto, systemd, launchd "
                     "or none, got 'systemdd' (did you mean 'systemd'?)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("hosts.yaml:5: watchdog.intervall: unknown key (did you mean 'interval'?)"),
            std::string::npos)
      << all;
}

TEST_F(WatchdogSettingsTest, EnvironmentErrorsAndBackoffOrder) {
  src_.env["RINGRIFT_WATCHDOG_FALLBACK"] = "maybe";
  src_.env["RINGRIFT_WATCHDOG_BACKOFF_INITIAL"] = "10m";
  src_.env["RINGRIFT_WATCHDOG_BACKOFF_MAX"] = "1m";
  auto s = LoadIt();
  ASSERT_FALSE(s.ok());
  std::string all = Dump();
  EXPECT_NE(all.find("environment: RINGRIFT_WATCHDOG_FALLBACK: expected true or false"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("RINGRIFT_WATCHDOG_BACKOFF_INITIAL: the initial backoff (10m) must not "
                     "exceed the maximum (1m)"),
            std::string::npos)
      << all;
}

TEST(DurationTest, UnitsAndPlainSeconds) {
  using internal::ParseDuration;
  EXPECT_EQ(ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(ParseDuration("10s"), seconds(10));
  EXPECT_EQ(ParseDuration("0.25"), milliseconds(250));
  EXPECT_EQ(ParseDuration(" 5m "), std::chrono::minutes(5));
  EXPECT_EQ(ParseDuration("1h"), std::chrono::hours(1));
  EXPECT_EQ(ParseDuration("0"), Duration::zero());
  for (const char* bad : {"", "s", "-1s", "10x", "abc", "1e30"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
  EXPECT_EQ(internal::FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(internal::FormatDuration(seconds(120)), "2m");
}

}  // namespace
}  // namespace rift::settings
