// Tab-separated tables, the plain-text form of what `genie run` records for its report
// (data/FORMAT.md, "Run trace"): a header line naming the columns, then one line per row.
// Fields hold no tabs or newlines. Writing is atomic (engine::write_file_atomically).
#pragma once

#include <string>
#include <vector>

namespace genie {

struct Tsv {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;  // each as long as columns

  // The index of `column`; throws std::out_of_range when the table has none.
  size_t column(const std::string& name) const;
};

// Throws engine::FileError naming the path when it cannot be written.
void write_tsv(const std::string& path, const Tsv& table);
// Throws engine::FileError naming the path when it is missing, or its header is not `columns`,
// or a row has another number of fields.
Tsv read_tsv(const std::string& path, const std::vector<std::string>& columns);
// Field `row`, `column` of `table` read from `path` as a number; throws engine::FileError naming
// the path, the line and the field otherwise.
double tsv_number(const Tsv& table, size_t row, const std::string& column, const std::string& path);

// A number as a field: shortest form that round-trips a float.
std::string tsv_field(double value);

}  // namespace genie
