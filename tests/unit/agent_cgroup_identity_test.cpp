// parse_cgroup on real /proc/PID/cgroup text. Each case names where the string was
// published; "composed" means the path is real (a cgroup directory shown by
// systemd-cgls / a tree listing / an error message) and only the "0::" or "N:ctrl:"
// line prefix was added.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "classify/cgroup_identity.h"

using gp::CgroupIdentity;
using gp::parse_cgroup;
using gp::parse_cgroup_path;

namespace {

struct Want {
  std::string pod_uid, container_id, qos, runtime, unit, driver;
  int version;
};

void expect(const CgroupIdentity& got, const Want& w) {
  EXPECT_EQ(got.pod_uid, w.pod_uid);
  EXPECT_EQ(got.container_id, w.container_id);
  EXPECT_EQ(got.qos, w.qos);
  EXPECT_EQ(got.runtime, w.runtime);
  EXPECT_EQ(got.unit, w.unit);
  EXPECT_EQ(got.driver, w.driver);
  EXPECT_EQ(got.cgroup_version, w.version);
}

}  // namespace

// ---- cgroup v2, systemd driver ------------------------------------------------------

// netdata/netdata#4868 (systemd-cgls tree of a containerd node), composed.
TEST(AgentCgroupCgroupV2Systemd, ContainerdBurstable) {
  expect(parse_cgroup("0::/kubepods.slice/kubepods-burstable.slice/"
                      "kubepods-burstable-pod55c6c714_b240_4dec_9a45_57b61696ab6e.slice/"
                      "cri-containerd-2032491dcae31e6746f47daa0ac74564f2843a1bd847c5e6c4eb501ca132ac36.scope\n"),
         {"55c6c714-b240-4dec-9a45-57b61696ab6e", "2032491dcae31e6746f47daa0ac74564f2843a1bd847c5e6c4eb501ca132ac36",
          "burstable", "containerd", "cri-containerd-2032491dcae31e6746f47daa0ac74564f2843a1bd847c5e6c4eb501ca132ac36.scope",
          "systemd", 2});
}

// netdata/netdata#4868: a static (mirror) pod: the UID is a 32-hex config hash.
TEST(AgentCgroupCgroupV2Systemd, StaticPodUidWithoutDashes) {
  auto id = parse_cgroup("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8daa50c3a64c9ff60bb9eab7b44b56fd.slice/"
                         "cri-containerd-2884d57c0e100d7a9a2f9487ce0bc2986bca3430e988af7a4865aff061f51ac5.scope");
  EXPECT_EQ(id.pod_uid, "8daa50c3a64c9ff60bb9eab7b44b56fd");
  EXPECT_EQ(id.qos, "burstable");
  EXPECT_EQ(id.container_id, "2884d57c0e100d7a9a2f9487ce0bc2986bca3430e988af7a4865aff061f51ac5");
}

// kata-containers/kata-containers#11598 (systemctl show ControlGroup=): guaranteed QoS has
// no QoS slice: kubepods.slice/kubepods-pod<uid>.slice.
TEST(AgentCgroupCgroupV2Systemd, GuaranteedHasNoQosSlice) {
  expect(parse_cgroup("0::/kubepods.slice/kubepods-poddc430cd3_34b7_4ea6_be26_ddfd88d7ddff.slice/"
                      "cri-containerd-8564224395a4fbf7f2792baa22ee16dfc8f8e862e20342d3b2bcc211a3939af6.scope"),
         {"dc430cd3-34b7-4ea6-be26-ddfd88d7ddff", "8564224395a4fbf7f2792baa22ee16dfc8f8e862e20342d3b2bcc211a3939af6",
          "guaranteed", "containerd", "cri-containerd-8564224395a4fbf7f2792baa22ee16dfc8f8e862e20342d3b2bcc211a3939af6.scope",
          "systemd", 2});
}

// containerd/nri#227 (kind node: kubelet --cgroup-root=/kubelet gives kubelet-kubepods-* names).
TEST(AgentCgroupCgroupV2Systemd, KindPrefixedSlices) {
  auto id = parse_cgroup("0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
                         "kubelet-kubepods-besteffort-pod1e597579_417e_482f_bf65_5fe170c3aebd.slice/"
                         "cri-containerd-a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e.scope");
  EXPECT_EQ(id.pod_uid, "1e597579-417e-482f-bf65-5fe170c3aebd");
  EXPECT_EQ(id.qos, "besteffort");
  EXPECT_EQ(id.container_id, "a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e");
  EXPECT_EQ(id.runtime, "containerd");
}

// kubernetes/minikube#11280 (systemctl status of a CRI-O node that is itself a docker
// container): the pod below the node container wins.
TEST(AgentCgroupCgroupV2Systemd, CrioInsideADockerNode) {
  auto id = parse_cgroup("0::/docker/d6701ec289c56e4391acb11d07474b3139466857a305490575508a8b7a9fcf22/kubepods.slice/"
                         "kubepods-besteffort.slice/kubepods-besteffort-podae7a96fb_2bdc_46b0_96e2_78e4af94847b.slice/"
                         "crio-89e8f450417b56acf3089925dfd8f050dd50e950e18cfe83ea923269df601102.scope");
  EXPECT_EQ(id.pod_uid, "ae7a96fb-2bdc-46b0-96e2-78e4af94847b");
  EXPECT_EQ(id.qos, "besteffort");
  EXPECT_EQ(id.container_id, "89e8f450417b56acf3089925dfd8f050dd50e950e18cfe83ea923269df601102");
  EXPECT_EQ(id.runtime, "crio");
}

// ---- cgroup v1, systemd driver ------------------------------------------------------

// opencontainers/runc#4620 (cat /proc/21689/cgroup, CRI-O, v1), first lines verbatim.
TEST(AgentCgroupCgroupV1Systemd, Crio) {
  expect(parse_cgroup("13:freezer:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda5c1f8d5_1919_434d_add7_4afaafdaef89.slice/"
                      "crio-5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c.scope\n"
                      "12:cpuset:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda5c1f8d5_1919_434d_add7_4afaafdaef89.slice/"
                      "crio-5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c.scope\n"
                      "11:files:/\n"),
         {"a5c1f8d5-1919-434d-add7-4afaafdaef89", "5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c",
          "burstable", "crio", "crio-5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c.scope", "systemd", 1});
}

// opencontainers/runc#4620 (systemctl status crio-conmon-...): conmon lives in the pod too.
TEST(AgentCgroupCgroupV1Systemd, CrioConmonIsNotTheContainer) {
  auto id = parse_cgroup("1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod207aaad1_659f_4db8_88e0_46e0cdcc3004.slice/"
                         "crio-conmon-32da98c8522068be05a7510a3eddb09cad6ed2f03286180d0e931d0d0b6224a6.scope");
  EXPECT_EQ(id.runtime, "crio-conmon");
  EXPECT_EQ(id.container_id, "32da98c8522068be05a7510a3eddb09cad6ed2f03286180d0e931d0d0b6224a6");
  EXPECT_EQ(id.pod_uid, "207aaad1-659f-4db8-88e0-46e0cdcc3004");
}

// lxc/lxc#3890 (cat /proc/self/cgroup, docker + kubelet systemd driver), verbatim lines.
TEST(AgentCgroupCgroupV1Systemd, Docker) {
  expect(parse_cgroup("12:rdma:/\n"
                      "11:freezer:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7d4424e6_bb13_42f4_a47a_45a4828bf54d.slice/"
                      "docker-d0b3604b67ac7930dd34ba3a796627e3e4717d12309e90a4afe3f38b6816ac98.scope\n"
                      "10:pids:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7d4424e6_bb13_42f4_a47a_45a4828bf54d.slice/"
                      "docker-d0b3604b67ac7930dd34ba3a796627e3e4717d12309e90a4afe3f38b6816ac98.scope\n"),
         {"7d4424e6-bb13-42f4-a47a-45a4828bf54d", "d0b3604b67ac7930dd34ba3a796627e3e4717d12309e90a4afe3f38b6816ac98",
          "burstable", "docker", "docker-d0b3604b67ac7930dd34ba3a796627e3e4717d12309e90a4afe3f38b6816ac98.scope", "systemd",
          1});
}

// open-telemetry/opentelemetry-java#4507: containerd SystemdCgroup on v1 where runc left the
// "slice:prefix:id" cgroupsPath unexpanded (one directory name with colons), verbatim.
TEST(AgentCgroupCgroupV1Systemd, ContainerdUnexpandedColonForm) {
  expect(parse_cgroup("11:perf_event:/kubepods-besteffort-pod0125ec2f_b64a_4868_8f5b_94b56cbab864.slice:cri-containerd:"
                      "ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459\n"
                      "10:blkio:/system.slice/containerd.service/kubepods-besteffort-pod0125ec2f_b64a_4868_8f5b_94b56cbab864.slice:"
                      "cri-containerd:ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459\n"),
         {"0125ec2f-b64a-4868-8f5b-94b56cbab864", "ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459",
          "besteffort", "containerd", "", "systemd", 1});
}

// kubernetes/kubernetes#106514: same form under containerd.service, static pod UID.
TEST(AgentCgroupCgroupV1Systemd, ContainerdColonFormUnderContainerdService) {
  auto id = parse_cgroup("4:memory:/system.slice/containerd.service/kubepods-burstable-pod36b6d6be73b1065af369b3985edafa09.slice:"
                         "cri-containerd:79fedb3bd23ca77c9d9ccb41909038316f713df22b54b7d942b71d3812e7c74e");
  EXPECT_EQ(id.pod_uid, "36b6d6be73b1065af369b3985edafa09");
  EXPECT_EQ(id.container_id, "79fedb3bd23ca77c9d9ccb41909038316f713df22b54b7d942b71d3812e7c74e");
  EXPECT_EQ(id.qos, "burstable");
}

// ---- cgroupfs driver (v2 and v1) ----------------------------------------------------

// containerd/containerd#4857 (the cgroupsPath in an OCI error), composed as a v2 line.
TEST(AgentCgroupCgroupFs, V2BurstableStaticPod) {
  expect(parse_cgroup("0::/kubepods/burstable/pod89f4f2cb511c3b0b7e5272cff5ec37bf/"
                      "823b5a6d9aaa8da5c0ecda3e7cbcd6729673437965dc600ffcb0a2651960f945\n"),
         {"89f4f2cb511c3b0b7e5272cff5ec37bf", "823b5a6d9aaa8da5c0ecda3e7cbcd6729673437965dc600ffcb0a2651960f945",
          "burstable", "", "", "cgroupfs", 2});
}

// google/gvisor#8269 (runsc: the pod cgroup on a v2 cgroupfs node), composed: a process
// in the pod cgroup itself has no container.
TEST(AgentCgroupCgroupFs, V2PodLevelOnly) {
  auto id = parse_cgroup("0::/kubepods/besteffort/pod88bcf96e-7b92-4ce5-a3c0-2a6d098a1c33");
  EXPECT_EQ(id.pod_uid, "88bcf96e-7b92-4ce5-a3c0-2a6d098a1c33");
  EXPECT_EQ(id.qos, "besteffort");
  EXPECT_EQ(id.container_id, "");
}

// kubernetes/kubernetes#94104 (directories under /sys/fs/cgroup/.../kubepods): guaranteed
// pods sit directly under kubepods.
TEST(AgentCgroupCgroupFs, V2Guaranteed) {
  auto id = parse_cgroup("0::/kubepods/pode48d9140-f441-4b0f-b642-f0179a167e74");
  EXPECT_EQ(id.pod_uid, "e48d9140-f441-4b0f-b642-f0179a167e74");
  EXPECT_EQ(id.qos, "guaranteed");
}

// moby/moby#34584 (cat /proc/self/cgroup in a v1 pod, cgroupfs), verbatim.
TEST(AgentCgroupCgroupFs, V1Besteffort) {
  expect(parse_cgroup("2:cpu:/kubepods/besteffort/pod9a18ffb8-8513-11e7-b26e-7e29fbe2a5a3/"
                      "d28e0087cf8f3f0429f755d60b0de415b20fcf76736ded7bab6e30e7b739ee36\n"),
         {"9a18ffb8-8513-11e7-b26e-7e29fbe2a5a3", "d28e0087cf8f3f0429f755d60b0de415b20fcf76736ded7bab6e30e7b739ee36",
          "besteffort", "", "", "cgroupfs", 1});
}

// ---- plain docker / podman, systemd units ---------------------------------------------

// moby/moby#33352 (v1, cgroupfs docker), verbatim lines.
TEST(AgentCgroupPlain, DockerCgroupfsV1) {
  auto id = parse_cgroup("13:pids:/\n10:perf_event:/docker/5dace3de0735f73d2b5048f12d41a71741a02e49668de921fdae62f7e65dc498\n"
                         "6:memory:/docker/5dace3de0735f73d2b5048f12d41a71741a02e49668de921fdae62f7e65dc498\n1:name=systemd:/\n");
  EXPECT_EQ(id.container_id, "5dace3de0735f73d2b5048f12d41a71741a02e49668de921fdae62f7e65dc498");
  EXPECT_EQ(id.runtime, "docker");
  EXPECT_EQ(id.pod_uid, "");
  EXPECT_EQ(id.qos, "");
}

// ctrsploit/ctrsploit#280 (hybrid host: v1 lines name the container, 0:: is containerd.service).
TEST(AgentCgroupPlain, HybridPrefersTheV1LineThatNamesTheContainer) {
  auto id = parse_cgroup("1:name=systemd:/docker/2403ccfe427f1dc7b6120dccb9ac58c2f8456950380d587a9f33ea7f00dd303d\n"
                         "0::/system.slice/containerd.service\n");
  EXPECT_EQ(id.container_id, "2403ccfe427f1dc7b6120dccb9ac58c2f8456950380d587a9f33ea7f00dd303d");
  EXPECT_EQ(id.cgroup_version, 1);
}

// htop-dev/htop#1036 (v1 + unified line naming the same docker container).
TEST(AgentCgroupPlain, DockerUnifiedLineWinsTies) {
  auto id = parse_cgroup("1:name=systemd:/docker/ff90ed5efd657539ce42198e0d61661d62f2a5d8de9439e2aeb046fb1ef4e0af\n"
                         "0::/docker/ff90ed5efd657539ce42198e0d61661d62f2a5d8de9439e2aeb046fb1ef4e0af\n");
  EXPECT_EQ(id.container_id, "ff90ed5efd657539ce42198e0d61661d62f2a5d8de9439e2aeb046fb1ef4e0af");
  EXPECT_EQ(id.cgroup_version, 2);
}

// containerd/containerd#285 (docker run ... cat /proc/self/cgroup, systemd driver v1).
TEST(AgentCgroupPlain, DockerSystemdScope) {
  auto id = parse_cgroup("1:name=systemd:/system.slice/docker-b33dda97580e721a69fa81742190341f858ea809ec4a9d74a8cfd411b0ee7c26.scope\n");
  EXPECT_EQ(id.container_id, "b33dda97580e721a69fa81742190341f858ea809ec4a9d74a8cfd411b0ee7c26");
  EXPECT_EQ(id.runtime, "docker");
  EXPECT_EQ(id.unit, "docker-b33dda97580e721a69fa81742190341f858ea809ec4a9d74a8cfd411b0ee7c26.scope");
}

// podman-container-tools/podman#826 gives the shape /libpod_parent/libpod-$cid (cgroupfs
// podman); the id here is synthetic.
TEST(AgentCgroupPlain, PodmanCgroupfs) {
  auto id = parse_cgroup_path("/libpod_parent/libpod-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/ctr");
  EXPECT_EQ(id.runtime, "podman");
  EXPECT_EQ(id.container_id, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

// docker/for-linux#1293 (0:: line of a v1 docker container) and kontena/pharos-cluster#440.
TEST(AgentCgroupUnits, SystemService) {
  auto id = parse_cgroup("0::/system.slice/containerd.service\n");
  EXPECT_EQ(id.unit, "containerd.service");
  EXPECT_EQ(id.container_id, "");
  EXPECT_EQ(id.pod_uid, "");
  auto k = parse_cgroup("6:memory:/system.slice\n1:name=systemd:/system.slice\n");
  EXPECT_EQ(k.unit, "");
  EXPECT_EQ(k.path, "/system.slice");
}

// gsauthof/cgmemtime#5 (ssh session, GNOME terminal) and containers/crun#376 (podman unshare).
TEST(AgentCgroupUnits, UserSessions) {
  EXPECT_EQ(parse_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n").unit, "session-3.scope");
  EXPECT_EQ(parse_cgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-kitty-3842.scope\n").unit,
            "app-gnome-kitty-3842.scope");
  auto p = parse_cgroup("0::/user.slice/user-1000.slice/user@1000.service/user.slice/podman-6696.scope\n");
  EXPECT_EQ(p.unit, "podman-6696.scope");
  EXPECT_EQ(p.container_id, "");  // podman-<pid>.scope is `podman unshare`, not a container
}

// ---- cgroup namespaces ----------------------------------------------------------------

// Measured on this build host: /proc/1/cgroup read from inside `unshare -C` (v1 hybrid
// host): "4:memory:/../.." (the reader's namespace root is two levels below pid 1's cgroup).
TEST(AgentCgroupCgroupNs, HostMeasuredDotDot) {
  auto m = parse_cgroup_path("/../..");
  EXPECT_TRUE(m.outside_cgroupns);
  EXPECT_EQ(m.path, "/");
  // The whole file as read there: nothing names a container, the unified line is kept.
  auto id = parse_cgroup("9:name=systemd:/\n4:memory:/../..\n0::/\n");
  EXPECT_EQ(id.cgroup_version, 2);
  EXPECT_EQ(id.container_id, "");
}

// cgroup_namespaces(7) ("7:freezer:/../sub2"): a pod process read by an agent that has its
// own cgroup namespace (non-privileged container on cgroup v2 + containerd) keeps the part
// of the path below the common ancestor. Composed from the kata example above.
TEST(AgentCgroupCgroupNs, PodSeenFromAnotherNamespace) {
  auto id = parse_cgroup("0::/../../kubepods-poddc430cd3_34b7_4ea6_be26_ddfd88d7ddff.slice/"
                         "cri-containerd-8564224395a4fbf7f2792baa22ee16dfc8f8e862e20342d3b2bcc211a3939af6.scope\n");
  EXPECT_TRUE(id.outside_cgroupns);
  EXPECT_EQ(id.pod_uid, "dc430cd3-34b7-4ea6-be26-ddfd88d7ddff");
  EXPECT_EQ(id.qos, "guaranteed");
  // cgroupfs guaranteed pod seen from a sibling pod: the "kubepods" parent is cut off,
  // so the QoS cannot be told (documented limitation).
  auto g = parse_cgroup("0::/../../../pode48d9140-f441-4b0f-b642-f0179a167e74/aa" + std::string(62, 'b') + "\n");
  EXPECT_EQ(g.pod_uid, "e48d9140-f441-4b0f-b642-f0179a167e74");
  EXPECT_EQ(g.qos, "");
}

// ---- negatives ---------------------------------------------------------------------------

TEST(AgentCgroupNegative, NotIds) {
  // 63 hex digits, uppercase, a pod slice with a non-UID
  EXPECT_EQ(parse_cgroup("0::/docker/" + std::string(63, 'a') + "\n").container_id, "");
  EXPECT_EQ(parse_cgroup("0::/docker/" + std::string(64, 'A') + "\n").container_id, "");
  EXPECT_EQ(parse_cgroup("0::/kubepods.slice/kubepods-podnotauid.slice\n").pod_uid, "");
  EXPECT_EQ(parse_cgroup("").cgroup_version, 0);
  EXPECT_EQ(parse_cgroup("garbage without colons\n").cgroup_version, 0);
}

// ---- the regexes docs/agent.md gives agree with the parser ----------------

TEST(AgentCgroupRegexes, AgreeWithParserOnEveryExample) {
  // Applied to one path segment (ECMAScript / RE2 syntax).
  const std::regex pod_re(R"((?:^|-)pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice)?(?::|$))");
  const std::regex ctr_re(R"(^(?:(cri-containerd|crio-conmon|crio|docker|libpod-conmon|libpod)-)?([0-9a-f]{64})(?:\.scope)?$)");
  const std::regex colon_re(R"(:(cri-containerd|crio|docker):([0-9a-f]{64})$)");
  const char* paths[] = {
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod55c6c714_b240_4dec_9a45_57b61696ab6e.slice/cri-containerd-2032491dcae31e6746f47daa0ac74564f2843a1bd847c5e6c4eb501ca132ac36.scope",
      "/kubepods.slice/kubepods-poddc430cd3_34b7_4ea6_be26_ddfd88d7ddff.slice/cri-containerd-8564224395a4fbf7f2792baa22ee16dfc8f8e862e20342d3b2bcc211a3939af6.scope",
      "/kubepods/burstable/pod89f4f2cb511c3b0b7e5272cff5ec37bf/823b5a6d9aaa8da5c0ecda3e7cbcd6729673437965dc600ffcb0a2651960f945",
      "/kubepods-besteffort-pod0125ec2f_b64a_4868_8f5b_94b56cbab864.slice:cri-containerd:ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459",
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda5c1f8d5_1919_434d_add7_4afaafdaef89.slice/crio-5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c.scope",
      "/docker/5dace3de0735f73d2b5048f12d41a71741a02e49668de921fdae62f7e65dc498",
      "/system.slice/docker-b33dda97580e721a69fa81742190341f858ea809ec4a9d74a8cfd411b0ee7c26.scope",
  };
  for (const char* p : paths) {
    auto id = gp::parse_cgroup_path(p);
    std::string pod, ctr;
    std::string s = p;
    size_t i = 0;
    while (i < s.size()) {
      size_t j = s.find('/', i + 1);
      std::string seg = s.substr(i + 1, (j == std::string::npos ? s.size() : j) - i - 1);
      std::smatch m;
      if (pod.empty() && std::regex_search(seg, m, pod_re)) {
        pod = m[1];
        for (char& c : pod)
          if (c == '_') c = '-';
      }
      if (ctr.empty() && (std::regex_search(seg, m, colon_re) || std::regex_match(seg, m, ctr_re))) ctr = m[2];
      if (j == std::string::npos) break;
      i = j;
    }
    EXPECT_EQ(pod, id.pod_uid) << p;
    EXPECT_EQ(ctr, id.container_id) << p;
  }
}
