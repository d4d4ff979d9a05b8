#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "report/run_data.hpp"

namespace rcvq {

struct ReportOptions {
  std::string results_dir;  // a results directory or its run.json
  std::string html_path;    // default: <results dir>/report.html
};

struct ReportFiles {
  std::string html;
  std::vector<std::string> svgs;  // beside the HTML in <stem>-plots/
};

// The text page of a run: scenario, host and kernel, probe, per-mode metrics with
// ratio to baseline and spread across repetitions; predicted numbers marked.
void print_report(std::ostream& out, const LoadedRun& run);
// The same page as one self-contained HTML document with the plots inline.
std::string report_html(const LoadedRun& run);

// `rcvqbench report`: prints the text page, writes the SVG plots and the HTML page.
// Throws InputError naming the file on unreadable input.
ReportFiles write_report(const ReportOptions& options, std::ostream& out);
// A multi-kernel run directory (index.json) gets the kernels-side-by-side page instead
// (report/kernel_report.hpp).
int report_command(const ReportOptions& options);

}  // namespace rcvq
