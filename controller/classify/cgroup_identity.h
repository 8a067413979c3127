// Pod and container identity of a process, from the text of /proc/PID/cgroup.
//
// Kubernetes names a pod's cgroup after its UID and the container runtime
// names the container's after its ID, in both cgroup drivers (systemd slices
// and scopes, cgroupfs directories) and both cgroup versions. The parser
// looks at each path segment, not at a fixed layout: the path may be
// prefixed (a kind or minikube node is itself /docker/<id>; kubelet's
// --cgroup-root), or start with "/.." when the reader is in another cgroup
// namespace. The formats, with their sources: docs/agent.md#pod-identity.
#pragma once

#include <string>
#include <string_view>

namespace gp {

struct CgroupIdentity {
  std::string path;          // the cgroup path the identity came from ("/.." prefix removed)
  std::string pod_uid;       // "55c6c714-b240-4dec-9a45-57b61696ab6e", or 32 hex for static/mirror pods; "" if none
  std::string container_id;  // 64 lower-case hex; "" if none
  std::string qos;           // "guaranteed" | "burstable" | "besteffort" | "" (not a pod, or not told)
  std::string runtime;       // "containerd" | "crio" | "crio-conmon" | "docker" | "podman" | "podman-conmon" | ""
  std::string driver;        // cgroup driver that named the pod/container: "systemd" | "cgroupfs" | ""
  std::string unit;          // innermost systemd unit (*.service / *.scope) of the path, "" if none
  int cgroup_version = 0;    // 2: from the "0::" line; 1: from a v1 controller line; 0: nothing parsed
  bool outside_cgroupns = false;  // the path started with "/..": the reader is in another cgroup namespace
};

// The whole text of /proc/PID/cgroup (one or many lines). On v1 and hybrid
// hosts every line is looked at and the most informative kept (pod and
// container > container > pod > unit), the unified "0::" line first on
// ties, then "name=systemd", then "memory". Never throws; an unknown format
// gives an identity with only `path` (and maybe `unit`) set.
CgroupIdentity parse_cgroup(std::string_view text);

// One cgroup path (the third field of a line).
CgroupIdentity parse_cgroup_path(std::string_view path);

}  // namespace gp
