#pragma once
// Command templates: `{name}` placeholders filled from a table. Pure functions.
//
// A placeholder is `{` + [a-z_]+ + `}`; anything else in braces (`${HOME}`, `{a,b}`) is left as
// written, and `{{` / `}}` stand for literal braces. In shell commands every value is inserted
// as one shell word (quoted when it holds anything but [A-Za-z0-9_./:=@%+,-]), so host fields
// from the YAML cannot inject commands.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/base/status.h"

namespace rift::pipeline {

using Vars = std::map<std::string, std::string>;

// One shell word for `s`: as is when it is safe, else single-quoted.
std::string ShellQuote(std::string_view s);

// The placeholder names `tmpl` uses, in order of first use.
std::vector<std::string> Placeholders(std::string_view tmpl);

// Fills `tmpl`. With `quote`, values are inserted as shell words. An unknown placeholder is
// kInvalidArgument naming it and the allowed ones.
Result<std::string> Expand(std::string_view tmpl, const Vars& vars, bool quote);

// kInvalidArgument naming the first placeholder of `tmpl` that is not in `allowed`, prefixed
// with `what` ("pipeline.commands.train").
Status CheckPlaceholders(std::string_view what, std::string_view tmpl,
                         const std::vector<std::string>& allowed);

}  // namespace rift::pipeline
