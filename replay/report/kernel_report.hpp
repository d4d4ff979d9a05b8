#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "kernels/index.hpp"
#include "report/report.hpp"

namespace rcvq {

// The text page of a multi-kernel run: each kernel (release, accelerator, whether its
// times compare with the host's, status), modes x kernels wakeups and syscalls, then
// every metric of every mode with kernels side by side; times not comparable with the
// host's are marked.
void print_kernel_matrix_report(std::ostream& out, const KernelMatrix& matrix);
// The same as one HTML page. `kernel_report_links`, parallel to the kernels, holds the
// href of each kernel's own report, or "" when it has none.
std::string kernel_matrix_report_html(const KernelMatrix& matrix, const std::vector<std::string>& kernel_report_links);

// `rcvqbench report DIR` for a directory holding index.json: each kernel's own report in
// its subdirectory, then the side-by-side page (text on `out`, HTML at options.html_path,
// default DIR/report.html).
ReportFiles write_kernel_matrix_report(const ReportOptions& options, std::ostream& out);

}  // namespace rcvq
