// node.conf: the shell KEY=VALUE file that systemd's EnvironmentFile= also reads. We accept the
// subset both agree on: comments, blank lines, `export KEY=...`, single or double quotes.
#include <cctype>
#include <fstream>
#include <optional>
#include <string>

#include "orchestrator/settings/internal.h"

namespace rift::settings::internal {
namespace {

bool IsKeyChar(char c, bool first) {
  return c == '_' || std::isalpha(static_cast<unsigned char>(c)) ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// Parses the value part of a line. On failure returns nullopt and sets *error.
std::optional<std::string> ParseValue(std::string_view v, std::string* error) {
  std::string out;
  size_t i = 0;
  if (!v.empty() && (v[0] == '"' || v[0] == '\'')) {
    const char quote = v[0];
    for (i = 1; i < v.size() && v[i] != quote; ++i) {
      // Inside double quotes the shell unescapes \" \\ \$ \`; single quotes are literal.
      if (quote == '"' && v[i] == '\\' && i + 1 < v.size() &&
          std::string_view("\"\\$`").find(v[i + 1]) != std::string_view::npos) {
        ++i;
      }
      out += v[i];
    }
    if (i >= v.size()) {
      *error = std::string("unterminated ") + (quote == '"' ? "double" : "single") + " quote";
      return std::nullopt;
    }
    std::string rest = Trim(v.substr(i + 1));
    if (!rest.empty() && rest[0] != '#') {
      *error = "unexpected text after the closing quote: '" + rest + "'";
      return std::nullopt;
    }
    return out;
  }
  // Unquoted: a '#' after whitespace starts a comment (as in the shell).
  for (i = 0; i < v.size(); ++i) {
    if (v[i] == '#' && (i == 0 || std::isspace(static_cast<unsigned char>(v[i - 1])))) break;
  }
  out = Trim(v.substr(0, i));
  for (char c : out) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      *error = "value contains whitespace; quote it";
      return std::nullopt;
    }
    if (c == '"' || c == '\'') {
      *error = "stray quote in unquoted value";
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace

Layer ParseNodeConf(const std::string& path, std::vector<Problem>* problems) {
  Layer layer;
  std::ifstream in(path);
  if (!in) {
    problems->push_back(MakeError(path, 0, "", "cannot read node.conf"));
    return layer;
  }
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    std::string_view line(raw);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) {
      line.remove_prefix(1);
    }
    if (line.empty() || line.front() == '#') continue;
    if (line.substr(0, 7) == "export " || line.substr(0, 7) == "export\t") {
      line.remove_prefix(7);
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) {
        line.remove_prefix(1);
      }
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      problems->push_back(
          MakeError(path, line_no, "", "expected KEY=VALUE, got '" + std::string(line) + "'"));
      continue;
    }
    std::string key(line.substr(0, eq));
    bool key_ok = !key.empty();
    for (size_t i = 0; i < key.size() && key_ok; ++i) key_ok = IsKeyChar(key[i], i == 0);
    if (!key_ok) {
      // Do not echo the value: the line may hold a token.
      problems->push_back(MakeError(path, line_no, "",
                                    "invalid key '" + key +
                                        "' (letters, digits and '_' only, "
                                        "no spaces around '=')"));
      continue;
    }
    std::string error;
    std::optional<std::string> value = ParseValue(line.substr(eq + 1), &error);
    if (!value) {
      problems->push_back(MakeError(path, line_no, key, error));
      continue;
    }
    if (!IsKnownKey(key)) {
      // systemd and the watchdog read this file too, so foreign keys are legitimate.
      problems->push_back(
          MakeWarning(path, line_no, key, "unknown key, ignored" + DidYouMean(key, KnownKeys())));
      continue;
    }
    if (auto it = layer.find(key); it != layer.end()) {
      problems->push_back(MakeWarning(path, line_no, key,
                                      "set again (line " + std::to_string(it->second.line) +
                                          " is overridden, as in the shell)"));
    }
    layer[key] = Value{*std::move(value), path, line_no, key};
  }
  return layer;
}

}  // namespace rift::settings::internal
