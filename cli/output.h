#pragma once
// Text output helpers shared by every riftctl command: aligned tables and key/value blocks that an
// operator can read at a glance. No third-party headers here.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace rift::cli {

// A table with a header row; columns are padded to their widest cell and separated by two
// spaces. Right-aligned columns suit numbers. Lines carry no trailing spaces.
class Table {
 public:
  enum class Align { kLeft, kRight };
  explicit Table(std::vector<std::string> headers);

  void SetAlign(size_t column, Align align);
  // Short rows are padded with empty cells; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

// "key    value" lines with the values aligned.
void PrintKeyValues(std::ostream& out,
                    const std::vector<std::pair<std::string, std::string>>& rows);

// How long ago, for humans: "now", "0.4s ago", "12s ago", "5m ago", "3h ago", "2d ago".
std::string FormatAge(int64_t age_ms);

std::string YesNo(bool b);

}  // namespace rift::cli
