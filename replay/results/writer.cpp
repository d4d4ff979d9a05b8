#include "results/writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <ostream>
#include <sstream>
#include <utility>
#include <vector>

#include "common/errors.hpp"
#include "common/fd.hpp"

namespace rcvq {

using json = nlohmann::json;

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H-%M-%SZ", &tm);
  return buf;
}

namespace {

namespace fs = std::filesystem;

// A temporary name no other run or thread picks: the pid and a per-process counter.
std::string temporary_name(const std::string& name) {
  static std::atomic<uint64_t> counter{0};
  return fmt::format(".{}.{}.{}.tmp", name, getpid(), counter.fetch_add(1));
}

void write_and_sync(int fd, const std::string& content, const std::string& shown) {
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write " + shown);
    }
    done += size_t(n);
  }
  if (fsync(fd) != 0) throw_errno("sync " + shown);
}

// Gives the O_TMPFILE `fd` the name `name` in `dir_fd`; false with errno (EEXIST when
// taken: linkat never replaces, nor follows a symlink there).
bool link_unnamed(int fd, int dir_fd, const std::string& name) {
  const std::string self = fmt::format("/proc/self/fd/{}", fd);
  return linkat(AT_FDCWD, self.c_str(), dir_fd, name.c_str(), AT_SYMLINK_FOLLOW) == 0;
}

// Filesystems without O_TMPFILE (9p, older FUSE) refuse it with one of these.
bool tmpfile_unsupported(int err) { return err == EOPNOTSUPP || err == EISDIR || err == EINVAL; }

std::string describe_errno(int err) { return std::strerror(err); }

// `path`, the user's directory: opened, created first (with its parents) when missing.
Fd open_user_directory(const std::string& path, const std::string& option) {
  auto refuse = [&](const std::string& why) {
    return InputError(fmt::format("{} {}: {}", option, path, why));
  };
  if (path.empty()) throw refuse("an empty path");
  Fd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 && errno == ENOENT) {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) throw refuse(fmt::format("cannot create it: {}", ec.message()));
    fd = Fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  if (fd.get() < 0) throw refuse(errno == ENOTDIR ? "not a directory" : describe_errno(errno));
  return fd;
}

// Root bypasses permission bits but not a read-only mount: ask the kernel as this
// process, before anything is measured.
void require_writable(int dir_fd, const std::string& option, const std::string& path) {
  if (faccessat(dir_fd, ".", W_OK | X_OK, AT_EACCESS) != 0)
    throw InputError(fmt::format("{} {}: cannot write there: {}", option, path, describe_errno(errno)));
}

}  // namespace

void write_file_at(int dir_fd, const std::string& shown_dir, const std::string& name, const std::string& content) {
  const std::string shown = (fs::path(shown_dir) / name).string();
  std::string temporary;
  Fd unnamed(openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
  if (unnamed.get() >= 0) {
    write_and_sync(unnamed.get(), content, shown);
    if (link_unnamed(unnamed.get(), dir_fd, name)) return;
    if (errno != EEXIST) throw_errno("link " + shown);
    // Replacing a file: only rename does that atomically, from a name of our own.
    temporary = temporary_name(name);
    if (!link_unnamed(unnamed.get(), dir_fd, temporary)) throw_errno("link " + shown);
  } else {
    if (!tmpfile_unsupported(errno)) throw_errno("create a file in " + shown_dir);
    temporary = temporary_name(name);
    Fd named(openat(dir_fd, temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (named.get() < 0) throw_errno("create " + (fs::path(shown_dir) / temporary).string());
    try {
      write_and_sync(named.get(), content, shown);
    } catch (...) {
      unlinkat(dir_fd, temporary.c_str(), 0);
      throw;
    }
  }
  if (renameat(dir_fd, temporary.c_str(), dir_fd, name.c_str()) != 0) {
    const int err = errno;
    unlinkat(dir_fd, temporary.c_str(), 0);
    errno = err;
    throw_errno("rename to " + shown);
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const fs::path p(path);
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  Fd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) throw_errno("open directory " + dir);
  write_file_at(dir_fd.get(), dir, p.filename().string(), content);
}

ResultsDestination ResultsDestination::new_run_under(const std::string& root, const std::string& scenario_name,
                                                     const std::string& started_utc) {
  const Fd root_fd = open_user_directory(root, "--out");
  require_writable(root_fd.get(), "--out", root);
  ResultsDestination d;
  d.parent_path_ = (fs::path(root) / scenario_name).string();
  d.started_utc_ = started_utc;
  if (mkdirat(root_fd.get(), scenario_name.c_str(), 0755) != 0 && errno != EEXIST)
    throw InputError(fmt::format("--out {}: cannot create {}: {}", root, d.parent_path_, describe_errno(errno)));
  d.parent_fd_ = Fd(openat(root_fd.get(), scenario_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (d.parent_fd_.get() < 0) {
    const int err = errno;
    struct stat st {};
    if (fstatat(root_fd.get(), scenario_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
      throw InputError(fmt::format("--out {}: {} is a symbolic link; results are written only into real "
                                   "directories, since in a shared --out a link could point anywhere",
                                   root, d.parent_path_));
    throw InputError(fmt::format("--out {}: cannot open {}: {}", root, d.parent_path_,
                                 err == ENOTDIR ? "not a directory" : describe_errno(err)));
  }
  require_writable(d.parent_fd_.get(), "--out", d.parent_path_);
  return d;
}

ResultsDestination ResultsDestination::exactly(const std::string& dir) {
  Fd fd = open_user_directory(dir, "--results-dir");
  require_writable(fd.get(), "--results-dir", dir);
  ResultsDestination d;
  d.run_fd_ = std::move(fd);
  d.run_path_ = dir;
  return d;
}

const std::string& ResultsDestination::create_run_directory() {
  if (run_fd_.get() >= 0) return run_path_;
  // mkdirat fails on any existing entry, a symlink included, so the directory is ours.
  constexpr int kMaxSuffix = 100000;
  for (int n = 0; n < kMaxSuffix; ++n) {
    const std::string name = n == 0 ? started_utc_ : fmt::format("{}.{}", started_utc_, n);
    if (mkdirat(parent_fd_.get(), name.c_str(), 0755) == 0) {
      run_name_ = name;
      break;
    }
    if (errno != EEXIST)
      throw RunError(fmt::format("cannot create a run directory in {}: {}", parent_path_, describe_errno(errno)));
  }
  if (run_name_.empty())
    throw RunError(fmt::format("cannot create a run directory in {}: {}.1 to .{} exist", parent_path_, started_utc_,
                               kMaxSuffix - 1));
  run_path_ = (fs::path(parent_path_) / run_name_).string();
  run_fd_ = Fd(openat(parent_fd_.get(), run_name_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (run_fd_.get() < 0) throw_errno("open " + run_path_);
  return run_path_;
}

void ResultsDestination::discard(const std::vector<std::string>& written_files) {
  if (run_fd_.get() >= 0)
    for (const std::string& name : written_files) unlinkat(run_fd_.get(), name.c_str(), 0);
  if (run_name_.empty()) return;  // `exactly`: the user's directory stays
  run_fd_ = Fd();
  unlinkat(parent_fd_.get(), run_name_.c_str(), AT_REMOVEDIR);
  run_name_.clear();
}

namespace {

// The files of a run, in writing order: run.json last, so its presence means the set is whole.
std::vector<std::pair<std::string, std::string>> result_files(const RunResult& run) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const ModeResult& m : run.modes) {
    if (m.repetitions.empty()) continue;
    Histogram pooled;
    for (const ModeRepetition& r : m.repetitions) pooled.merge(r.latency);
    std::ostringstream hgrm;
    pooled.write_hgrm(hgrm, 1000.0);  // microseconds, as HdrHistogram's plotter expects a scaled unit
    files.emplace_back(m.mode + ".hgrm", hgrm.str());
  }
  files.emplace_back("run.json", to_json(run).dump(2) + "\n");
  return files;
}

// Writes every file into the open `dir_fd`, naming in `written` those done, which a
// caller removes when a later one fails.
void write_result_files(int dir_fd, const std::string& dir,
                        const std::vector<std::pair<std::string, std::string>>& files,
                        std::vector<std::string>& written) {
  for (const auto& [name, content] : files) {
    write_file_at(dir_fd, dir, name, content);
    written.push_back(name);
  }
  // The entries themselves reach the disk too; a filesystem that cannot sync a directory says EINVAL.
  if (fsync(dir_fd) != 0 && errno != EINVAL) throw_errno("sync " + dir);
}

// A fresh rcvqbench-results-XXXXXX under $TMPDIR (or /tmp), else the working directory.
std::string keep_elsewhere(const std::vector<std::pair<std::string, std::string>>& files, std::string& problems) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::vector<fs::path> bases = {tmpdir && *tmpdir ? tmpdir : "/tmp"};
  std::error_code ec;
  if (const fs::path cwd = fs::current_path(ec); !ec) bases.push_back(cwd);
  for (const fs::path& base : bases) {
    std::string dir = (base / "rcvqbench-results-XXXXXX").string();
    if (!mkdtemp(dir.data())) {
      problems += fmt::format("; cannot create {}: {}", dir, describe_errno(errno));
      continue;
    }
    std::vector<std::string> written;
    Fd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    try {
      if (dir_fd.get() < 0) throw_errno("open " + dir);
      write_result_files(dir_fd.get(), dir, files, written);
      return dir;
    } catch (const RunError& e) {
      problems += fmt::format("; {}", e.what());
      for (const std::string& name : written) unlinkat(dir_fd.get(), name.c_str(), 0);
      rmdir(dir.c_str());
    }
  }
  return "";
}

}  // namespace

SavedResults save_results(ResultsDestination& destination, const RunResult& run) {
  const auto files = result_files(run);
  std::vector<std::string> written;
  SavedResults saved;
  try {
    saved.dir = destination.create_run_directory();
    write_result_files(destination.run_dir_fd(), saved.dir, files, written);
    return saved;
  } catch (const RunError& e) {
    saved.error = fmt::format("cannot save the results{}: {}", saved.dir.empty() ? "" : " in " + saved.dir, e.what());
    destination.discard(written);
  }
  saved.dir = keep_elsewhere(files, saved.error);
  return saved;
}

std::string create_run_directory(const std::string& root, const std::string& scenario_name,
                                 const std::string& started_utc) {
  return ResultsDestination::new_run_under(root, scenario_name, started_utc).create_run_directory();
}

}  // namespace rcvq
