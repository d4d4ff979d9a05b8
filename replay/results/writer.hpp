#pragma once
#include <iosfwd>
#include <string>

#include "results/run_result.hpp"

namespace rcvq {

// Writes `content` to `path` through a temporary file, fsync and rename, so a reader
// sees the old file or the whole new one, never a torn write.
void write_file_atomic(const std::string& path, const std::string& content);

// results/<scenario>/<UTC timestamp>/: one .hgrm per mode that ran, then run.json.
// Returns the directory.
std::string write_results(const std::string& root, const RunResult& run, const std::string& scenario_name);
// A new <root>/<scenario>/<started_utc>[.n]/ (".n" when a run started in the same second).
std::string create_run_directory(const std::string& root, const std::string& scenario_name,
                                 const std::string& started_utc);
// The .hgrm files and run.json into `dir`, created when missing.
void write_results_into(const std::string& dir, const RunResult& run);

// Side-by-side table: per mode wakeups, syscalls, CPU, latency, each also as a ratio
// to baseline; predicted numbers are marked.
void print_comparison(std::ostream& out, const RunResult& run);

std::string utc_timestamp();  // 2026-11-21T21-04-05Z (no ':' so it is a portable dir name)

}  // namespace rcvq
