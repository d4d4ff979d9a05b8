#pragma once
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "framing/framing.hpp"

namespace rcvq {

// A size drawn per frame or per chunk: fixed, uniform in [min, max], or cycled from a list.
struct SizeDist {
  enum class Kind { Fixed, Uniform, List } kind = Kind::Fixed;
  uint64_t fixed = 0;
  uint64_t min = 0, max = 0;
  std::vector<uint64_t> list;

  static SizeDist of(uint64_t bytes) {
    SizeDist d;
    d.fixed = bytes;
    return d;
  }
  uint64_t draw(std::mt19937_64& rng, uint64_t index) const;
  uint64_t largest() const;
};

struct SyntheticSource {
  uint64_t frames = 100;
  SizeDist header = SizeDist::of(0);
  SizeDist payload = SizeDist::of(4000);
  uint64_t seed = 1;
};

enum class FlowDirection { ClientToServer, ServerToClient, Larger };

// A flow of a pcap/pcapng capture whose byte stream is replayed (see replay/capture).
struct CaptureSource {
  std::string path;         // resolved relative to the scenario file
  std::string filter;       // libpcap filter expression, may be empty
  std::string flow;         // "a.b.c.d:port-e.f.g.h:port" 5-tuple, may be empty
  uint32_t largest = 1;     // pick the N-th largest flow when no filter/flow is given
  FlowDirection direction = FlowDirection::Larger;
  enum class OnGap { Stop, Resync } on_gap = OnGap::Stop;
  uint64_t max_stream_bytes = 1ULL << 30;  // memory cap for one reassembled direction
  uint64_t max_pending_bytes = 64ULL << 20;  // out-of-order bytes held per direction
  uint64_t max_flows = 100'000;              // TCP flows tracked while reading
};

struct Source {
  enum class Kind { Synthetic, Capture } kind = Kind::Synthetic;
  SyntheticSource synthetic;
  CaptureSource capture;
};

// Packet-level treatment after the cut; only the tap transport can honour it (sockets
// cannot reorder, duplicate or overlap segments). A rule hits segment i of the cut
// when i >= start and (i - start) % every == 0.
struct SegmentRule {
  uint64_t every = 0;  // 0 = off
  uint64_t start = 0;
  bool hits(uint64_t index) const { return every && index >= start && (index - start) % every == 0; }
};

struct PacketEffects {
  SegmentRule reorder;          // hold the segment back by `reorder_by` positions
  uint32_t reorder_by = 1;
  SegmentRule duplicate;        // send an exact copy right after it
  SegmentRule overlap;          // also resend `overlap_bytes` of the previous data in it
  uint32_t overlap_bytes = 0;
  SegmentRule drop;             // skip it, retransmit it `retransmit_after_us` later
  uint64_t retransmit_after_us = 0;
  std::vector<uint64_t> gaps_us;  // gap before each segment (cycled); replaces the cut's timing

  bool any() const {
    return reorder.every || duplicate.every || overlap.every || drop.every || !gaps_us.empty();
  }
};

struct Segmentation {
  enum class Kind { Whole, Fixed, Sizes, Random, SplitDescriptor, AsCaptured } kind = Kind::Whole;
  uint64_t fixed = 0;                 // Fixed: chunk size
  std::vector<uint64_t> sizes;        // Sizes: chunk sizes, the last one repeats
  uint64_t random_min = 1, random_max = 1;
  uint64_t split_at = 1;              // SplitDescriptor: bytes of the prefix in chunk 1
  uint64_t chunks = 0;                // Fixed alternative: cut every frame into N chunks
  uint64_t chunk_gap_us = 0;          // between chunks of one frame
  uint64_t frame_gap_us = 0;          // between the last chunk of a frame and the next
  double time_scale = 1.0;            // AsCaptured: multiply captured gaps
  uint64_t max_gap_us = 0;            // AsCaptured: cap on a captured gap, 0 = none
  bool nodelay = true;
  uint32_t mss = 0;                   // TCP_MAXSEG on the sender, 0 = kernel default
  PacketEffects effects;              // tap only
};

struct Transport {
  enum class Kind { Loopback, Veth, Tap, Remote } kind = Kind::Loopback;
  uint32_t mtu = 0;  // 0 = the device default
  bool tso = false, gso = false, gro = false;
  bool ipv6 = false;
  // tap only: payload in page frags (header/data split), frames through IFF_NAPI_FRAGS,
  // TCP Fast Open with the first segment in the SYN.
  bool hds = false;
  bool napi_frags = true;
  bool tfo = false;
  // remote only: where the agent runs (ssh://[USER@]HOST[:PORT] or tcp://HOST:PORT;
  // `run --remote` overrides it) and the receiver host's device whose address the data
  // connection uses ("" = the address the control connection reached).
  std::string remote_host;
  std::string remote_device;
};

// The CPUs a kind of thread is pinned to: thread t to cpus[t % cpus.size()], so one CPU
// pins them all together and a list spreads them (like iperf3 -A); none when empty.
struct CpuPinning {
  std::vector<uint32_t> cpus;
  std::optional<uint32_t> for_thread(uint32_t thread) const {
    return cpus.empty() ? std::nullopt : std::optional<uint32_t>(cpus[thread % cpus.size()]);
  }
};

struct Receiver {
  std::vector<std::string> modes{"baseline", "lowat-user"};
  uint32_t connections = 1;
  bool edge_triggered = false;
  uint32_t read_size = 65536;
  std::string autolowat_backend = "auto";  // auto | sockops | tcp-ops
  uint32_t realtime_priority = 0;  // SCHED_FIFO for sender and receiver threads, 0 = normal
  CpuPinning cpu;                  // where the receiver threads run
  uint32_t threads = 1;            // receiver threads, one epoll set each, <= connections
};

struct Sender {
  CpuPinning cpu;               // where the sender threads run
  uint32_t threads = 1;         // sender threads, each pacing its share of the connections
};

struct RunOptions {
  uint32_t repetitions = 3;
  uint64_t warmup_frames = 0;
  double timeout_s = 60;
  // Refuse a plan whose estimated memory or single-replay duration exceeds these
  // (see plan/plan_estimate.hpp), before anything is allocated or sent.
  uint64_t max_memory_mb = 4096;
  double max_duration_s = 86400;
  // Where the plan lives while it runs: whole in memory, or generated frame by frame as
  // the sender goes (synthetic sources on kernel-socket transports; see plan/plan.hpp).
  // Auto streams a plan too large to hold cheaply unless a mode needs it whole.
  enum class PlanStorage { Auto, Held, Streamed } plan = PlanStorage::Auto;
};

struct Scenario {
  std::string name;
  std::string path;  // file it was loaded from, for messages and relative paths
  Source source;
  Framing framing;
  Segmentation segmentation;
  Transport transport;
  Receiver receiver;
  Sender sender;
  RunOptions run;
  std::string yaml;  // the scenario text, echoed into run.json
};

std::string to_string(Segmentation::Kind kind);
std::string to_string(Transport::Kind kind);

}  // namespace rcvq
