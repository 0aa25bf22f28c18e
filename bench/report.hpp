// The report: a table row on stdout for each measurement, and the JSON file (the machine, the
// timeline and every row).
#pragma once

#include <string>
#include <vector>

#include "bench_common.hpp"
#include "timeline.hpp"

namespace redlock::bench {

void write_json(const std::string& path, const std::vector<row>& rows,
                const std::vector<timeline_point>& timeline);

// The table's column names, printed once before the rows.
void print_header();

void print_row(const row& r);

}  // namespace redlock::bench
