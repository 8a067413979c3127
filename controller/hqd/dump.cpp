#include "hqd/dump.h"

#include <charconv>
#include <cctype>

#include <fmt/format.h>

namespace gp::hqd {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A tiny cursor over one line: literal words and numbers, spaces ignored
// between tokens (the kernel's spacing changed between versions).
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool lit(std::string_view w) {
    skip();
    if (s_.substr(0, w.size()) != w) return false;
    s_.remove_prefix(w.size());
    return true;
  }
  bool num(std::uint32_t& v, int base = 10) {
    skip();
    auto [p, ec] = std::from_chars(s_.data(), s_.data() + s_.size(), v, base);
    if (ec != std::errc() || p == s_.data()) return false;
    s_.remove_prefix(static_cast<std::size_t>(p - s_.data()));
    return true;
  }
  bool done() {
    skip();
    return s_.empty();
  }

 private:
  void skip() {
    while (!s_.empty() && s_.front() == ' ') s_.remove_prefix(1);
  }
  std::string_view s_;
};

bool parse_node(std::string_view line, RawNode& n) {
  Cursor c(line);
  return c.lit("Node") && c.num(n.node) && c.lit(",") && c.lit("gpu_id") && c.num(n.gpu_id, 16) &&
         c.lit(":") && c.done();
}

bool parse_block(std::string_view line, RawBlock& b) {
  Cursor c(line);
  std::uint32_t x = 0;
  if (c.lit("Inst")) {
    if (!c.num(x) || !c.lit(",")) return false;
    b.xcc = static_cast<int>(x);
  }
  if (c.lit("HIQ")) {
    b.kind = HqdKind::Hiq;
    return c.lit("on") && c.lit("MEC") && c.num(b.mec) && c.lit("Pipe") && c.num(b.pipe) &&
           c.lit("Queue") && c.num(b.queue) && c.done();
  }
  if (c.lit("CP")) {
    b.kind = HqdKind::Cp;
    return c.lit("Pipe") && c.num(b.pipe) && c.lit(",") && c.lit("Queue") && c.num(b.queue) && c.done();
  }
  if (b.xcc < 0 && c.lit("SDMA")) {
    b.kind = HqdKind::Sdma;
    return c.lit("Engine") && c.num(b.pipe) && c.lit(",") && c.lit("RLC") && c.num(b.queue) && c.done();
  }
  return false;
}

// "<addr>: <val> <val> ..." -> consecutive dwords from addr.
bool parse_regs(std::string_view line, std::vector<RawReg>& out) {
  Cursor c(line);
  std::uint32_t addr = 0;
  if (!c.num(addr, 16) || !c.lit(":")) return false;
  std::vector<RawReg> regs;
  std::uint32_t v = 0;
  while (!c.done()) {
    if (!c.num(v, 16)) return false;
    regs.push_back({addr, v});
    addr += 4;
  }
  if (regs.empty()) return false;
  out.insert(out.end(), regs.begin(), regs.end());
  return true;
}

std::uint64_t pair64(std::uint32_t hi, std::uint32_t lo) { return (std::uint64_t{hi} << 32) | lo; }

}  // namespace

std::string_view to_string(HqdKind k) {
  switch (k) {
    case HqdKind::Hiq: return "hiq";
    case HqdKind::Cp: return "cp";
    case HqdKind::Sdma: return "sdma";
  }
  return "?";
}

ParsedHqds parse_hqds(std::string_view text) {
  ParsedHqds out;
  std::size_t lineno = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view raw = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++lineno;
    const std::string_view line = trim(raw);
    if (line.empty()) continue;
    auto error = [&](std::string_view why) {
      out.errors.push_back(fmt::format("line {}: {}: \"{}\"", lineno, why, line.substr(0, 80)));
    };
    RawNode node;
    if (parse_node(line, node)) {
      out.nodes.push_back(std::move(node));
      continue;
    }
    if (out.nodes.empty()) {
      error("expected \"Node <n>, gpu_id <hex>:\"");
      continue;
    }
    RawNode& cur = out.nodes.back();
    if (line == "Device is stopped") {
      cur.stopped = true;
      continue;
    }
    RawBlock block;
    block.line = lineno;
    if (parse_block(line, block)) {
      cur.blocks.push_back(std::move(block));
      continue;
    }
    if (std::isxdigit(static_cast<unsigned char>(line.front()))) {
      if (cur.blocks.empty()) {
        error("registers before any HIQ/CP/SDMA header");
        continue;
      }
      if (!parse_regs(line, cur.blocks.back().regs)) error("not a register line");
      continue;
    }
    error("unrecognised line");
  }
  return out;
}

std::string decode_block(const RawBlock& b, const GcLayout& layout, Hqd& h) {
  h.kind = b.kind;
  h.xcc = b.xcc;
  h.mec = b.mec;
  h.pipe = b.pipe;
  h.queue = b.queue;
  const bool sdma = b.kind == HqdKind::Sdma;
  const std::uint32_t want = sdma ? sdma_dump_count(layout.sdma) : cp_dump_count(layout.cp);
  if (b.regs.size() != want)
    return fmt::format("line {}: {} block has {} registers, GC {} dumps {}{}", b.line, to_string(b.kind),
                       b.regs.size(), layout.gc, want, b.regs.size() < want ? " (truncated?)" : "");
  std::string err;
  // Value of one register, after checking it sits where the layout says.
  auto reg = [&](std::uint32_t offset) -> std::uint32_t {
    DumpSlot slot{};
    if (sdma) {
      auto s = sdma_slot(layout.sdma, offset);
      if (!s) return 0;  // table bug, caught by the register-table unit test
      slot = *s;
    } else {
      slot = cp_slot(layout.cp, offset);
    }
    const std::uint32_t delta = b.regs[slot.index].addr - b.regs[0].addr;
    if (delta != slot.dword_delta * 4 && err.empty())
      err = fmt::format("line {}: register {:#x} of the GC {} layout is at byte distance {:#x}, expected {:#x}",
                        b.line, offset, layout.gc, delta, slot.dword_delta * 4);
    return b.regs[slot.index].value;
  };
  if (sdma) {
    const auto& o = layout.sdma;
    h.active = (reg(o.rb_cntl) & kSdmaRbEnableMask) != 0;
    h.ring = pair64(reg(o.rb_base_hi), reg(o.rb_base)) << 8;
    h.doorbell = (reg(o.doorbell_offset) & kSdmaDoorbellOffsetMask) >> kSdmaDoorbellOffsetShift;
    h.doorbell_enabled = true;
    reg(o.midcmd_cntl);  // checks the last run's distance too
  } else {
    const auto& o = layout.cp;
    h.active = (reg(o.hqd_active) & kCpHqdActiveMask) != 0;
    h.vmid = reg(o.hqd_vmid) & kCpHqdVmidMask;
    h.ring = pair64(reg(o.pq_base_hi), reg(o.pq_base)) << 8;
    const std::uint32_t db = reg(o.pq_doorbell_control);
    h.doorbell = (db & kCpDoorbellOffsetMask) >> kCpDoorbellOffsetShift;
    h.doorbell_enabled = (db & kCpDoorbellEnMask) != 0;
    h.mqd = pair64(reg(o.mqd_base_addr_hi), reg(o.mqd_base_addr));
    h.ring_bytes = std::uint64_t{4} << ((reg(o.pq_control) & kCpPqQueueSizeMask) + 1);
    h.ctx_save = pair64(reg(o.ctx_save_base_hi), reg(o.ctx_save_base_lo));
    reg(o.pq_wptr_hi);
  }
  return err;
}

std::vector<DecodedGpu> decode_hqds(const ParsedHqds& parsed,
                                    const std::map<std::uint32_t, std::uint32_t>& gfx_target_versions) {
  std::vector<DecodedGpu> out;
  for (const auto& node : parsed.nodes) {
    DecodedGpu g;
    g.node = node.node;
    g.gpu_id = node.gpu_id;
    g.stopped = node.stopped;
    auto decode_all = [&](const GcLayout& l, std::vector<Hqd>& hqds, std::vector<std::string>& errs) {
      for (const auto& b : node.blocks) {
        Hqd h;
        h.node = node.node;
        h.gpu_id = node.gpu_id;
        if (auto e = decode_block(b, l, h); !e.empty()) errs.push_back(std::move(e));
        else hqds.push_back(h);
      }
    };
    const auto v = gfx_target_versions.find(node.gpu_id);
    if (v != gfx_target_versions.end()) {
      g.layout = layout_for_gfx_target(v->second);
      if (!g.layout) {
        g.errors.push_back(fmt::format("gfx_target_version {} is not GC 9.x: its HQD registers are not "
                                       "known to this tool, nothing decoded",
                                       v->second));
      } else {
        g.layout_note = fmt::format("GC {} from topology gfx_target_version {}", g.layout->gc, v->second);
        decode_all(*g.layout, g.hqds, g.errors);
      }
    } else {
      // No topology entry: take the first layout every block fits.
      for (const auto& l : gc_layouts()) {
        std::vector<Hqd> hqds;
        std::vector<std::string> errs;
        decode_all(l, hqds, errs);
        if (errs.empty()) {
          g.layout = &l;
          g.layout_note = fmt::format("GC version unknown (no topology entry for gpu_id {:#x}); "
                                      "the dump fits the GC {} layout",
                                      node.gpu_id, l.gc);
          g.hqds = std::move(hqds);
          break;
        }
      }
      if (!g.layout && !node.blocks.empty())
        g.errors.push_back(fmt::format("gpu_id {:#x}: GC version unknown and the dump fits no known GC 9.x "
                                       "layout, nothing decoded",
                                       node.gpu_id));
    }
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace gp::hqd
