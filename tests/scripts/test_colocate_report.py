"""scripts/colocate/colocate_report.py on recorded SYNTHETIC sample outputs
(tests/scripts/data/colocate; the expected numbers are worked out in the
comments), and the control-socket client of the online workload."""
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import unittest
from contextlib import redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "colocate"))
import colocate_report as cr  # noqa: E402
from online_infer import PreemptClient  # noqa: E402

DATA = os.path.join(HERE, "data", "colocate")


def read(*parts):
    with open(os.path.join(DATA, *parts)) as f:
        return f.read()


class Parsing(unittest.TestCase):
    def test_online_lines_noise_and_malformed(self):
        text = ("GP-ONLINE t=1.5 latency_ms=3.25\n"
                "warning: not ours\n"
                "GP-ONLINE latency_ms=4\n"               # t is optional online
                "GP-ONLINE t=2 latency_ms=abc\n"          # malformed: skipped
                "GP-ONLINE t=2 latency_ms=-1\n"           # negative: skipped
                "GP-ONLINEX t=2 latency_ms=9\n"           # another tag
                "  GP-ONLINE t=3 latency_ms=5 extra=1\n")
        self.assertEqual(cr.parse_online(text), [(1.5, 3.25), (None, 4.0), (3.0, 5.0)])

    def test_offline_needs_t_and_steps(self):
        text = "GP-OFFLINE t=1 steps=10\nGP-OFFLINE steps=20\nGP-OFFLINE t=2 steps=x\nGP-OFFLINE t=3 steps=30\n"
        self.assertEqual(cr.parse_offline(text), [(1.0, 10), (3.0, 30)])

    def test_nearest_rank_percentile(self):
        v = list(range(1, 101))
        self.assertEqual(cr.percentile(v, 50), 50)
        self.assertEqual(cr.percentile(v, 99), 99)
        self.assertEqual(cr.percentile(v, 100), 100)
        self.assertEqual(cr.percentile([7], 99), 7)
        self.assertEqual(cr.percentile([3, 1, 2], 50), 2)

    def test_online_stats_drops_the_warmup(self):
        s = [(10.0, 100.0), (10.5, 1.0), (11.0, 2.0), (12.0, 3.0)]
        st = cr.online_stats(s, warmup_s=1.0)
        self.assertEqual(st["requests"], 2)       # t >= 11.0
        self.assertEqual(st["p50_ms"], 2.0)
        self.assertEqual(st["max_ms"], 3.0)
        self.assertIsNone(cr.online_stats([]))
        self.assertIsNone(cr.online_stats(s, warmup_s=10))

    def test_offline_throughput_window(self):
        s = [(0.0, 0), (1.0, 100), (2.0, 300), (3.0, 600)]
        self.assertEqual(cr.offline_throughput(s)["steps_per_s"], 200.0)
        self.assertEqual(cr.offline_throughput(s, start=1.0, end=2.0)["steps_per_s"], 200.0)
        self.assertEqual(cr.offline_throughput(s, start=2.0)["steps_per_s"], 300.0)
        self.assertIsNone(cr.offline_throughput(s, start=3.0))  # one point is no rate


class SampleRuns(unittest.TestCase):
    """warmup 1 s, as colocate.sh --warmup 1 would run the report."""

    @classmethod
    def setUpClass(cls):
        cls.modes = cr.load_dir(DATA, 1.0)
        cls.report = cr.build_report(cls.modes)
        cls.rows = {r["mode"]: r for r in cls.report["modes"]}

    def test_online_alone(self):
        # start 100.0: the 40 ms request at t=100.0 is in the warmup; the other
        # 100 are 2.00..2.99 ms: nearest-rank p50 = 50th = 2.49, p99 = 99th = 2.98.
        on = self.modes["online-alone"]["online"]
        self.assertEqual(on["requests"], 100)
        self.assertAlmostEqual(on["p50_ms"], 2.49)
        self.assertAlmostEqual(on["p99_ms"], 2.98)
        self.assertAlmostEqual(on["max_ms"], 2.99)

    def test_offline_alone_baseline(self):
        # window opens at 201 (start + warmup): (9100 - 100) steps over 9 s
        self.assertAlmostEqual(self.modes["offline-alone"]["offline"]["steps_per_s"], 1000.0)
        self.assertAlmostEqual(self.report["baseline_offline_steps_per_s"], 1000.0)

    def test_shared_without_controller_misses_the_online_target(self):
        # online 1..100 ms: p50 50, p99 99; offline 900 steps/s while online ran: loss 10 %
        r = self.rows["shared"]
        self.assertEqual(r["online"]["p50_ms"], 50.0)
        self.assertEqual(r["online"]["p99_ms"], 99.0)
        self.assertAlmostEqual(r["offline"]["steps_per_s"], 900.0)
        self.assertAlmostEqual(r["offline_loss"], 0.10)
        self.assertEqual(r["checks"], {"online": "miss", "offline": "ok"})
        self.assertFalse(r["meets_targets"])

    def test_serve_meets_both_targets(self):
        # online 5.00..5.98 + one 9.5 ms: p99 = 99th value = 5.98 (ideal); offline 850/s: loss 15 %
        r = self.rows["serve"]
        self.assertAlmostEqual(r["online"]["p99_ms"], 5.98)
        self.assertAlmostEqual(r["online"]["max_ms"], 9.5)
        self.assertAlmostEqual(r["offline_loss"], 0.15)
        self.assertEqual(r["checks"], {"online": "ideal", "offline": "ok"})
        self.assertTrue(r["meets_targets"])

    def test_unavailable_mode_is_reported_with_its_reason(self):
        r = self.rows["auto"]
        self.assertEqual(r["status"], "unavailable")
        self.assertIn("--online-pid", r["why"])

    def test_text_report(self):
        text = cr.format_text(self.report)
        self.assertIn("online p99 < 50 ms (ideal < 10 ms), offline throughput loss < 20 %", text)
        lines = {l.split("  ")[0]: l for l in text.splitlines()}
        shared = next(l for l in text.splitlines() if l.startswith("shared, no controller"))
        self.assertIn("99.0 ms", shared)
        self.assertIn("10.0 %", shared)
        self.assertIn("FAIL: online MISSES 50 ms, offline ok (<20 %)", shared)
        serve = next(l for l in text.splitlines() if l.startswith("shared, preempt --serve"))
        self.assertIn("PASS: online ideal (<10 ms), offline ok (<20 %)", serve)
        auto = next(l for l in text.splitlines() if l.startswith("shared, preempt --online-pid"))
        self.assertIn("unavailable: this gpreempt-bpf has no preempt --online-pid", auto)
        self.assertTrue(lines)

    def test_loss_needs_the_baseline(self):
        modes = {k: v for k, v in self.modes.items() if k != "offline-alone"}
        rep = cr.build_report(modes)
        shared = next(r for r in rep["modes"] if r["mode"] == "shared")
        self.assertNotIn("offline_loss", shared)
        self.assertFalse(shared["meets_targets"])
        self.assertIn("the loss cannot be computed", cr.format_text(rep))

    def test_a_failed_mode(self):
        rep = cr.build_report({"serve": {"failed": "preempt --serve did not start: refused"}})
        self.assertEqual(rep["modes"][0]["status"], "failed")
        self.assertIn("failed: preempt --serve did not start", cr.format_text(rep))

    def test_shared_mode_without_any_online_line(self):
        modes = dict(self.modes)
        modes["shared"] = cr.analyse_mode("", read("shared", "offline.log"), 1.0)
        r = next(r for r in cr.build_report(modes)["modes"] if r["mode"] == "shared")
        self.assertEqual(r["checks"]["online"], "no data")
        self.assertFalse(r["meets_targets"])


class CommandLine(unittest.TestCase):
    def test_writes_both_reports(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = os.path.join(tmp, "run")
            shutil.copytree(DATA, d)
            buf = io.StringIO()
            with redirect_stdout(buf):
                self.assertEqual(cr.main([d, "--warmup", "1"]), 0)
            with open(os.path.join(d, "report.json")) as f:
                rep = json.load(f)
            self.assertEqual([r["mode"] for r in rep["modes"]],
                             ["online-alone", "offline-alone", "shared", "serve", "auto"])
            with open(os.path.join(d, "report.txt")) as f:
                self.assertEqual(f.read(), buf.getvalue())

    def test_usage_errors(self):
        with redirect_stdout(io.StringIO()), open(os.devnull, "w") as null:
            old, sys.stderr = sys.stderr, null
            try:
                self.assertEqual(cr.main([]), 64)
                self.assertEqual(cr.main(["/nonexistent-dir"]), 64)
                self.assertEqual(cr.main([DATA, "--warmup"]), 64)
            finally:
                sys.stderr = old


class ControlClient(unittest.TestCase):
    """The online workload's client against a socket speaking preempt's protocol."""

    def test_suspend_resume_on_one_connection(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s")
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind(path)
            srv.listen(1)
            seen = []

            def serve():
                c, _ = srv.accept()
                f = c.makefile("rb")
                for verb_reply in ("ok suspended claims=1", "err no such claim"):
                    seen.append(f.readline().decode().strip())
                    c.sendall((verb_reply + "\n").encode())
                c.close()

            th = threading.Thread(target=serve)
            th.start()
            cl = PreemptClient(path, "online")
            self.assertEqual(cl.request("suspend"), "ok suspended claims=1")
            with self.assertRaisesRegex(RuntimeError, "resume: err no such claim"):
                cl.request("resume")
            th.join()
            cl.close()
            srv.close()
            self.assertEqual(seen, ["suspend online", "resume online"])


if __name__ == "__main__":
    unittest.main()
