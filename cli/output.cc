#include "cli/output.h"

#include <algorithm>
#include <cstdio>

namespace rift::cli {

Table::Table(std::vector<std::string> headers)
    : headers_(std::move(headers)), align_(headers_.size(), Align::kLeft) {}

void Table::SetAlign(size_t column, Align align) {
  if (column < align_.size()) align_[column] = align;
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> width(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) width[c] = headers_[c].size();
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      std::string pad(width[c] - row[c].size(), ' ');
      line += align_[c] == Align::kRight ? pad + row[c] : row[c] + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  };
  print_row(headers_);
  for (const auto& row : rows_) print_row(row);
}

void PrintKeyValues(std::ostream& out,
                    const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t width = 0;
  for (const auto& [k, v] : rows) width = std::max(width, k.size());
  for (const auto& [k, v] : rows) {
    std::string line = k + std::string(width - k.size() + 2, ' ') + v;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  }
}

std::string FormatAge(int64_t age_ms) {
  if (age_ms < 0) age_ms = 0;
  char buf[32];
  if (age_ms < 100) return "now";
  if (age_ms < 10'000) {
    std::snprintf(buf, sizeof(buf), "%.1fs ago", static_cast<double>(age_ms) / 1000.0);
  } else if (age_ms < 120'000) {
    std::snprintf(buf, sizeof(buf), "%llds ago", static_cast<long long>(age_ms / 1000));
  } else if (age_ms < 2 * 3'600'000) {
    std::snprintf(buf, sizeof(buf), "%lldm ago", static_cast<long long>(age_ms / 60'000));
  } else if (age_ms < 48 * 3'600'000LL) {
    std::snprintf(buf, sizeof(buf), "%lldh ago", static_cast<long long>(age_ms / 3'600'000));
  } else {
    std::snprintf(buf, sizeof(buf), "%lldd ago", static_cast<long long>(age_ms / 86'400'000));
  }
  return buf;
}

std::string YesNo(bool b) { return b ? "yes" : "no"; }

}  // namespace rift::cli
