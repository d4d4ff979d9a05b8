#pragma once
#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace rcvq {

struct CapturedPacket {
  uint64_t number = 0;   // 1-based, counting every record in the file (as tshark does)
  int64_t time_ns = 0;   // capture timestamp, nanoseconds since the epoch
  uint32_t caplen = 0;   // bytes present
  uint32_t wire_length = 0;
  const uint8_t* data = nullptr;  // valid until the next read
  int linktype = 0;
};

// Sequential reader of a pcap or pcapng file through libpcap (micro- and nanosecond
// files alike come out in nanoseconds), with an optional libpcap filter expression.
// libpcap 1.10 refuses pcapng files whose interfaces have different link types; those
// are read block by block here, each packet decoded and filtered per its interface.
class CaptureReader {
 public:
  // Throws InputError naming the file (cannot open, not a capture, bad filter).
  CaptureReader(const std::string& path, const std::string& filter);
  ~CaptureReader();
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;

  // The next packet that passes the filter; false at the end of the file. A corrupt
  // or truncated record throws InputError naming the file and packet number.
  bool next(CapturedPacket& packet);

  int linktype() const { return linktype_; }  // of the first interface
  bool mixed_link_types() const { return block_file_ != nullptr; }
  const std::string& path() const { return path_; }
  uint64_t packets_read() const { return number_; }
  uint64_t filtered_out() const { return filtered_out_; }
  // Records claiming more captured than wire bytes: decoded from what was captured.
  uint64_t caplen_above_wire() const { return caplen_above_wire_; }

 private:
  std::string path_;
  pcap_t* handle_ = nullptr;
  bpf_program filter_{};
  bool has_filter_ = false;
  int linktype_ = 0;
  uint64_t number_ = 0;
  uint64_t filtered_out_ = 0;
  uint64_t caplen_above_wire_ = 0;

  // pcapng with mixed link types: our own block reader.
  struct Interface {
    int linktype = 0;
    uint64_t units_per_second = 1'000'000;
    pcap_t* dead = nullptr;  // for compiling the filter against this link type
    bpf_program filter{};
    bool has_filter = false;
  };
  void open_blocks(const std::string& filter);
  bool next_block_packet(CapturedPacket& packet);
  void add_interface(const uint8_t* body, uint32_t length);
  std::string filter_text_;
  FILE* block_file_ = nullptr;
  bool swapped_ = false;
  uint64_t block_offset_ = 0;
  std::vector<Interface> interfaces_;
  std::vector<uint8_t> block_;
};

// The link types of a pcapng file's interfaces, from its interface description blocks
// (empty for a classic pcap file or an unreadable one).
std::vector<int> pcapng_link_types(const std::string& path);

}  // namespace rcvq
