"""The deployment files in deploy/ against the binary they run: every YAML file
parses; every argument of the DaemonSets and systemd units is an option of the
binary's own `--help` for the subcommand they run; the ConfigMap's policy is
deploy/policy.yaml; the alert rules and every Grafana query pass
`promtool check rules`; the metric names they use are the ones docs/deploy.md
lists; the Containerfile builds from packages scripts/deps.txt names.
Needs GP_BUILD_DIR (set by ctest) with gpreempt-bpf built, python3-yaml and
promtool (Debian packages python3-yaml, prometheus)."""
import json
import os
import re
import shlex
import subprocess
import tempfile
import unittest

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(REPO, "deploy")
BUILD = os.environ.get("GP_BUILD_DIR", "")
BINARY = os.path.join(BUILD, "gpreempt-bpf")

def run(*cmd, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)


def help_options(*subcommand):
    """The long options `gpreempt-bpf SUBCOMMAND --help` lists."""
    out = run(BINARY, *subcommand, "--help").stdout
    return set(re.findall(r"(?m)^\s+(?:-\w,\s*)?(--[\w-]+)", out))


def subcommands():
    out = run(BINARY, "--help").stdout
    section = out.split("SUBCOMMANDS:", 1)[1] if "SUBCOMMANDS:" in out else out
    return set(re.findall(r"(?m)^\s+([a-z][\w-]*)\s", section))


def yaml_files():
    for root, _, files in os.walk(DEPLOY):
        for f in sorted(files):
            if f.endswith((".yaml", ".yml")):
                yield os.path.join(root, f)


def documents(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def k8s(kind):
    """(path, document) of every Kubernetes object of this kind in deploy/kubernetes."""
    out = []
    for path in yaml_files():
        if "/kubernetes/" in path:
            out += [(path, d) for d in documents(path) if d.get("kind") == kind]
    return out


def check_args(test, where, args):
    """args = [subcommand, options...] as the binary will get them."""
    sub, opts = args[0], [a for a in args[1:] if a.startswith("-")]
    have = subcommands()
    test.assertIn(sub, have, f"{where}: `{sub}` is not a subcommand of gpreempt-bpf")
    known = help_options(sub)
    for o in opts:
        test.assertIn(o.split("=", 1)[0], known, f"{where}: `{sub} --help` has no {o}")


def listen_port(args):
    i = args.index("--metrics-listen")
    return int(args[i + 1].rsplit(":", 1)[1])


class Yaml(unittest.TestCase):
    def test_every_yaml_file_parses(self):
        paths = list(yaml_files())
        self.assertGreaterEqual(len(paths), 10, paths)
        for path in paths:
            docs = documents(path)
            self.assertTrue(docs, f"{path}: empty")
            if "/kubernetes/" in path:
                for d in docs:
                    self.assertIn("apiVersion", d, path)
                    self.assertIn("kind", d, path)

    def test_kustomization_lists_existing_files(self):
        (k,) = documents(os.path.join(DEPLOY, "kubernetes", "kustomization.yaml"))
        for r in k["resources"]:
            self.assertTrue(os.path.isfile(os.path.join(DEPLOY, "kubernetes", r)), r)
        self.assertNotIn("daemonset-readonly.yaml", k["resources"], "one DaemonSet at a time: they share the port")

    def test_configmap_policy_is_deploy_policy(self):
        ((_, cm),) = k8s("ConfigMap")
        with open(os.path.join(DEPLOY, "policy.yaml"), encoding="utf-8") as f:
            self.assertEqual(cm["data"]["policy.yaml"], f.read())
        policy = yaml.safe_load(cm["data"]["policy.yaml"])
        self.assertEqual(policy["version"], 1)
        names = [r["name"] for r in policy["rules"]]
        self.assertEqual(len(names), len(set(names)))
        for r in policy["rules"]:
            self.assertIn(r["role"], ("online", "offline", "ignored"))


@unittest.skipUnless(BUILD and os.access(BINARY, os.X_OK), "GP_BUILD_DIR has no gpreempt-bpf binary")
class AgainstTheBinary(unittest.TestCase):
    def daemonsets(self):
        ds = {d["metadata"]["name"]: d for _, d in k8s("DaemonSet")}
        self.assertEqual(set(ds), {"gpreempt-bpf", "gpreempt-bpf-readonly"})
        return ds

    def test_daemonset_arguments_are_options_of_the_binary(self):
        for name, d in self.daemonsets().items():
            for c in d["spec"]["template"]["spec"]["containers"]:
                check_args(self, f"DaemonSet {name}", c["args"])
                port = listen_port(c["args"])
                self.assertIn(port, [p["containerPort"] for p in c["ports"]])

    def test_daemonset_privileges_and_mounts(self):
        ds = self.daemonsets()
        for name, d in ds.items():
            spec = d["spec"]["template"]["spec"]
            self.assertTrue(spec["hostPID"], name)
            self.assertFalse(spec.get("automountServiceAccountToken", True), name)
            (c,) = spec["containers"]
            self.assertEqual(c["env"][0]["name"], "NODE_NAME")
            self.assertEqual(c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName")
            hostpaths = {v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
            mounted = {m["name"] for m in c["volumeMounts"]}
            self.assertEqual(mounted, {v["name"] for v in spec["volumes"]}, name)
            self.assertIn("/sys", hostpaths)
            self.assertIn("/run/gpreempt-bpf", hostpaths)  # instance lock, control socket
        full = ds["gpreempt-bpf"]["spec"]["template"]["spec"]
        self.assertTrue(full["containers"][0]["securityContext"]["privileged"])
        self.assertTrue({"/sys", "/sys/kernel/debug", "/sys/fs/bpf", "/dev/kfd"} <=
                        {v["hostPath"]["path"] for v in full["volumes"] if "hostPath" in v})
        ro = ds["gpreempt-bpf-readonly"]["spec"]["template"]["spec"]
        sc = ro["containers"][0]["securityContext"]
        self.assertFalse(sc["privileged"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertNotIn("SYS_PTRACE", sc["capabilities"]["add"])
        self.assertNotIn("/dev/kfd", {v["hostPath"]["path"] for v in ro["volumes"] if "hostPath" in v})

    def test_service_and_servicemonitor_reach_the_metrics_port(self):
        ((_, svc),) = k8s("Service")
        ((_, sm),) = k8s("ServiceMonitor")
        port_names = {p["name"] for p in svc["spec"]["ports"]}
        for e in sm["spec"]["endpoints"]:
            self.assertIn(e["port"], port_names)
            self.assertTrue(e["honorLabels"])
        for name, d in self.daemonsets().items():
            labels = d["spec"]["template"]["metadata"]["labels"]
            for k, v in svc["spec"]["selector"].items():
                self.assertEqual(labels.get(k), v, f"the Service does not select DaemonSet {name}")
            self.assertIn("metrics", [p["name"] for p in d["spec"]["template"]["spec"]["containers"][0]["ports"]])

    def test_systemd_units_run_options_of_the_binary(self):
        units = sorted(os.listdir(os.path.join(DEPLOY, "systemd")))
        self.assertEqual(units, ["gpreempt-bpf-agent.service", "gpreempt-bpf-metrics.service"])
        for u in units:
            with open(os.path.join(DEPLOY, "systemd", u), encoding="utf-8") as f:
                text = f.read()
            for section in ("[Unit]", "[Service]", "[Install]"):
                self.assertIn(section, text, u)
            (exec_start,) = re.findall(r"(?m)^ExecStart=(.*)$", text)
            argv = shlex.split(exec_start)
            self.assertEqual(argv[0], "/usr/sbin/gpreempt-bpf", u)
            check_args(self, u, argv[1:])
            self.assertEqual(listen_port(argv[1:]), 9464)
            self.assertIn("127.0.0.1:", exec_start, f"{u}: a host unit listens on loopback only")

    def test_configmap_policy_passes_agent_check_policy(self):
        ((_, cm),) = k8s("ConfigMap")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(cm["data"]["policy.yaml"])
            f.flush()
            r = run(BINARY, "agent", "--check-policy", f.name, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


def promtool_check_rules(test, groups):
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump({"groups": groups}, f)
        f.flush()
        try:
            r = run("promtool", "check", "rules", f.name, check=False)
        except FileNotFoundError:
            test.fail("promtool not found: install the Debian package prometheus (scripts/deps.txt)")
    test.assertEqual(r.returncode, 0, r.stdout + r.stderr)
    return r.stdout


def documented_metrics():
    """The metric names of docs/deploy.md's metrics table."""
    with open(os.path.join(REPO, "docs", "deploy.md"), encoding="utf-8") as f:
        return set(re.findall(r"(?m)^\| `(gpreempt_\w+)`", f.read()))


def used_metrics(expr):
    names = set(re.findall(r"\b(gpreempt_\w+)", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) if n.endswith(("_bucket", "_sum", "_count")) else n
            for n in names}


class Queries(unittest.TestCase):
    def test_alert_rules_pass_promtool(self):
        ((_, rule),) = k8s("PrometheusRule")
        out = promtool_check_rules(self, rule["spec"]["groups"])
        self.assertIn("SUCCESS", out)
        alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
        # The three: probes not attached, events lost, an offline job starved.
        self.assertTrue({"GpreemptProbesNotAttached", "GpreemptEventsLost", "GpreemptOfflineStarved"} <= alerts)
        documented = documented_metrics()
        for g in rule["spec"]["groups"]:
            for r in g["rules"]:
                self.assertLessEqual(used_metrics(r["expr"]), documented, r["alert"])

    def test_every_dashboard_query_passes_promtool(self):
        with open(os.path.join(DEPLOY, "grafana", "gpreempt-bpf.json"), encoding="utf-8") as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        self.assertGreaterEqual(len(exprs), 15)
        # Grafana's variables as Grafana would expand them.
        subst = {"$__rate_interval": "1m", "$hostname": ".*", "${datasource}": ""}
        rules = []
        for i, e in enumerate(exprs):
            for k, v in subst.items():
                e = e.replace(k, v)
            self.assertNotRegex(e, r"\$[a-zA-Z_]", f"unexpanded variable in {e}")
            rules.append({"record": f"dashboard:query_{i}", "expr": e})
        promtool_check_rules(self, [{"name": "dashboard", "rules": rules}])
        documented = documented_metrics()
        self.assertGreaterEqual(len(documented), 15)
        for e in exprs:
            self.assertLessEqual(used_metrics(e), documented, e)
        # The pod-name join of docs/deploy.md is on the dashboard.
        self.assertTrue(any("kube_pod_info" in e and "group_left" in e for e in exprs))


class Containerfile(unittest.TestCase):
    def test_built_from_debian_packages_in_deps(self):
        with open(os.path.join(DEPLOY, "Containerfile"), encoding="utf-8") as f:
            text = f.read()
        froms = re.findall(r"(?m)^FROM (\S+)", text)
        self.assertEqual(froms, ["debian:bookworm", "debian:bookworm-slim"])
        with open(os.path.join(REPO, "scripts", "deps.txt"), encoding="utf-8") as f:
            deps = {line.strip() for line in f if line.strip() and not line.startswith("#")}
        build_stage = text.split("FROM debian:bookworm-slim")[0]
        m = re.search(r"apt-get install -y --no-install-recommends \\\n(.*?)\\\n &&", build_stage, re.S)
        self.assertIsNotNone(m)
        pkgs = [p for p in m.group(1).split() if p != "\\"]
        self.assertIn("libcivetweb-dev", pkgs)
        for p in pkgs:
            self.assertIn(p, deps, f"the Containerfile installs {p}, which scripts/deps.txt does not name")
        self.assertIn("cpack -G DEB", text)
        self.assertRegex(text, r"apt-get install -y --no-install-recommends /tmp/gpreempt-bpf_\*\.deb")


if __name__ == "__main__":
    unittest.main()
