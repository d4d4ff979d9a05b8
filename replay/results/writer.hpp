#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "results/run_result.hpp"

namespace rcvq {

// Writes `content` to `path`: the file appears whole under its name or not at all
// (see write_file_at).
void write_file_atomic(const std::string& path, const std::string& content);

// Writes `content` as `name` inside the open directory `dir_fd` (`shown_dir` names it in
// errors). An unnamed O_TMPFILE is written, synced and then linked in, so no temporary
// name ever exists: a crash, a second Ctrl-C or a full disk leaves the old state or the
// whole file. Where the filesystem has no O_TMPFILE (9p), or `name` already exists, a
// uniquely named temporary is renamed over it and removed on every error. `name` is
// never followed if it is a symlink. Throws RunError naming the file and the errno.
void write_file_at(int dir_fd, const std::string& shown_dir, const std::string& name, const std::string& content);

// Where a run's results go. Opened before anything is measured, so an unusable --out,
// --results-dir or scenario name is bad input (InputError naming it) instead of a lost
// measurement; the run's own directory is created only when the results are saved.
class ResultsDestination {
 public:
  // A new <root>/<scenario_name>/<started_utc>[.n]/ at save time. <root> (the user's
  // path, created when missing) may be reached through symlinks; <root>/<scenario_name>
  // may not be one, since in a shared --out another user could point it anywhere.
  static ResultsDestination new_run_under(const std::string& root, const std::string& scenario_name,
                                          const std::string& started_utc);
  // Exactly `dir` (--results-dir), created now when missing.
  static ResultsDestination exactly(const std::string& dir);

  // Creates the run's own directory (mkdir, never reusing one: ".n" suffixes while the
  // name exists, so concurrent runs into one --out each get their own) and returns its
  // path; run_dir_fd() is then open on it. For `exactly`, the directory itself.
  const std::string& create_run_directory();
  int run_dir_fd() const { return run_fd_.get(); }
  // Removes what the run created in its directory (the files named, then the directory
  // if it made it): the results are kept elsewhere instead.
  void discard(const std::vector<std::string>& written_files);

 private:
  ResultsDestination() = default;
  Fd parent_fd_;  // the scenario directory (new_run_under)
  Fd run_fd_;     // the run directory, once created (at once, for `exactly`)
  std::string parent_path_;
  std::string started_utc_;
  std::string run_name_;  // the entry made in parent_fd_, empty until then
  std::string run_path_;
};

struct SavedResults {
  std::string dir;    // where run.json and the .hgrm files are; empty when nowhere
  std::string error;  // empty when they went to the destination; else why not
};

// One .hgrm per mode that ran, then run.json (last, so its presence means the set is
// whole), into the destination's new run directory. When that fails (full disk, EIO)
// the files are removed there and written to a fresh rcvqbench-results-XXXXXX under
// $TMPDIR (or /tmp), else the working directory; SavedResults says where and why.
SavedResults save_results(ResultsDestination& destination, const RunResult& run);

// <root>/<scenario>/<started_utc>[.n]/, created and left empty (a multi-kernel run's
// directory, which its index.json and per-kernel subdirectories fill). InputError as for
// ResultsDestination::new_run_under.
std::string create_run_directory(const std::string& root, const std::string& scenario_name,
                                 const std::string& started_utc);

std::string utc_timestamp();  // 2026-11-21T21-04-05Z (no ':' so it is a portable dir name)

}  // namespace rcvq
