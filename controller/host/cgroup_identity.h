// Pod / container identity of a process from the text of /proc/PID/cgroup.
// Shared by the metrics (pod_uid / container_id labels) and the agent's classifier.
#pragma once

#include <string>
#include <string_view>

namespace gp {

struct CgroupIdentity {
  std::string path;          // the cgroup path the identity came from (cgroupns "/.." prefix removed)
  std::string pod_uid;       // "55c6c714-b240-4dec-9a45-57b61696ab6e", or 32 hex for static/mirror pods; "" if none
  std::string container_id;  // 64 lower-case hex; "" if none
  std::string qos;           // "guaranteed" | "burstable" | "besteffort" | "" (not a pod)
  std::string runtime;       // "containerd" | "crio" | "crio-conmon" | "docker" | "podman" | "podman-conmon" | "" (not named by the path)
  std::string driver;        // cgroup driver that named the pod/container: "systemd" | "cgroupfs" | ""
  std::string unit;          // innermost systemd unit (*.service / *.scope) of the path, "" if none
  int cgroup_version = 0;    // 2: the path came from a "0::" line; 1: from a v1 controller line; 0: nothing parsed
  bool outside_cgroupns = false;  // the path started with "/..": the reader is in another cgroup namespace
};

// Parses the whole text of /proc/PID/cgroup (one or many lines). For cgroup v1 and hybrid
// hosts it looks at every line and keeps the most informative one (pod + container >
// container > unit), preferring the unified "0::" line, then "name=systemd", then "memory"
// on ties. Never throws; unknown formats give an identity with only `path` / `unit` set.
CgroupIdentity parse_cgroup(std::string_view text);

// Parses one cgroup path (the third field of a line).
CgroupIdentity parse_cgroup_path(std::string_view path);

}  // namespace gp
