#include "trace/event_json.h"

#include <array>
#include <bit>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace gp {

using nlohmann::json;

namespace {

// gp_event.ev_flags bit names. Bits without a name are written as "bit<N>" so
// that a newer BPF object's flags survive a round trip through an older tool.
constexpr std::array<std::string_view, 3> kEventFlagNames = {"has_queue", "has_pasid",
                                                             "secondary"};

// gp_preempt_info.flags (GP_PF_*) bit names; unknown bits round-trip as "bit<N>".
constexpr std::array<std::string_view, 5> kPreemptFlagNames = {"victims_unknown", "victims_truncated",
                                                               "all_queues", "not_kfd", "queue_reset"};

// The queue flag names come from event.cpp's table (queue_flags_string), so
// `watch` and the trace files always agree.
std::string_view queue_flag_name(unsigned bit) {
  static const auto names = [] {
    std::array<std::string, 8> n;
    for (unsigned i = 0; i < n.size(); ++i) n[i] = queue_flags_string(static_cast<std::uint8_t>(1u << i));
    return n;
  }();
  return names[bit];
}

// Reads one key of an object with a path for error messages ("queue.qid").
class Fields {
 public:
  Fields(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {
    if (!obj_.is_object()) fail("", fmt::format("expected an object, got {}", obj_.type_name()));
  }

  [[noreturn]] void fail(std::string_view key, const std::string& why) const {
    std::string where = path_;
    if (!key.empty()) where += (where.empty() ? "" : ".") + std::string(key);
    throw EventJsonError(where.empty() ? why : where + ": " + why);
  }

  const json& at(std::string_view key) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) fail(key, "missing");
    return *it;
  }
  bool has(std::string_view key) const { return obj_.contains(key); }

  template <typename T>
  T integer(std::string_view key) const {
    const json& v = at(key);
    if (v.is_number_unsigned()) {
      auto u = v.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(u);
    } else if (v.is_number_integer()) {
      auto s = v.get<std::int64_t>();
      // A JSON value built in code (not parsed) can be a signed non-negative.
      if (s >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
          (s < 0 || static_cast<std::uint64_t>(s) <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
        return static_cast<T>(s);
    } else {
      fail(key, fmt::format("expected an integer, got {}", v.dump()));
    }
    fail(key, fmt::format("{} is out of range", v.dump()));
  }

  std::uint64_t hex(std::string_view key) const {
    return parse_hex_u64(at(key), path_.empty() ? std::string(key) : path_ + "." + std::string(key));
  }

  bool boolean(std::string_view key) const {
    const json& v = at(key);
    if (!v.is_boolean()) fail(key, fmt::format("expected true or false, got {}", v.dump()));
    return v.get<bool>();
  }

  const std::string& string(std::string_view key) const {
    const json& v = at(key);
    if (!v.is_string()) fail(key, fmt::format("expected a string, got {}", v.dump()));
    return v.get_ref<const std::string&>();
  }

  // A ["name", ...] array -> bit mask, with `bit_of` mapping a name to a bit.
  template <typename BitOf>
  std::uint64_t flag_list(std::string_view key, BitOf bit_of) const {
    const json& v = at(key);
    if (!v.is_array()) fail(key, fmt::format("expected an array of flag names, got {}", v.dump()));
    std::uint64_t mask = 0;
    for (const json& name : v) {
      if (!name.is_string()) fail(key, fmt::format("expected a flag name, got {}", name.dump()));
      std::optional<unsigned> bit = bit_of(name.get_ref<const std::string&>());
      if (!bit) fail(key, fmt::format("unknown flag {}", name.dump()));
      mask |= std::uint64_t{1} << *bit;
    }
    return mask;
  }

 private:
  const json& obj_;
  std::string path_;
};

json flag_list(std::uint64_t mask, unsigned bits, auto name_of) {
  json out = json::array();
  for (unsigned i = 0; i < bits; ++i)
    if (mask & (std::uint64_t{1} << i)) out.push_back(name_of(i));
  return out;
}

std::optional<unsigned> queue_flag_bit(const std::string& name) {
  for (unsigned i = 0; i < 8; ++i)
    if (queue_flag_name(i) == name) return i;
  return std::nullopt;
}

std::string event_flag_name(unsigned bit) {
  return bit < kEventFlagNames.size() ? std::string(kEventFlagNames[bit]) : fmt::format("bit{}", bit);
}

std::optional<unsigned> event_flag_bit(const std::string& name) {
  for (unsigned i = 0; i < kEventFlagNames.size(); ++i)
    if (kEventFlagNames[i] == name) return i;
  unsigned bit = 0;
  if (name.size() > 3 && name.size() <= 5 && name.starts_with("bit") &&
      std::sscanf(name.c_str() + 3, "%u", &bit) == 1 && bit >= kEventFlagNames.size() && bit < 32 &&
      event_flag_name(bit) == name)
    return bit;
  return std::nullopt;
}

std::string preempt_flag_name(unsigned bit) {
  return bit < kPreemptFlagNames.size() ? std::string(kPreemptFlagNames[bit]) : fmt::format("bit{}", bit);
}

std::optional<unsigned> preempt_flag_bit(const std::string& name) {
  for (unsigned i = 0; i < kPreemptFlagNames.size(); ++i)
    if (kPreemptFlagNames[i] == name) return i;
  unsigned bit = 0;
  if (name.size() > 3 && name.size() <= 5 && name.starts_with("bit") &&
      std::sscanf(name.c_str() + 3, "%u", &bit) == 1 && bit >= kPreemptFlagNames.size() && bit < 32 &&
      preempt_flag_name(bit) == name)
    return bit;
  return std::nullopt;
}

// A code with a name table (uapi queue type, DBG_TRAP op): the name when the
// table has one, the number otherwise, so unknown codes still round-trip.
json named_code(std::uint32_t code, std::string_view (*name_of)(std::uint32_t)) {
  std::string_view name = name_of(code);
  if (name == "unknown") return code;
  return std::string(name);
}

std::uint32_t parse_named_code(const Fields& f, std::string_view key,
                               std::string_view (*name_of)(std::uint32_t), std::uint32_t table_size) {
  const json& v = f.at(key);
  if (!v.is_string()) return f.integer<std::uint32_t>(key);
  for (std::uint32_t code = 0; code < table_size; ++code)
    if (name_of(code) == v.get_ref<const std::string&>()) return code;
  f.fail(key, fmt::format("unknown name {}", v.dump()));
}

// comm is whatever the task set with prctl(PR_SET_NAME): not necessarily
// UTF-8. JSON strings must be, so invalid bytes become '?' (display only).
std::string utf8_comm(std::string_view comm) {
  std::string out;
  for (std::size_t i = 0; i < comm.size();) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(comm[i + k]); };
    unsigned c = byte(0);
    std::size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
                    : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    bool ok = len > 0 && i + len <= comm.size();
    std::uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (byte(k) >> 6) == 0x2;
      cp = cp << 6 | (byte(k) & 0x3F);
    }
    // Reject overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    if (ok && len == 3) ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
    if (ok && len == 4) ok = cp >= 0x10000 && cp <= 0x10FFFF;
    if (!ok) {
      out += '?';
      ++i;
      continue;
    }
    out.append(comm.substr(i, len));
    i += len;
  }
  return out;
}

// The "ioctl" object's keys by kIo* bit (trace/event.h): only the fields
// ioctl_fields() gives the event. Version 1 wrote all of them for every ioctl
// and named the exception mask "arg0".
constexpr std::array<std::string_view, kIoctlFieldCount> kIoctlKeys = {
    "qid",           "gpu_id",         "queue_type",      "priority",       "percent",
    "ring_addr",     "ring_size",      "dbg_op",          "dbg_target_pid", "dbg_target_tgid",
    "dbg_num_queues", "dbg_grace",     "dbg_exception_mask",
};
constexpr std::uint32_t kAllIoctlFields = (1u << kIoctlFieldCount) - 1;
// Not an ioctl argument but the caller's KFD context: written for a secondary
// context's ioctl only (GP_EVF_SECONDARY), whatever the ioctl.
constexpr std::string_view kIoctlContextKey = "context_id";

std::string_view ioctl_key(std::uint32_t bit, int version) {
  if (bit == kIoArg0 && version == 1) return "arg0";
  return kIoctlKeys[static_cast<std::size_t>(std::countr_zero(bit))];
}

json ioctl_to_json(const gp_event& raw) {
  const gp_ioctl_info& io = raw.io;
  const std::uint32_t has = ioctl_fields(raw);
  json o = json::object();
  auto put = [&](std::uint32_t bit, json v) {
    if (has & bit) o[std::string(ioctl_key(bit, trace::kTraceFormatVersion))] = std::move(v);
  };
  put(kIoQid, io.qid);
  put(kIoGpuId, io.gpu_id);
  put(kIoQueueType, named_code(io.queue_type, ioctl_queue_type_name));
  put(kIoPriority, io.priority);
  put(kIoPercent, io.percent);
  put(kIoRingAddr, hex_u64(io.ring_addr));
  put(kIoRingSize, io.ring_size);
  put(kIoDbgOp, named_code(io.dbg_op, dbg_trap_op_name));
  put(kIoDbgTargetPid, io.dbg_target_pid);
  put(kIoDbgTargetTgid, io.dbg_target_tgid);
  put(kIoDbgNumQueues, io.dbg_num_queues);
  put(kIoDbgGrace, io.dbg_grace);
  put(kIoArg0, hex_u64(io.arg0));
  return o;
}

// Reads the fields in `bits` (each key must be there) into `io`.
void read_ioctl(const Fields& f, std::uint32_t bits, int version, gp_ioctl_info& io) {
  auto key = [&](std::uint32_t bit) { return ioctl_key(bit, version); };
  if (bits & kIoQid) io.qid = f.integer<std::uint32_t>(key(kIoQid));
  if (bits & kIoGpuId) io.gpu_id = f.integer<std::uint32_t>(key(kIoGpuId));
  if (bits & kIoQueueType) io.queue_type = parse_named_code(f, key(kIoQueueType), ioctl_queue_type_name, 16);
  if (bits & kIoPriority) io.priority = f.integer<std::uint32_t>(key(kIoPriority));
  if (bits & kIoPercent) io.percent = f.integer<std::uint32_t>(key(kIoPercent));
  if (bits & kIoRingAddr) io.ring_addr = f.hex(key(kIoRingAddr));
  if (bits & kIoRingSize) io.ring_size = f.integer<std::uint32_t>(key(kIoRingSize));
  if (bits & kIoDbgOp) io.dbg_op = parse_named_code(f, key(kIoDbgOp), dbg_trap_op_name, 64);
  if (bits & kIoDbgTargetPid) io.dbg_target_pid = f.integer<std::uint32_t>(key(kIoDbgTargetPid));
  if (bits & kIoDbgTargetTgid) io.dbg_target_tgid = f.integer<std::uint32_t>(key(kIoDbgTargetTgid));
  if (bits & kIoDbgNumQueues) io.dbg_num_queues = f.integer<std::uint32_t>(key(kIoDbgNumQueues));
  if (bits & kIoDbgGrace) io.dbg_grace = f.integer<std::uint32_t>(key(kIoDbgGrace));
  if (bits & kIoArg0) io.arg0 = f.hex(key(kIoArg0));
}

// `io` with only the fields in `bits`; the others 0, as the BPF side leaves them.
gp_ioctl_info only_fields(const gp_ioctl_info& io, std::uint32_t bits) {
  gp_ioctl_info out{};
  if (bits & kIoQid) out.qid = io.qid;
  if (bits & kIoGpuId) out.gpu_id = io.gpu_id;
  if (bits & kIoQueueType) out.queue_type = io.queue_type;
  if (bits & kIoPriority) out.priority = io.priority;
  if (bits & kIoPercent) out.percent = io.percent;
  if (bits & kIoRingAddr) out.ring_addr = io.ring_addr;
  if (bits & kIoRingSize) out.ring_size = io.ring_size;
  if (bits & kIoDbgOp) out.dbg_op = io.dbg_op;
  if (bits & kIoDbgTargetPid) out.dbg_target_pid = io.dbg_target_pid;
  if (bits & kIoDbgTargetTgid) out.dbg_target_tgid = io.dbg_target_tgid;
  if (bits & kIoDbgNumQueues) out.dbg_num_queues = io.dbg_num_queues;
  if (bits & kIoDbgGrace) out.dbg_grace = io.dbg_grace;
  if (bits & kIoArg0) out.arg0 = io.arg0;
  return out;
}

// Fills r.io from the "ioctl" object (r.kind is set).
//  version 2+: exactly the keys ioctl_fields() gives this event; any other key
//             is refused. dbg_target_tgid is optional (absent: not known, 0).
//  version 1: every key, as that version wrote them, still checked; then the
//             fields this ioctl does not have are dropped (0), so a version 1
//             file reads into the same events as its version 2 rewrite.
void ioctl_from_json(const json& j, int version, gp_event& r) {
  Fields f(j, "ioctl");
  r.io = {};
  if (version == 1) {
    read_ioctl(f, kAllIoctlFields, version, r.io);
    r.io = only_fields(r.io, ioctl_fields(r));
    return;
  }
  const bool dbg_trap = static_cast<EventKind>(r.kind) == EventKind::IoctlDbgTrap;
  // A DBG_TRAP's fields depend on its op and on whether the tgid is known.
  if (dbg_trap) read_ioctl(f, kIoDbgOp | (f.has("dbg_target_tgid") ? kIoDbgTargetTgid : 0), version, r.io);
  const std::uint32_t want = ioctl_fields(r);
  const std::uint32_t allowed = want | (dbg_trap ? kIoDbgTargetTgid : 0);
  // From version 3 a secondary KFD context's ioctl names its context (ids
  // start at 0, so the flag, not the value, tells it from the primary's); no
  // other does. Before, no ioctl record was flagged secondary.
  const bool secondary = version >= 3 && (r.ev_flags & GP_EVF_SECONDARY) != 0;
  for (const auto& [key, value] : j.items()) {
    if (key == kIoctlContextKey) {
      if (!secondary)
        f.fail(key, version >= 3 ? "only an ioctl of a secondary context (flag \"secondary\") names its context"
                                 : fmt::format("not a key of a version {} ioctl", version));
      continue;
    }
    std::uint32_t bit = 0;
    for (unsigned i = 0; i < kIoctlFieldCount; ++i)
      if (kIoctlKeys[i] == key) bit = 1u << i;
    if (!(allowed & bit))
      f.fail(key, fmt::format("not a field of an {} event{}", to_string(static_cast<EventKind>(r.kind)),
                              dbg_trap ? fmt::format(" with dbg_op {}", f.at("dbg_op").dump()) : ""));
  }
  read_ioctl(f, want, version, r.io);
  if (secondary) r.io.context_id = f.integer<std::uint16_t>(std::string(kIoctlContextKey));
}

// One /dev/kfd ioctl (watch --ioctls). The request's parts and the decoded
// argument fields are derived from cmd and data; only cmd, arg and data are
// read back.
json kfd_ioctl_to_json(const gp_kfd_ioctl_info& k) {
  // _IOC_WRITE (1): user space writes the argument to KFD; _IOC_READ (2): KFD writes it back.
  static constexpr std::array<std::string_view, 4> kDir = {"none", "in", "out", "inout"};
  const std::uint32_t nr = k.cmd & 0xff;
  std::string data;
  for (std::uint32_t i = 0; i < k.data_len && i < GP_KFD_IOCTL_DATA; ++i) data += fmt::format("{:02x}", k.data[i]);
  json j = {
      {"cmd", fmt::format("{:#x}", k.cmd)},
      {"nr", nr},
      {"name", kfd_ioctl_known(k.cmd) ? json(std::string(kfd_ioctl_name(nr))) : json(nullptr)},
      {"dir", kDir[k.cmd >> 30]},
      {"size", (k.cmd >> 16) & 0x3fff},
      {"arg", hex_u64(k.arg)},
      {"data", data},
  };
  json args = json::object();
  for (const auto& f : kfd_ioctl_fields(k)) {
    using F = KfdIoctlField::Fmt;
    args[std::string(f.name)] = f.fmt == F::Hex      ? json(hex_u64(f.value))
                                : f.fmt == F::Signed ? json(static_cast<std::int64_t>(f.value))
                                                     : json(f.value);
  }
  if (!args.empty()) j["args"] = std::move(args);
  return j;
}

gp_kfd_ioctl_info kfd_ioctl_from_json(const json& j) {
  Fields f(j, "kfd_ioctl");
  gp_kfd_ioctl_info k{};
  const std::uint64_t cmd = f.hex("cmd");
  if (cmd > std::numeric_limits<std::uint32_t>::max()) f.fail("cmd", "more than 32 bits");
  k.cmd = static_cast<std::uint32_t>(cmd);
  k.arg = f.hex("arg");
  const std::string& data = f.string("data");
  if (data.size() % 2 || data.size() > 2 * GP_KFD_IOCTL_DATA)
    f.fail("data", fmt::format("expected at most {} bytes as hex digit pairs", GP_KFD_IOCTL_DATA));
  for (std::size_t i = 0; i < data.size(); i += 2) {
    unsigned byte = 0;
    if (std::sscanf(data.c_str() + i, "%2x", &byte) != 1 || !std::isxdigit(static_cast<unsigned char>(data[i])) ||
        !std::isxdigit(static_cast<unsigned char>(data[i + 1])))
      f.fail("data", "not hex");
    k.data[i / 2] = static_cast<std::uint8_t>(byte);
  }
  k.data_len = static_cast<std::uint16_t>(data.size() / 2);
  return k;
}

json process_to_json(const gp_process_info& p) {
  return {
      {"proc", hex_u64(p.proc_kptr)}, {"pasid", p.pasid},           {"gpu_id", p.gpu_id},
      {"context_id", p.context_id},   {"queue_count", p.queue_count},
  };
}

gp_process_info process_from_json(const json& j) {
  Fields f(j, "process");
  gp_process_info p{};
  p.proc_kptr = f.hex("proc");
  p.pasid = f.integer<std::uint32_t>("pasid");
  p.gpu_id = f.integer<std::uint32_t>("gpu_id");
  p.context_id = f.integer<std::uint16_t>("context_id");
  p.queue_count = f.integer<std::uint32_t>("queue_count");
  return p;
}

// ~0 in a u32 field means "none" (no queue, no eviction trigger): JSON null.
constexpr std::uint32_t kNone = ~0u;

json preempt_to_json(const gp_preempt_info& p) {
  return {
      {"t0_ns", p.t0_ns},
      {"send_entry_ns", p.send_entry_ns},
      {"send_return_ns", p.send_return_ns},
      {"fence_return_ns", p.fence_return_ns},
      {"total_ns", p.total_ns},
      {"remap_ns", p.remap_ns},
      {"gpu_id", p.gpu_id},
      {"filter", p.filter},
      {"grace", p.grace},
      {"fence_ret", p.fence_ret},
      {"victims", p.victims},
      {"flags", flag_list(p.flags, 32, preempt_flag_name)},
      {"cause_pid", p.cause_tgid},
      {"cause_qid", p.cause_qid == kNone ? json(nullptr) : json(p.cause_qid)},
      {"packet_sent", p.packet_sent != 0},
      {"mes", p.mes != 0},
      {"reset", p.reset != 0},
      {"mes_add", p.mes_add != 0},
      {"doorbell_off", p.doorbell_off},
      {"trigger", p.trigger == kNone ? json(nullptr) : json(p.trigger)},
      {"end_ns", p.end_ns},
  };
}

// Versions 1 and 2 had "seq" (32 bits) here and no "flags": the seq is
// returned in *v1_seq.
gp_preempt_info preempt_from_json(const json& j, int version, std::uint64_t* v1_seq) {
  Fields f(j, "preempt");
  gp_preempt_info p{};
  p.t0_ns = f.integer<std::uint64_t>("t0_ns");
  p.send_entry_ns = f.integer<std::uint32_t>("send_entry_ns");
  p.send_return_ns = f.integer<std::uint32_t>("send_return_ns");
  p.fence_return_ns = f.integer<std::uint32_t>("fence_return_ns");
  p.total_ns = f.integer<std::uint32_t>("total_ns");
  p.remap_ns = f.integer<std::uint32_t>("remap_ns");
  p.gpu_id = f.integer<std::uint32_t>("gpu_id");
  p.filter = f.integer<std::uint32_t>("filter");
  p.grace = f.integer<std::uint32_t>("grace");
  p.fence_ret = f.integer<std::int32_t>("fence_ret");
  p.victims = f.integer<std::uint32_t>("victims");
  if (version <= 2)
    *v1_seq = f.integer<std::uint32_t>("seq");
  else
    p.flags = static_cast<std::uint32_t>(f.flag_list("flags", preempt_flag_bit));
  p.cause_tgid = f.integer<std::uint32_t>("cause_pid");
  p.cause_qid = f.at("cause_qid").is_null() ? kNone : f.integer<std::uint32_t>("cause_qid");
  p.packet_sent = f.boolean("packet_sent");
  p.mes = f.boolean("mes");
  p.reset = f.boolean("reset");
  p.mes_add = f.boolean("mes_add");
  p.doorbell_off = f.integer<std::uint32_t>("doorbell_off");
  p.trigger = f.at("trigger").is_null() ? kNone : f.integer<std::uint32_t>("trigger");
  p.end_ns = f.integer<std::uint64_t>("end_ns");
  return p;
}

}  // namespace

std::string hex_u64(std::uint64_t v) { return fmt::format("{:#x}", v); }

std::uint64_t parse_hex_u64(const json& v, const std::string& what) {
  auto bad = [&] {
    return EventJsonError(
        fmt::format("{}: expected a hex string like \"0x1000\", got {}", what, v.dump()));
  };
  if (!v.is_string()) throw bad();
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() < 3 || s.size() > 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) throw bad();
  std::uint64_t out = 0;
  for (std::size_t i = 2; i < s.size(); ++i) {
    char c = s[i];
    unsigned d = c >= '0' && c <= '9'   ? c - '0'
                 : c >= 'a' && c <= 'f' ? c - 'a' + 10
                 : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                        : 16;
    if (d == 16) throw bad();
    out = out << 4 | d;
  }
  return out;
}

bool carries_seq(EventKind k) { return k == EventKind::Preempt || k == EventKind::PreemptVictim; }

Payload payload_of(const gp_event& raw) {
  if (raw.ev_flags & GP_EVF_HAS_QUEUE) return Payload::Queue;
  switch (static_cast<EventKind>(raw.kind)) {
    case EventKind::QueueAdd:
    case EventKind::QueueRemove:
    case EventKind::QueueSnapshot:
    case EventKind::QueueState:
      return Payload::Queue;
    case EventKind::IoctlCreateQueue:
    case EventKind::IoctlDestroyQueue:
    case EventKind::IoctlUpdateQueue:
    case EventKind::IoctlDbgTrap:
    case EventKind::IoctlDestroyBegin:
      return Payload::Ioctl;
    case EventKind::ProcessSweep:
    case EventKind::QpdTerminate:
    case EventKind::ProcessCreate:
    case EventKind::ProcessRelease:
    case EventKind::ProcessFree:
      return Payload::Process;
    case EventKind::Preempt:
    case EventKind::PreemptVictim:
      return Payload::Preempt;
    case EventKind::KfdIoctl:
      return Payload::KfdIoctl;
  }
  return Payload::Preempt;  // unreachable for decoded events
}

json queue_to_json(const gp_queue_info& q) {
  return {
      {"kptr", hex_u64(q.queue_kptr)},
      {"proc", hex_u64(q.proc_kptr)},
      {"qid", q.qid},
      {"gpu_id", q.gpu_id},
      {"type", queue_type_name(q.type)},
      {"format", queue_format_name(q.format)},
      {"priority", q.priority},
      {"percent", q.percent},
      {"ring_addr", hex_u64(q.ring_addr)},
      {"ring_size", q.ring_size},
      {"rptr_addr", hex_u64(q.rptr_addr)},
      {"wptr_addr", hex_u64(q.wptr_addr)},
      {"ctx_save_addr", hex_u64(q.ctx_save_addr)},
      {"ctx_save_size", q.ctx_save_size},
      {"doorbell_off", q.doorbell_off},
      {"context_id", q.context_id},
      {"sdma_engine", q.sdma_engine},
      {"flags", flag_list(q.flags, 8, [](unsigned b) { return std::string(queue_flag_name(b)); })},
  };
}

gp_queue_info queue_from_json(const json& j) {
  Fields f(j, "queue");
  gp_queue_info q{};
  q.queue_kptr = f.hex("kptr");
  q.proc_kptr = f.hex("proc");
  q.qid = f.integer<std::uint32_t>("qid");
  q.gpu_id = f.integer<std::uint32_t>("gpu_id");
  auto type = queue_type_from_name(f.string("type"));
  if (!type) f.fail("type", fmt::format("unknown queue type \"{}\"", f.string("type")));
  q.type = *type;
  const std::string& format = f.string("format");
  if (format == "pm4") q.format = GP_QFMT_PM4;
  else if (format == "aql") q.format = GP_QFMT_AQL;
  else f.fail("format", fmt::format("unknown queue format \"{}\" (pm4 or aql)", format));
  q.priority = f.integer<std::uint8_t>("priority");
  q.percent = f.integer<std::uint8_t>("percent");
  q.ring_addr = f.hex("ring_addr");
  q.ring_size = f.integer<std::uint64_t>("ring_size");
  q.rptr_addr = f.hex("rptr_addr");
  q.wptr_addr = f.hex("wptr_addr");
  q.ctx_save_addr = f.hex("ctx_save_addr");
  q.ctx_save_size = f.integer<std::uint32_t>("ctx_save_size");
  q.doorbell_off = f.integer<std::uint32_t>("doorbell_off");
  q.context_id = f.integer<std::uint16_t>("context_id");
  q.sdma_engine = f.integer<std::uint8_t>("sdma_engine");
  q.flags = static_cast<std::uint8_t>(f.flag_list("flags", queue_flag_bit));
  return q;
}

json to_json(const Event& ev) {
  const gp_event& r = ev.raw;
  json j = {
      {"type", "event"},
      {"ts_ns", r.ts_ns},
      {"kind", to_string(ev.kind())},
      {"cause", to_string(ev.cause())},
      {"pid", r.tgid},
      {"tid", r.tid},
      {"acting_pid", r.acting_tgid},
      {"comm", utf8_comm(ev.comm())},
      {"ret", r.ret},
      {"aux", r.aux},
  };
  if (carries_seq(ev.kind())) j["seq"] = r.seq;
  if (r.ev_flags != 0) j["flags"] = flag_list(r.ev_flags, 32, event_flag_name);
  switch (payload_of(r)) {
    case Payload::Queue: j["queue"] = queue_to_json(r.q); break;
    case Payload::Ioctl:
      j["ioctl"] = ioctl_to_json(r);
      // Only a secondary context's ioctl names its context.
      if (r.ev_flags & GP_EVF_SECONDARY) j["ioctl"][std::string(kIoctlContextKey)] = r.io.context_id;
      break;
    case Payload::Process: j["process"] = process_to_json(r.proc); break;
    case Payload::Preempt: j["preempt"] = preempt_to_json(r.pre); break;
    case Payload::KfdIoctl: j["kfd_ioctl"] = kfd_ioctl_to_json(r.kio); break;
  }
  return j;
}

Event event_from_json(const json& j, int version) {
  if (version < trace::kOldestTraceFormatVersion || version > trace::kTraceFormatVersion)
    throw EventJsonError(fmt::format("trace format version {} is not supported", version));
  Fields f(j, "");
  if (f.string("type") != "event") f.fail("type", fmt::format("expected \"event\", got \"{}\"", f.string("type")));
  gp_event r{};
  r.ts_ns = f.integer<std::uint64_t>("ts_ns");
  auto kind = event_kind_from_string(f.string("kind"));
  if (!kind) f.fail("kind", fmt::format("unknown event kind \"{}\"", f.string("kind")));
  r.kind = static_cast<std::uint32_t>(*kind);
  auto cause = cause_from_string(f.string("cause"));
  if (!cause) f.fail("cause", fmt::format("unknown cause \"{}\"", f.string("cause")));
  r.cause = static_cast<std::uint32_t>(*cause);
  r.tgid = f.integer<std::uint32_t>("pid");
  r.tid = f.integer<std::uint32_t>("tid");
  r.acting_tgid = f.integer<std::uint32_t>("acting_pid");
  r.ret = f.integer<std::int32_t>("ret");
  r.aux = f.integer<std::uint32_t>("aux");
  const std::string& comm = f.string("comm");
  if (comm.size() >= GP_COMM_LEN || comm.find('\0') != std::string::npos)
    f.fail("comm", fmt::format("longer than {} bytes or contains NUL", GP_COMM_LEN - 1));
  std::memcpy(r.comm, comm.data(), comm.size());
  if (f.has("flags")) r.ev_flags = static_cast<std::uint32_t>(f.flag_list("flags", event_flag_bit));

  // Exactly the payload the kind uses; another one present means the line was
  // written by something else than to_json (or edited by hand): refuse it.
  static constexpr std::array<std::string_view, 5> kPayloadKeys = {"queue", "ioctl", "process",
                                                                   "preempt", "kfd_ioctl"};
  Payload want = payload_of(r);
  for (std::size_t i = 0; i < kPayloadKeys.size(); ++i)
    if (static_cast<Payload>(i) != want && f.has(kPayloadKeys[i]))
      f.fail(kPayloadKeys[i], fmt::format("not a payload of a {} event", f.string("kind")));
  std::uint64_t v1_seq = 0;
  switch (want) {
    case Payload::Queue: r.q = queue_from_json(f.at("queue")); break;
    case Payload::Ioctl: ioctl_from_json(f.at("ioctl"), version, r); break;
    case Payload::Process: r.proc = process_from_json(f.at("process")); break;
    case Payload::Preempt: r.pre = preempt_from_json(f.at("preempt"), version, &v1_seq); break;
    case Payload::KfdIoctl: r.kio = kfd_ioctl_from_json(f.at("kfd_ioctl")); break;
  }
  if (carries_seq(static_cast<EventKind>(r.kind))) {
    if (version >= 3)
      r.seq = f.integer<std::uint64_t>("seq");
    else if (want == Payload::Queue)  // versions 1 and 2: a victim with its queue kept the seq in aux,
      r.seq = std::exchange(r.aux, 0);  // which is 0 since (bpf/preempt.bpf.c), as in a version 3 line
    else
      r.seq = v1_seq;
  } else if (f.has("seq")) {
    f.fail("seq", fmt::format("not a key of a {} event", f.string("kind")));
  }

  DecodeResult checked = decode(&r, sizeof r);
  if (!checked.event) throw EventJsonError(fmt::format("invalid event: {}", to_string(checked.error)));
  return *checked.event;
}

}  // namespace gp
