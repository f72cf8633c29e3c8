#pragma once
// A gtest fixture for tests that load settings from files: a temp dir, hermetic sources
// (never /etc/ringrift, NODE_ID n1), helpers to write node.conf and distributed_hosts.yaml, and
// the problems of the last load.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "orchestrator/settings/settings.h"

namespace rift::settings {

class SettingsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "rift-settings-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    src_.use_default_paths = false;  // hermetic: never read /etc/ringrift
    src_.flags["NODE_ID"] = "n1";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text, int mode = 0600) {
    std::filesystem::path path = std::filesystem::path(dir_) / name;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path.string();
  }
  std::string Conf(const std::string& text) {
    src_.node_conf_path = Write("node.conf", text);
    return *src_.node_conf_path;
  }
  std::string Yaml(const std::string& text) {
    src_.hosts_yaml_path = Write("hosts.yaml", text);
    return *src_.hosts_yaml_path;
  }
  Result<Settings> LoadIt() {
    problems_.clear();
    return Load(src_, &problems_);
  }
  std::string Dump() const {
    std::string out;
    for (const auto& p : problems_) out += p.ToString() + "\n";
    return out;
  }

  std::string dir_;
  Sources src_;
  std::vector<Problem> problems_;
};

}  // namespace rift::settings
