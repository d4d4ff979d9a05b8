#pragma once
// XML checks for the report tests through xmllint (Debian libxml2-utils, installed by
// tools/setup): a real parser, not string matching.
#include <cstdio>
#include <cstdlib>
#include <string>

namespace rcvq {

struct XmlCheck {
  bool available = true;  // xmllint is installed
  bool well_formed = false;
  std::string detail;
};

inline std::string run_capture(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) {
    *status = -1;
    return out;
  }
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  *status = pclose(pipe);
  return out;
}

inline XmlCheck check_xml(const std::string& path) {
  XmlCheck check;
  if (std::system("command -v xmllint >/dev/null 2>&1") != 0) {
    check.available = false;
    check.detail = "xmllint not installed (tools/setup installs libxml2-utils)";
    return check;
  }
  int status = 0;
  check.detail = run_capture("xmllint --noout '" + path + "' 2>&1", &status);
  check.well_formed = status == 0;
  return check;
}

// Number of nodes matching `xpath` in the file, -1 on error.
inline int count_xpath(const std::string& path, const std::string& xpath) {
  int status = 0;
  const std::string out = run_capture("xmllint --xpath \"count(" + xpath + ")\" '" + path + "' 2>/dev/null", &status);
  if (status != 0) return -1;
  return std::atoi(out.c_str());
}

}  // namespace rcvq
