// Tab-separated tables; see tsv.h.
#include "genie/tsv.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/tensor_file.h"

namespace genie {

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
    fields.push_back(line.substr(start, tab - start));
  fields.push_back(line.substr(start));
  return fields;
}

std::string joined(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) line += (i ? "\t" : "") + fields[i];
  return line;
}

}  // namespace

size_t Tsv::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return i;
  throw std::out_of_range("no column '" + name + "'");
}

void write_tsv(const std::string& path, const Tsv& table) {
  std::string text = joined(table.columns) + "\n";
  for (const std::vector<std::string>& row : table.rows) text += joined(row) + "\n";
  engine::write_file_atomically(path, std::vector<uint8_t>(text.begin(), text.end()));
}

Tsv read_tsv(const std::string& path, const std::vector<std::string>& columns) {
  std::ifstream in(path);
  if (!in) throw engine::FileError(path + ": missing (cannot open it)");
  std::string line;
  if (!std::getline(in, line) || split_tabs(line) != columns)
    throw engine::FileError(path + ": expected the header line '" + joined(columns) + "'");
  Tsv table{columns, {}};
  for (int number = 2; std::getline(in, line); ++number) {
    std::vector<std::string> fields = split_tabs(line);
    if (fields.size() != columns.size())
      throw engine::FileError(path + ": line " + std::to_string(number) + " has " +
                              std::to_string(fields.size()) + " fields, expected " +
                              std::to_string(columns.size()));
    table.rows.push_back(std::move(fields));
  }
  return table;
}

double tsv_number(const Tsv& table, size_t row, const std::string& column,
                  const std::string& path) {
  const std::string& field = table.rows.at(row).at(table.column(column));
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(field.c_str(), &end);
  if (field.empty() || *end != '\0' || errno == ERANGE || std::isnan(value))
    throw engine::FileError(path + ": line " + std::to_string(row + 2) + ", column " + column +
                            ": expected a number, got '" + field + "'");
  return value;
}

std::string tsv_field(double value) {
  char s[32];
  std::snprintf(s, sizeof s, "%.9g", value);
  return s;
}

}  // namespace genie
