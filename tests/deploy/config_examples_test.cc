// The example configuration documents every key: each key the settings know (flags, environment,
// node.conf) has its line in config/node.conf.example, and both examples load as shipped.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "orchestrator/settings/settings.h"

namespace rift::settings {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kNodeConf = std::string(RIFT_SOURCE_DIR) + "/config/node.conf.example";
const std::string kHosts = std::string(RIFT_SOURCE_DIR) + "/config/distributed_hosts.yaml.example";

TEST(ConfigExamples, NodeConfExampleDocumentsEveryKey) {
  const std::string text = Read(kNodeConf);
  ASSERT_FALSE(text.empty()) << kNodeConf;
  std::vector<std::string> missing;
  for (const std::string& key : KnownKeys()) {
    // "KEY=" at the start of a line, commented out or not.
    std::regex line("(^|\n)#?" + key + "=");
    if (!std::regex_search(text, line)) missing.push_back(key);
  }
  EXPECT_TRUE(missing.empty()) << "keys without a line in " << kNodeConf << ": " << [&] {
    std::string all;
    for (const auto& k : missing) all += k + " ";
    return all;
  }();
}

TEST(ConfigExamples, ExamplesLoad) {
  Sources sources;
  sources.node_conf_path = kNodeConf;
  sources.hosts_yaml_path = kHosts;
  sources.use_default_paths = false;
  std::vector<Problem> problems;
  Result<Settings> s = Load(sources, &problems);
  std::string all;
  for (const auto& p : problems) all += p.ToString() + "\n";
  ASSERT_TRUE(s.ok()) << all;
  EXPECT_FALSE(HasErrors(problems)) << all;
  EXPECT_EQ(s->node_id, "gpu-1");
  EXPECT_EQ(s->hosts.size(), 4u);
}

}  // namespace
}  // namespace rift::settings
