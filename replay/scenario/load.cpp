#include "scenario/load.hpp"

#include <fmt/format.h>
#include <sched.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <climits>
#include <filesystem>

#include "capture/capture_stream.hpp"
#include "common/errors.hpp"
#include "common/input_file.hpp"
#include "plan/streamed_plan.hpp"
#include "receiver/mode.hpp"
#include "scenario/yaml_fields.hpp"

namespace rcvq {
namespace {

constexpr uint64_t kMaxFrameBytes = 1ULL << 30;

// Why modes[index] cannot be run ("" when it can): an unknown name, or one given twice
// (a run measures each mode once, so the second would be dropped from run.json).
std::string mode_list_problem(const std::vector<std::string>& modes, size_t index) {
  const std::string& name = modes[index];
  if (std::find(mode_names().begin(), mode_names().end(), name) == mode_names().end())
    return fmt::format("unknown mode '{}' (known: {})", name, fmt::join(mode_names(), ", "));
  if (std::find(modes.begin(), modes.begin() + index, name) != modes.begin() + index)
    return fmt::format("mode '{}' is given twice", name);
  return "";
}

SizeDist parse_size(YamlFields& parent, const std::string& key, SizeDist fallback) {
  YAML::Node n = parent.take(key);
  if (!n.IsDefined()) return fallback;
  SizeDist d;
  if (n.IsScalar()) {
    d.kind = SizeDist::Kind::Fixed;
    d.fixed = parent.as_u64(n, key, 0, kMaxFrameBytes);
  } else if (n.IsSequence()) {
    d.kind = SizeDist::Kind::List;
    for (const auto& item : n) d.list.push_back(parent.as_u64(item, key, 0, kMaxFrameBytes));
    if (d.list.empty()) parent.fail(n, key, "the list of sizes is empty");
  } else {
    YamlFields range(parent.file(), n, parent.key_path(key));
    d.kind = SizeDist::Kind::Uniform;
    d.min = range.u64("min", 0, 0, kMaxFrameBytes);
    d.max = range.u64("max", d.min, 0, kMaxFrameBytes);
    if (d.max < d.min) range.fail_here(fmt::format("max {} is below min {}", d.max, d.min));
    range.finish();
  }
  return d;
}

void parse_source(YamlFields& root, Scenario& sc) {
  YamlFields source = root.map("source");
  if (source.has("synthetic") && source.has("capture"))
    source.fail_here("give either 'synthetic' or 'capture', not both");
  if (source.has("capture")) {
    sc.source.kind = Source::Kind::Capture;
    YamlFields cap = source.map("capture");
    CaptureSource& c = sc.source.capture;
    c.path = cap.text("path", "");
    if (c.path.empty()) cap.fail_here("'path' to a pcap or pcapng file is required");
    std::filesystem::path p(c.path);
    if (p.is_relative()) c.path = (std::filesystem::path(sc.path).parent_path() / p).string();
    c.filter = cap.text("filter", "");
    c.flow = cap.text("flow", "");
    c.largest = uint32_t(cap.u64("largest", 1, 1, 1'000'000));
    std::string dir = cap.choice("direction", "larger",
                                 {"client-to-server", "server-to-client", "larger"});
    c.direction = dir == "client-to-server"   ? FlowDirection::ClientToServer
                  : dir == "server-to-client" ? FlowDirection::ServerToClient
                                              : FlowDirection::Larger;
    c.on_gap = cap.choice("on_gap", "stop", {"stop", "resync"}) == "stop"
                   ? CaptureSource::OnGap::Stop
                   : CaptureSource::OnGap::Resync;
    c.max_stream_bytes = cap.u64("max_stream_bytes", c.max_stream_bytes, 1, 1ULL << 40);
    c.max_pending_bytes = cap.u64("max_pending_bytes", c.max_pending_bytes, 1, 1ULL << 40);
    c.max_flows = cap.u64("max_flows", c.max_flows, 1, 100'000'000);
    cap.finish();
  } else {
    YamlFields syn = source.map("synthetic");
    SyntheticSource& s = sc.source.synthetic;
    s.frames = syn.u64("frames", s.frames, 1, 10'000'000);
    s.header = parse_size(syn, "header", s.header);
    s.payload = parse_size(syn, "payload", s.payload);
    s.seed = syn.u64("seed", s.seed);
    syn.finish();
  }
  source.finish();
}

void parse_framing(YamlFields& root, Scenario& sc) {
  YAML::Node n = root.take("framing");
  if (!n.IsDefined()) {
    // A capture's protocol is whatever frames it; synthetic streams default to desc8.
    sc.framing = framing_preset(sc.source.kind == Source::Kind::Capture ? "auto" : "desc8");
    return;
  }
  auto preset_or_fail = [&](const YAML::Node& at, const std::string& name) {
    try {
      return framing_preset(name);
    } catch (const InputError& e) {
      root.fail(at, "framing", e.what());
    }
  };
  if (n.IsScalar()) {
    sc.framing = preset_or_fail(n, n.Scalar());
    if (sc.framing.is_auto() && sc.source.kind != Source::Kind::Capture)
      root.fail(n, "framing", "auto needs a capture source: it picks the preset that frames the captured stream");
    return;
  }
  YamlFields f(root.file(), n, "framing");
  if (f.has("preset")) {
    YAML::Node p = f.take("preset");
    if (!p.IsScalar()) f.fail(p, "preset", "expected a preset name");
    sc.framing = preset_or_fail(p, p.Scalar());
    // Unframed leading bytes: given literally, or a count taken from the capture.
    if (f.has("preamble") && f.has("preamble_bytes")) f.fail_here("give 'preamble' or 'preamble_bytes', not both");
    if (f.has("preamble")) {
      std::string text = f.text("preamble", "");
      sc.framing.preamble.assign(text.begin(), text.end());
      sc.framing.spec.preamble = uint32_t(text.size());
      sc.framing.preamble_rule = PreambleRule::Fixed;
    } else if (f.has("preamble_bytes")) {
      YAML::Node at = f.take("preamble_bytes");
      if (sc.source.kind != Source::Kind::Capture)
        f.fail(at, "preamble_bytes", "needs a capture source (a synthetic stream has no bytes to take; use 'preamble')");
      sc.framing.preamble.clear();
      sc.framing.spec.preamble = uint32_t(f.as_u64(at, "preamble_bytes", 0, 1 << 20));
      sc.framing.preamble_rule = PreambleRule::FirstBytes;
    }
    if (sc.framing.is_auto() && sc.source.kind != Source::Kind::Capture) f.fail(p, "preset", "auto needs a capture source");
    f.finish();
    return;
  }
  Framing& fr = sc.framing;
  fr.name = "custom";
  fr.spec.prefix_size = uint32_t(f.u64("prefix", 0, 1, FT_MAX_PREFIX));
  if (!f.has("fields")) f.fail_here("a custom framing needs 'prefix' and 'fields'");
  YAML::Node fields = f.take("fields");
  if (!fields.IsSequence() || fields.size() < 1 || fields.size() > FT_MAX_FIELDS)
    f.fail(fields, "fields", fmt::format("expected a list of 1..{} length fields", FT_MAX_FIELDS));
  fr.spec.nfields = uint32_t(fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    YamlFields field(root.file(), fields[i], fmt::format("framing.fields[{}]", i));
    fr.spec.fields[i].offset = uint32_t(field.u64("offset", 0, 0, FT_MAX_PREFIX - 1));
    fr.spec.fields[i].width = uint32_t(field.u64("width", 4, 1, 8));
    fr.spec.fields[i].big_endian = field.choice("endian", "big", {"big", "little"}) == "big";
    field.finish();
  }
  fr.spec.includes_prefix = f.boolean("includes_prefix", false);
  YAML::Node adj = f.take("adjustment");
  if (adj.IsDefined()) {
    if (!adj.IsScalar() || !YAML::convert<int64_t>::decode(adj, fr.spec.adjustment))
      f.fail(adj, "adjustment", "expected an integer");
  }
  std::string preamble = f.text("preamble", "");
  fr.preamble.assign(preamble.begin(), preamble.end());
  fr.spec.preamble = uint32_t(fr.preamble.size());
  validate_framing(fr, yaml_position(root.file(), n) + ": framing");
  f.finish();
}

SegmentRule parse_rule(YamlFields& rule) {
  SegmentRule r;
  r.every = rule.u64("every", 0, 1, 1'000'000'000);
  if (!r.every) rule.fail_here("'every' (hit every N-th segment) is required");
  r.start = rule.u64("start", r.every - 1, 0, 1'000'000'000);
  return r;
}

void parse_effects(YamlFields& seg, PacketEffects& e) {
  if (!seg.has("effects")) return;
  YamlFields fx = seg.map("effects");
  if (fx.has("reorder")) {
    YamlFields r = fx.map("reorder");
    e.reorder = parse_rule(r);
    e.reorder_by = uint32_t(r.u64("by", 1, 1, 10'000));
    r.finish();
  }
  if (fx.has("duplicate")) {
    YamlFields r = fx.map("duplicate");
    e.duplicate = parse_rule(r);
    r.finish();
  }
  if (fx.has("overlap")) {
    YamlFields r = fx.map("overlap");
    e.overlap = parse_rule(r);
    e.overlap_bytes = uint32_t(r.u64("bytes", 0, 1, 65535));
    if (!e.overlap_bytes) r.fail_here("'bytes' (how much earlier data to resend) is required");
    r.finish();
  }
  if (fx.has("drop")) {
    YamlFields r = fx.map("drop");
    e.drop = parse_rule(r);
    e.retransmit_after_us = r.u64("retransmit_after_us", 1000, 0, 60'000'000);
    r.finish();
  }
  if (fx.has("gaps_us")) {
    YAML::Node list = fx.take("gaps_us");
    if (!list.IsSequence() || list.size() == 0) fx.fail(list, "gaps_us", "expected a non-empty list of gaps");
    for (const auto& item : list) e.gaps_us.push_back(fx.as_u64(item, "gaps_us", 0, 60'000'000));
  }
  fx.finish();
}

void parse_segmentation(YamlFields& root, Scenario& sc) {
  YamlFields seg = root.map("segmentation");
  Segmentation& s = sc.segmentation;
  YAML::Node cut = seg.take("cut");
  using K = Segmentation::Kind;
  if (cut.IsDefined()) {
    if (cut.IsScalar()) {
      if (cut.Scalar() == "whole") s.kind = K::Whole;
      else if (cut.Scalar() == "as-captured") s.kind = K::AsCaptured;
      else seg.fail(cut, "cut", "expected whole, as-captured, or one of {fixed: N}, {chunks: N}, "
                    "{sizes: [...]}, {random: {min, max}}, {split-descriptor: N}");
    } else {
      YamlFields c(seg.file(), cut, "segmentation.cut");
      int given = c.has("fixed") + c.has("chunks") + c.has("sizes") + c.has("random") +
                  c.has("split-descriptor");
      if (given != 1)
        c.fail_here("give exactly one of fixed, chunks, sizes, random, split-descriptor");
      if (c.has("fixed")) {
        s.kind = K::Fixed;
        s.fixed = c.u64("fixed", 0, 1, kMaxFrameBytes);
      } else if (c.has("chunks")) {
        s.kind = K::Fixed;
        s.chunks = c.u64("chunks", 0, 1, 1'000'000);
      } else if (c.has("sizes")) {
        s.kind = K::Sizes;
        YAML::Node list = c.take("sizes");
        if (!list.IsSequence() || list.size() == 0) c.fail(list, "sizes", "expected a non-empty list");
        for (const auto& item : list) s.sizes.push_back(c.as_u64(item, "sizes", 1, kMaxFrameBytes));
      } else if (c.has("random")) {
        s.kind = K::Random;
        YamlFields r = c.map("random");
        s.random_min = r.u64("min", 1, 1, kMaxFrameBytes);
        s.random_max = r.u64("max", s.random_min, 1, kMaxFrameBytes);
        if (s.random_max < s.random_min)
          r.fail_here(fmt::format("max {} is below min {}", s.random_max, s.random_min));
        r.finish();
      } else {
        s.kind = K::SplitDescriptor;
        s.split_at = c.u64("split-descriptor", 1, 1, FT_MAX_PREFIX - 1);
      }
      // Every candidate key is taken above or checked by has(); mark the rest as known.
      for (const char* k : {"fixed", "chunks", "sizes", "random", "split-descriptor"}) c.take(k);
      c.finish();
    }
  }
  s.chunk_gap_us = seg.u64("chunk_gap_us", s.chunk_gap_us, 0, 60'000'000);
  s.frame_gap_us = seg.u64("frame_gap_us", s.frame_gap_us, 0, 60'000'000);
  s.time_scale = seg.number("time_scale", s.time_scale, 0, 1e6);
  s.max_gap_us = seg.u64("max_gap_us", s.max_gap_us, 0, 600'000'000);
  s.nodelay = seg.boolean("nodelay", s.nodelay);
  s.mss = uint32_t(seg.u64("mss", 0, 0, 65535));
  if (s.mss != 0 && s.mss < 88) seg.fail(seg.take("mss"), "mss", "TCP_MAXSEG below 88 is refused by Linux");
  parse_effects(seg, s.effects);
  if (s.kind == K::AsCaptured && sc.source.kind != Source::Kind::Capture)
    seg.fail(cut, "cut", "as-captured needs a capture source");
  if (s.kind == K::SplitDescriptor && s.split_at >= sc.framing.prefix_size())
    seg.fail(cut, "cut", fmt::format("split-descriptor {} must cut inside the {}-byte prefix",
                                     s.split_at, sc.framing.prefix_size()));
  seg.finish();
}

void parse_transport(YamlFields& root, Scenario& sc) {
  YamlFields t = root.map("transport");
  Transport& tr = sc.transport;
  std::string kind = t.choice("kind", "loopback", {"loopback", "veth", "tap", "remote"});
  tr.kind = kind == "loopback" ? Transport::Kind::Loopback
            : kind == "veth"   ? Transport::Kind::Veth
            : kind == "tap"    ? Transport::Kind::Tap
                               : Transport::Kind::Remote;
  for (const char* remote_only : {"host", "device"})
    if (t.has(remote_only) && tr.kind != Transport::Kind::Remote)
      t.fail(t.take(remote_only), remote_only, fmt::format("'{}' needs kind: remote", remote_only));
  tr.remote_host = t.text("host", "");
  tr.remote_device = t.text("device", "");
  // The receiver host's own devices are configured by whoever owns them.
  for (const char* local_only : {"mtu", "tso", "gso", "gro", "ipv6"})
    if (t.has(local_only) && tr.kind == Transport::Kind::Remote)
      t.fail(t.take(local_only), local_only,
             fmt::format("'{}' is not set by rcvqbench on a remote host: configure its NIC there (ethtool, ip)",
                         local_only));
  tr.mtu = uint32_t(t.u64("mtu", 0, 0, 65536));
  if (tr.mtu != 0 && tr.mtu < 576) t.fail(t.take("mtu"), "mtu", "an MTU below 576 cannot carry TCP reliably");
  tr.tso = t.boolean("tso", tr.tso);
  tr.gso = t.boolean("gso", tr.gso);
  tr.gro = t.boolean("gro", tr.gro);
  tr.ipv6 = t.boolean("ipv6", tr.ipv6);
  for (const char* tap_only : {"hds", "napi_frags", "tfo"}) {
    if (t.has(tap_only) && tr.kind != Transport::Kind::Tap)
      t.fail(t.take(tap_only), tap_only,
             fmt::format("'{}' needs kind: tap (a {} socket sender cannot control it)", tap_only, kind));
  }
  tr.hds = t.boolean("hds", tr.hds);
  tr.napi_frags = t.boolean("napi_frags", tr.napi_frags);
  tr.tfo = t.boolean("tfo", tr.tfo);
  if (tr.hds && !tr.napi_frags)
    t.fail(t.take("hds"), "hds", "header/data split needs napi_frags: true (payload goes in page frags)");
  t.finish();
}

// Whether the host has that CPU is checked when the run starts: a scenario may be
// validated on another machine.
// `cpu: N` or `cpu: [N, ...]`.
CpuPinning cpu_to_pin(YamlFields& fields) {
  CpuPinning pinning;
  if (!fields.has("cpu")) return pinning;
  const YAML::Node node = fields.take("cpu");
  if (!node.IsSequence()) {
    pinning.cpus.push_back(uint32_t(fields.as_u64(node, "cpu", 0, CPU_SETSIZE - 1)));
    return pinning;
  }
  if (node.size() == 0) fields.fail(node, "cpu", "an empty list pins nothing: leave cpu out to run unpinned");
  for (const YAML::Node& cpu : node) pinning.cpus.push_back(uint32_t(fields.as_u64(cpu, "cpu", 0, CPU_SETSIZE - 1)));
  return pinning;
}

// Two sockets per connection live in this process (sender and receiver end), and the
// ephemeral port range (28232 ports by default) bounds one sender address.
constexpr uint64_t kMaxConnections = 20000;

void parse_receiver(YamlFields& root, Scenario& sc) {
  YamlFields r = root.map("receiver");
  Receiver& rc = sc.receiver;
  YAML::Node modes_node = r.has("modes") ? YAML::Node(r.take("modes")) : YAML::Node();
  rc.modes = r.text_list("modes", rc.modes);
  if (rc.modes.empty()) r.fail(modes_node, "modes", "at least one mode is needed");
  for (size_t i = 0; i < rc.modes.size(); ++i) {
    const YAML::Node at = modes_node.IsSequence() ? modes_node[i] : modes_node;
    if (const std::string problem = mode_list_problem(rc.modes, i); !problem.empty()) r.fail(at, "modes", problem);
  }
  rc.connections = uint32_t(r.u64("connections", rc.connections, 1, kMaxConnections));
  rc.edge_triggered = r.choice("epoll", "level", {"level", "edge"}) == "edge";
  rc.read_size = uint32_t(r.u64("read_size", rc.read_size, 1, 64 << 20));
  rc.autolowat_backend = r.choice("autolowat_backend", "auto", {"auto", "sockops", "tcp-ops"});
  rc.realtime_priority = uint32_t(r.u64("realtime_priority", 0, 0, 99));
  rc.cpu = cpu_to_pin(r);
  if (r.has("threads")) {
    const YAML::Node threads_node = r.take("threads");
    rc.threads = uint32_t(r.as_u64(threads_node, "threads", 1, rc.connections));
    if (rc.threads > 1 && sc.transport.kind == Transport::Kind::Remote)
      r.fail(threads_node, "threads", "a remote receiver runs one receiver thread");
  }
  r.finish();
}

void parse_sender(YamlFields& root, Scenario& sc) {
  YamlFields s = root.map("sender");
  sc.sender.cpu = cpu_to_pin(s);
  const bool kernel_sockets = sc.transport.kind == Transport::Kind::Loopback || sc.transport.kind == Transport::Kind::Veth;
  if (s.has("threads")) {
    const YAML::Node threads_node = s.take("threads");
    sc.sender.threads = uint32_t(s.as_u64(threads_node, "threads", 1, sc.receiver.connections));
    if (sc.sender.threads > 1 && !kernel_sockets)
      s.fail(threads_node, "threads", "more than one sender thread needs transport kind loopback or veth");
  }
  s.finish();
}

void parse_run(YamlFields& root, Scenario& sc) {
  YamlFields r = root.map("run");
  sc.run.repetitions = uint32_t(r.u64("repetitions", sc.run.repetitions, 1, 1000));
  sc.run.warmup_frames = r.u64("warmup_frames", sc.run.warmup_frames, 0, 10'000'000);
  sc.run.timeout_s = r.number("timeout_s", sc.run.timeout_s, 0.1, 86400);
  sc.run.max_memory_mb = r.u64("max_memory_mb", sc.run.max_memory_mb, 1, 1ULL << 30);
  sc.run.max_duration_s = r.number("max_duration_s", sc.run.max_duration_s, 0.001, 1e9);
  const std::string plan = r.choice("plan", "auto", {"auto", "held", "streamed"});
  sc.run.plan = plan == "held"       ? RunOptions::PlanStorage::Held
                : plan == "streamed" ? RunOptions::PlanStorage::Streamed
                                     : RunOptions::PlanStorage::Auto;
  r.finish();
}

}  // namespace

Scenario parse_scenario(const std::string& yaml_text, const std::string& file) {
  YAML::Node doc;
  try {
    doc = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}:{}:{}: YAML syntax error: {}", file, e.mark.line + 1,
                                 e.mark.column + 1, e.msg));
  }
  if (!doc.IsMap()) throw InputError(fmt::format("{}: expected a YAML mapping at the top level", file));
  Scenario sc;
  sc.path = file;
  sc.yaml = yaml_text;
  YamlFields root(file, doc, "");
  sc.name = root.text("name", std::filesystem::path(file).stem().string());
  // It names the results directory: one path component (NAME_MAX bytes) of plain text.
  if (sc.name.empty() || sc.name.find_first_of(std::string("/\\ \0", 4)) != std::string::npos || sc.name[0] == '.' ||
      sc.name.size() > NAME_MAX)
    root.fail(root.take("name"), "name",
              fmt::format("must be a non-empty name of at most {} bytes without '/', spaces, NUL or a leading '.'",
                          NAME_MAX));
  parse_source(root, sc);
  // The run's limits apply to the capture read that auto framing needs below.
  parse_run(root, sc);
  parse_framing(root, sc);
  // auto and content-dependent preambles are decided on the captured stream itself.
  if (sc.source.kind == Source::Kind::Capture && sc.framing.needs_stream())
    sc.framing = resolve_capture_framing(sc);
  parse_segmentation(root, sc);
  parse_transport(root, sc);
  if (sc.segmentation.effects.any() && sc.transport.kind != Transport::Kind::Tap)
    throw InputError(fmt::format(
        "{}: segmentation.effects (reorder, duplicate, overlap, drop, gaps_us) need transport kind: tap; "
        "a {} socket sender cannot reorder, duplicate or time individual segments",
        yaml_position(file, doc["segmentation"]["effects"]), to_string(sc.transport.kind)));
  if (sc.run.plan == RunOptions::PlanStorage::Streamed) {
    if (const std::string why = why_plan_cannot_stream(sc); !why.empty())
      throw InputError(fmt::format("{}: run.plan: streamed needs {}", yaml_position(file, doc["run"]["plan"]), why));
  }
  parse_receiver(root, sc);
  parse_sender(root, sc);
  if (sc.source.kind == Source::Kind::Synthetic && sc.run.warmup_frames >= sc.source.synthetic.frames)
    root.fail(root.take("run"), "run.warmup_frames", "must be below the number of frames");
  root.finish();
  return sc;
}

std::vector<std::string> parse_modes_option(const std::string& csv) {
  std::vector<std::string> modes;
  for (size_t start = 0;;) {
    const size_t comma = csv.find(',', start);
    modes.push_back(csv.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  for (size_t i = 0; i < modes.size(); ++i)
    if (const std::string problem = mode_list_problem(modes, i); !problem.empty())
      throw InputError(fmt::format("--modes {}: {}", csv, problem));
  return modes;
}

Scenario load_scenario(const std::string& path) {
  return parse_scenario(read_regular_file(path, kMaxScenarioFileBytes, "scenario file"), path);
}

std::string to_string(Segmentation::Kind kind) {
  switch (kind) {
    case Segmentation::Kind::Whole: return "whole";
    case Segmentation::Kind::Fixed: return "fixed";
    case Segmentation::Kind::Sizes: return "sizes";
    case Segmentation::Kind::Random: return "random";
    case Segmentation::Kind::SplitDescriptor: return "split-descriptor";
    case Segmentation::Kind::AsCaptured: return "as-captured";
  }
  return "?";
}

std::string to_string(Transport::Kind kind) {
  switch (kind) {
    case Transport::Kind::Loopback: return "loopback";
    case Transport::Kind::Veth: return "veth";
    case Transport::Kind::Tap: return "tap";
    case Transport::Kind::Remote: return "remote";
  }
  return "?";
}

}  // namespace rcvq
