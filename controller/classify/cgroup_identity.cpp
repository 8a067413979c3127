#include "classify/cgroup_identity.h"

#include <algorithm>
#include <array>
#include <vector>

namespace gp {
namespace {

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool all_lower_hex(std::string_view s) { return std::all_of(s.begin(), s.end(), is_lower_hex); }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// A Kubernetes pod UID as it appears in a cgroup name: the 36-character UUID
// (dashes, or underscores in systemd slice names, at 8/13/18/23), or 32 hex digits
// (static and mirror pods: the UID is the hash of the manifest). Returns the
// canonical dashed form, or "" when `s` is not one.
std::string pod_uid_from(std::string_view s) {
  if (s.size() == 32) return all_lower_hex(s) ? std::string(s) : std::string();
  if (s.size() != 36) return {};
  std::string out(s);
  for (size_t i = 0; i < out.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (out[i] != '-' && out[i] != '_') return {};
      out[i] = '-';
    } else if (!is_lower_hex(out[i])) {
      return {};
    }
  }
  return out;
}

struct ContainerMatch {
  std::string id;
  std::string runtime;
  std::string driver;
};

// Runtime prefixes of a container's cgroup (systemd scope "<prefix>-<id>.scope", or the
// same name without ".scope" under cgroupfs). Longer prefixes first.
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kPrefixes{{
    {"cri-containerd-", "containerd"},
    {"crio-conmon-", "crio-conmon"},
    {"crio-", "crio"},
    {"docker-", "docker"},
    {"libpod-conmon-", "podman-conmon"},
    {"libpod-", "podman"},
}};

bool container_from_segment(std::string_view seg, std::string_view parent, ContainerMatch& m) {
  std::string_view name = seg;
  bool scope = ends_with(name, ".scope");
  if (scope) name.remove_suffix(6);
  for (const auto& [prefix, runtime] : kPrefixes) {
    if (starts_with(name, prefix)) {
      std::string_view id = name.substr(prefix.size());
      if (id.size() == 64 && all_lower_hex(id)) {
        m = {std::string(id), std::string(runtime), scope ? "systemd" : "cgroupfs"};
        return true;
      }
    }
  }
  if (!scope && name.size() == 64 && all_lower_hex(name)) {
    // cgroupfs driver: the bare id (kubelet + containerd/docker with cgroupfs; plain
    // docker with cgroupfs puts it under /docker).
    m = {std::string(name), parent == "docker" ? "docker" : "", "cgroupfs"};
    return true;
  }
  return false;
}

struct PodMatch {
  std::string uid;
  std::string qos;
  std::string driver;
};

std::string qos_from_token(std::string_view t) {
  if (t == "burstable" || t == "besteffort") return std::string(t);
  if (t == "kubepods") return "guaranteed";
  return {};
}

// systemd driver: "kubepods-burstable-pod<uid_>.slice", "kubepods-pod<uid_>.slice" (guaranteed),
// and prefixed variants such as kind's "kubelet-kubepods-besteffort-pod<uid_>.slice".
// cgroupfs driver: "pod<uid>" under "kubepods", "kubepods/burstable" or "kubepods/besteffort".
bool pod_from_segment(std::string_view seg, std::string_view parent, PodMatch& m) {
  if (ends_with(seg, ".slice")) {
    std::string_view name = seg.substr(0, seg.size() - 6);
    size_t dash = name.rfind('-');
    std::string_view last = dash == std::string_view::npos ? name : name.substr(dash + 1);
    if (!starts_with(last, "pod")) return false;
    std::string uid = pod_uid_from(last.substr(3));
    if (uid.empty()) return false;
    std::string qos;
    if (dash != std::string_view::npos) {
      std::string_view before = name.substr(0, dash);
      size_t d2 = before.rfind('-');
      qos = qos_from_token(d2 == std::string_view::npos ? before : before.substr(d2 + 1));
    }
    m = {uid, qos, "systemd"};
    return true;
  }
  if (starts_with(seg, "pod")) {
    std::string uid = pod_uid_from(seg.substr(3));
    if (uid.empty()) return false;
    m = {uid, qos_from_token(parent), "cgroupfs"};
    return true;
  }
  return false;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

int score(const CgroupIdentity& id) {
  if (!id.pod_uid.empty() && !id.container_id.empty()) return 4;
  if (!id.container_id.empty()) return 3;
  if (!id.pod_uid.empty()) return 2;
  if (!id.unit.empty()) return 1;
  return 0;
}

}  // namespace

CgroupIdentity parse_cgroup_path(std::string_view path) {
  CgroupIdentity id;
  // In another cgroup namespace the kernel prints the path relative to the reader's
  // namespace root, so a host process reads as "/../../kubepods.slice/...".
  while (starts_with(path, "/..")) {
    id.outside_cgroupns = true;
    path.remove_prefix(3);
  }
  id.path = path.empty() ? "/" : std::string(path);

  auto segs = split_path(path);
  bool have_pod = false, have_ctr = false, ctr_after_pod = false;
  for (size_t i = 0; i < segs.size(); ++i) {
    std::string_view seg = segs[i];
    std::string_view parent = i ? segs[i - 1] : std::string_view();

    if (ends_with(seg, ".service") || ends_with(seg, ".scope")) id.unit = std::string(seg);

    // containerd's systemd cgroups path on cgroup v1 hosts where runc did not expand it:
    // "kubepods-besteffort-pod<uid_>.slice:cri-containerd:<id>" as one directory name.
    size_t c1 = seg.find(':');
    if (c1 != std::string_view::npos) {
      size_t c2 = seg.find(':', c1 + 1);
      if (c2 != std::string_view::npos) {
        std::string_view slice = seg.substr(0, c1), prefix = seg.substr(c1 + 1, c2 - c1 - 1),
                         cid = seg.substr(c2 + 1);
        PodMatch pm;
        if (!have_pod && pod_from_segment(slice, "", pm)) {
          id.pod_uid = pm.uid;
          id.qos = pm.qos;
          id.driver = "systemd";
          have_pod = true;
        }
        if (!have_ctr && cid.size() == 64 && all_lower_hex(cid)) {
          id.container_id = std::string(cid);
          id.runtime = prefix == "cri-containerd" ? "containerd" : std::string(prefix);
          id.driver = "systemd";
          have_ctr = true;
          ctr_after_pod = have_pod;
        }
        continue;
      }
    }

    PodMatch pm;
    if (!have_pod && pod_from_segment(seg, parent, pm)) {
      id.pod_uid = pm.uid;
      id.qos = pm.qos;
      id.driver = pm.driver;
      have_pod = true;
      continue;
    }
    ContainerMatch cm;
    if (container_from_segment(seg, parent, cm)) {
      // Keep the outermost container, except that the first one below the pod wins
      // over one found above it (a kind/minikube node is itself a container).
      if (!have_ctr || (have_pod && !ctr_after_pod)) {
        id.container_id = cm.id;
        id.runtime = cm.runtime;
        if (id.driver.empty()) id.driver = cm.driver;
        have_ctr = true;
        ctr_after_pod = have_pod;
      }
    }
  }
  return id;
}

CgroupIdentity parse_cgroup(std::string_view text) {
  CgroupIdentity best;
  int best_score = -1, best_rank = 99;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t a = line.find(':');
    if (a == std::string_view::npos) continue;
    size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    std::string_view hier = line.substr(0, a), ctrls = line.substr(a + 1, b - a - 1),
                     path = line.substr(b + 1);
    bool unified = hier == "0" && ctrls.empty();
    int rank = unified ? 0 : ctrls == "name=systemd" ? 1 : ctrls == "memory" ? 2 : 3;
    CgroupIdentity id = parse_cgroup_path(path);
    id.cgroup_version = unified ? 2 : 1;
    int s = score(id);
    if (s > best_score || (s == best_score && rank < best_rank)) {
      best = std::move(id);
      best_score = s;
      best_rank = rank;
    }
  }
  return best;
}

}  // namespace gp
