"""scripts/hw-validate.sh and scripts/colocate.sh end to end, against
tests/scripts/fake_gpreempt_bpf.py (SYNTHETIC outputs in the real formats)
and fake workloads that register fake KFD processes under GPREEMPT_BPF_ROOT.
What is asserted: the exit statuses the scripts document, the honest no-GPU
stop, the summary's PASS/FAIL/SKIP lines, the archive's contents, the commands
run, and the colocation flow (serve-mode claims reach the socket, a missing
--online-pid is reported as unavailable)."""
import os
import subprocess
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FAKE_BIN = os.path.join(HERE, "fake_gpreempt_bpf.py")
FAKE_WORKLOAD = os.path.join(HERE, "fake_workload.py")
HW_VALIDATE = os.path.join(REPO, "scripts", "hw-validate.sh")
COLOCATE = os.path.join(REPO, "scripts", "colocate.sh")
SHELL = os.environ.get("GP_TEST_SHELL", "sh").split()  # hw-validate.sh must run under sh, busybox sh, bash


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.root = os.path.join(self.dir, "root")
        os.makedirs(os.path.join(self.root, "sys/class/kfd/kfd/proc"))
        self.log = os.path.join(self.dir, "invocations")

    def tearDown(self):
        self.tmp.cleanup()

    def env(self, flags=""):
        e = dict(os.environ)
        e.update(FAKE_GP=flags, FAKE_GP_LOG=self.log, GPREEMPT_BPF_ROOT=self.root)
        # `python3` in the fakes' shebangs and commands is this interpreter, not
        # a version-manager shim that costs seconds per start on a busy machine.
        e["PATH"] = os.path.dirname(sys.executable) + os.pathsep + e.get("PATH", "")
        e.pop("GPREEMPT_BPF", None)
        return e

    def invocations(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [l.strip() for l in f]


class HwValidate(Base):
    def run_kit(self, flags="", extra=(), name="kit"):
        out = os.path.join(self.dir, name)
        cmd = [*SHELL, HW_VALIDATE, "--bin", FAKE_BIN, "--out", out, "--seconds", "1", "--cycles", "2",
               "--settle", "20", *extra]
        p = subprocess.run(cmd, env=self.env(flags), capture_output=True, text=True, timeout=120)
        return p, out

    def summary(self, out):
        with open(os.path.join(out, "summary.txt")) as f:
            return f.read()

    def archive_names(self, out):
        with tarfile.open(out + ".tar.gz") as t:
            return {os.path.relpath(n, os.path.basename(out)) for n in t.getnames()}

    def test_no_amdgpu_stops_with_2_after_doctor(self):
        p, out = self.run_kit("no-amdgpu", ["--workload", "false"])
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        s = self.summary(out)
        self.assertIn("no AMD GPU on this host: the amdgpu driver is not loaded; only doctor ran", s)
        self.assertIn("SKIP preempt", s)
        self.assertNotIn("FAIL", s)
        self.assertIn("NO GPU", p.stdout)
        self.assertEqual([i.split()[0] for i in self.invocations()], ["doctor", "doctor", "--version"])
        self.assertTrue({"summary.txt", "doctor.txt", "doctor.json", "host.txt"} <= self.archive_names(out))

    def test_amdgpu_without_a_gpu_is_no_gpu_too(self):
        p, out = self.run_kit("no-gpu")
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("KFD lists no GPU", self.summary(out))

    def test_every_step_passes_on_a_good_host(self):
        p, out = self.run_kit("", ["--workload", f"python3 {FAKE_WORKLOAD} busy"])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        s = self.summary(out)
        for step in ("doctor", "workload", "watch", "doorbell", "queues-verify", "snapshot-check", "preempt",
                     "latency", "record", "report"):
            self.assertRegex(s, rf"(?m)^PASS {step} ", s)
        self.assertIn("result: every step passed (exit status 0)", s)
        self.assertIn("40 preemption spans of the workload timed", s)
        # The workload's KFD process is the target of every step.
        cmds = self.invocations()
        kpid = next(c.split()[2] for c in cmds if c.startswith("queues -p ") and "--verify" in c)
        self.assertRegex(s, rf"(?m)^PASS workload +KFD process {kpid}, queues 1 2 ")
        self.assertIn(f"queues -p {kpid} --snapshot-check", cmds)
        self.assertTrue(any(c.startswith(f"doctor --json --online-pid {kpid} --online-seconds ") for c in cmds), cmds)
        self.assertRegex(s, r"(?m)^PASS doorbell +412 doorbells, 57 other signal stores in \d+ s on "
                            r"/opt/rocm/lib/libhsa-runtime64.so.1$")
        self.assertTrue(any(c.startswith(f"preempt --offline-pid {kpid} --cycles 2 ") for c in cmds), cmds)
        self.assertTrue(any(c.startswith(f"watch --json -p {kpid} ") for c in cmds), cmds)
        self.assertIn("To reproduce", s)
        self.assertIn(f"queues -p {kpid} --snapshot-check", s)
        names = self.archive_names(out)
        for f in ("watch.jsonl", "queues-verify.txt", "snapshot-check.txt", "preempt.txt", "latency.jsonl",
                  "record.jsonl", "report.txt", "report.json", "commands.txt", "workload.log"):
            self.assertIn(f, names)
        # the workload was stopped: its fake KFD process is gone
        self.assertEqual(os.listdir(os.path.join(self.root, "sys/class/kfd/kfd/proc")), [])

    def test_a_failed_step_is_exit_1_and_named(self):
        p, out = self.run_kit("preempt-fails", ["--workload", f"python3 {FAKE_WORKLOAD} busy"])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        s = self.summary(out)
        self.assertRegex(s, r"(?m)^FAIL preempt +exit status 1: succeeded 1, failed 1, without queues 0: success rate 50.0%")
        self.assertRegex(s, r"(?m)^PASS record ")

    def test_doorbell_uprobes_that_hear_nothing_or_cannot_attach_fail_the_step(self):
        p, out = self.run_kit("no-doorbells", ["--workload", f"python3 {FAKE_WORKLOAD} busy"])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        s = self.summary(out)
        self.assertRegex(s, r"(?m)^FAIL doorbell +the uprobes attached to /opt/rocm/lib/libhsa-runtime64.so.1 but "
                            r"heard no doorbell")
        self.assertRegex(s, r"(?m)^PASS preempt ")
        p, out = self.run_kit("no-runtime", ["--workload", f"python3 {FAKE_WORKLOAD} busy"], name="kit2")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(self.summary(out), r"(?m)^FAIL doorbell +exit status 1: no libhsa-runtime64 is mapped by pid")

    def test_a_workload_that_never_uses_the_gpu(self):
        p, out = self.run_kit("", ["--workload", "echo no gpu here; exit 3"])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("the workload exited with status 3 before creating a GPU queue: no gpu here",
                      self.summary(out))

    def test_not_root(self):
        p, out = self.run_kit("not-root")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("not root", self.summary(out))

    def test_usage_errors_create_nothing(self):
        for extra in (["--cycles", "0"], ["--bogus"], ["--workload"]):
            p, out = self.run_kit("", extra)
            self.assertEqual(p.returncode, 64, (extra, p.stderr))
            self.assertFalse(os.path.exists(out), extra)

    def test_a_used_output_directory_is_refused(self):
        out = os.path.join(self.dir, "kit")
        os.makedirs(out)
        open(os.path.join(out, "old"), "w").close()
        p, _ = self.run_kit("no-gpu")
        self.assertEqual(p.returncode, 64)
        self.assertIn("not empty", p.stderr)


class Colocate(Base):
    def run_exp(self, flags="", modes="online-alone,offline-alone,shared,serve,auto"):
        out = os.path.join(self.dir, "exp")
        cmd = ["bash", COLOCATE, "--bin", FAKE_BIN, "--out", out, "--seconds", "1", "--warmup", "0",
               "--modes", modes,
               "--online", f"exec python3 {FAKE_WORKLOAD} online",
               "--offline", f"exec python3 {FAKE_WORKLOAD} offline"]
        p = subprocess.run(cmd, env=self.env(flags), capture_output=True, text=True, timeout=180)
        return p, out

    def test_no_gpu_says_so_and_runs_nothing(self):
        for flags, why in (("no-amdgpu", "the amdgpu driver is not loaded"), ("no-gpu", "KFD lists no GPU")):
            p, out = self.run_exp(flags)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("no AMD GPU here", p.stderr)
            self.assertIn(why, p.stderr)
            self.assertFalse(os.path.exists(out))
            self.assertEqual({i.split()[0] for i in self.invocations()}, {"doctor"})

    def test_every_mode_on_fake_workloads(self):
        p, out = self.run_exp()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(os.path.join(out, "report.txt")) as f:
            text = f.read()
        for label in ("online alone", "offline alone", "shared, no controller", "shared, preempt --serve",
                      "shared, preempt --online-pid"):
            self.assertRegex(text, rf"(?m)^{label} +\S", text)
        self.assertNotIn("unavailable", text)
        # serve: the online loop claimed and released the GPU on the socket
        with open(os.path.join(out, "serve", "preempt.log")) as f:
            plog = f.read()
        self.assertIn("request: suspend online", plog)
        self.assertIn("request: resume online", plog)
        # auto: preempt got both KFD pids
        with open(os.path.join(out, "auto", "command")) as f:
            self.assertRegex(f.read(), r"preempt --offline-pid \d+ --online-pid \d+")
        with open(os.path.join(out, "report.json")) as f:
            import json
            rep = json.load(f)
        rows = {r["mode"]: r for r in rep["modes"]}
        self.assertGreater(rows["online-alone"]["online"]["requests"], 10)
        self.assertGreater(rows["offline-alone"]["offline"]["steps_per_s"], 0)
        self.assertIn("offline_loss", rows["shared"])

    def test_automatic_mode_unavailable_in_an_older_binary(self):
        p, out = self.run_exp("no-online-pid", "offline-alone,auto")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(os.path.join(out, "report.txt")) as f:
            self.assertIn("shared, preempt --online-pid   unavailable: this gpreempt-bpf has no preempt "
                          "--online-pid", f.read())

    def test_not_root(self):
        p, out = self.run_exp("not-root")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("run as root", p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_without_pytorch_it_asks_for_two_commands(self):
        if subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0:
            self.skipTest("torch is importable here: the default workloads would run")
        out = os.path.join(self.dir, "exp")
        p = subprocess.run(["bash", COLOCATE, "--bin", FAKE_BIN, "--out", out], env=self.env(),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("pass your own --online 'CMD' --offline 'CMD'", p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_usage(self):
        p, _ = self.run_exp("", "shared,bogus")
        self.assertEqual(p.returncode, 64)
        p = subprocess.run(["bash", COLOCATE, "--online", "x"], env=self.env(), capture_output=True, text=True)
        self.assertEqual(p.returncode, 64)
        self.assertIn("--online and --offline go together", p.stderr)


if __name__ == "__main__":
    unittest.main()
