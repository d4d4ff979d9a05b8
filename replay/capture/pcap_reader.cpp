#include "capture/pcap_reader.hpp"

#include <fmt/format.h>

#include "common/errors.hpp"

namespace rcvq {

CaptureReader::CaptureReader(const std::string& path, const std::string& filter) : path_(path) {
  char error[PCAP_ERRBUF_SIZE] = {};
  handle_ = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, error);
  if (!handle_) throw InputError(fmt::format("{}: cannot read as pcap or pcapng: {}", path, error));
  linktype_ = pcap_datalink(handle_);
  if (!filter.empty()) {
    if (pcap_compile(handle_, &filter_, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      std::string message = pcap_geterr(handle_);
      pcap_close(handle_);
      throw InputError(fmt::format("{}: filter '{}': {}", path, filter, message));
    }
    has_filter_ = true;
  }
}

CaptureReader::~CaptureReader() {
  if (has_filter_) pcap_freecode(&filter_);
  pcap_close(handle_);
}

bool CaptureReader::next(CapturedPacket& packet) {
  for (;;) {
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int status = pcap_next_ex(handle_, &header, &data);
    if (status == PCAP_ERROR_BREAK) return false;
    if (status != 1)
      throw InputError(fmt::format("{}: packet {}: {}", path_, number_ + 1, pcap_geterr(handle_)));
    ++number_;
    if (has_filter_ && !pcap_offline_filter(&filter_, header, data)) {
      ++filtered_out_;
      continue;
    }
    if (header->caplen > header->len) ++caplen_above_wire_;
    packet.number = number_;
    // The handle was opened for nanosecond precision: tv_usec carries nanoseconds.
    packet.time_ns = int64_t(header->ts.tv_sec) * 1'000'000'000 + int64_t(header->ts.tv_usec);
    packet.caplen = header->caplen;
    packet.wire_length = header->len;
    packet.data = data;
    packet.linktype = linktype_;
    return true;
  }
}

}  // namespace rcvq
