#include "orchestrator/pipeline/template.h"

#include <algorithm>

namespace rift::pipeline {
namespace {

bool IsSafe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_./:=@%+,-").find(c) != std::string_view::npos;
}

// Length of the placeholder name starting at tmpl[i] (just after '{'), or 0 when tmpl[i..]
// is not `name}`.
size_t NameLength(std::string_view tmpl, size_t i) {
  size_t j = i;
  while (j < tmpl.size() && ((tmpl[j] >= 'a' && tmpl[j] <= 'z') || tmpl[j] == '_')) ++j;
  if (j == i || j >= tmpl.size() || tmpl[j] != '}') return 0;
  return j - i;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "{" : ", {") + s + "}";
  return out;
}

// Walks `tmpl`, calling on_text for literal text and on_name for placeholders.
template <typename Text, typename Name>
void Walk(std::string_view tmpl, Text on_text, Name on_name) {
  for (size_t i = 0; i < tmpl.size();) {
    if ((tmpl[i] == '{' || tmpl[i] == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == tmpl[i]) {
      on_text(tmpl.substr(i, 1));
      i += 2;
    } else if (tmpl[i] == '{' && NameLength(tmpl, i + 1) > 0) {
      size_t n = NameLength(tmpl, i + 1);
      on_name(std::string(tmpl.substr(i + 1, n)));
      i += n + 2;
    } else {
      on_text(tmpl.substr(i, 1));
      ++i;
    }
  }
}

}  // namespace

std::string ShellQuote(std::string_view s) {
  if (!s.empty() && std::all_of(s.begin(), s.end(), IsSafe)) return std::string(s);
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::vector<std::string> Placeholders(std::string_view tmpl) {
  std::vector<std::string> names;
  Walk(
      tmpl, [](std::string_view) {},
      [&](const std::string& name) {
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      });
  return names;
}

Result<std::string> Expand(std::string_view tmpl, const Vars& vars, bool quote) {
  std::string out;
  std::string missing;
  Walk(
      tmpl, [&](std::string_view text) { out += text; },
      [&](const std::string& name) {
        auto it = vars.find(name);
        if (it == vars.end()) {
          if (missing.empty()) missing = name;
          return;
        }
        out += quote ? ShellQuote(it->second) : it->second;
      });
  if (!missing.empty()) {
    std::vector<std::string> known;
    for (const auto& [k, v] : vars) known.push_back(k);
    return InvalidArgument("unknown placeholder {" + missing + "} (known: " + Join(known) + ")");
  }
  return out;
}

Status CheckPlaceholders(std::string_view what, std::string_view tmpl,
                         const std::vector<std::string>& allowed) {
  for (const auto& name : Placeholders(tmpl)) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return InvalidArgument(std::string(what) + ": unknown placeholder {" + name +
                             "} (known here: " + Join(allowed) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace rift::pipeline
