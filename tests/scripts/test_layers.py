"""scripts/check-layers.py: the tree follows the layer table in
controller/README.md, and the check does fail on an include that crosses a
forbidden edge, on a header of no layer, and on a kernel version named above
the attach layer."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECK = os.path.join(REPO, "scripts", "check-layers.py")


def run_check(root):
    return subprocess.run([sys.executable, CHECK, "--root", root], capture_output=True, text=True, timeout=120)


class Layers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gp-layers-")
        for top in ("controller", "trace", "bpf"):
            shutil.copytree(os.path.join(REPO, top), os.path.join(cls.tmp, top),
                            ignore=shutil.ignore_patterns("*.o", "build*"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def mutate(self, rel, add):
        """Runs the check on the copy with `add` prepended to rel, then restores it."""
        path = os.path.join(self.tmp, rel)
        original = open(path).read()
        try:
            with open(path, "w") as f:
                f.write(add + "\n" + original)
            return run_check(self.tmp)
        finally:
            with open(path, "w") as f:
                f.write(original)

    def test_the_tree_follows_the_table(self):
        r = run_check(REPO)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_an_upward_include_fails(self):
        # base/ is the bottom layer: it may not reach up to tracing/.
        r = self.mutate("controller/base/host_paths.cpp", '#include "tracing/session.h"')
        self.assertEqual(r.returncode, 1)
        self.assertIn('controller/base/host_paths.cpp:1: base may not include "tracing/session.h"', r.stdout)

    def test_preempt_may_use_only_the_map_interfaces_of_tracing(self):
        ok = self.mutate("controller/preempt/claims.cpp", '#include "tracing/queue_map.h"')
        self.assertEqual(ok.returncode, 0, ok.stdout)
        bad = self.mutate("controller/preempt/claims.cpp", '#include "tracing/session.h"')
        self.assertEqual(bad.returncode, 1)
        self.assertIn('preempt may not include "tracing/session.h"', bad.stdout)

    def test_trace_never_depends_on_controller(self):
        r = self.mutate("trace/histogram.cpp", '#include "tracing/queue_map.h"')
        self.assertEqual(r.returncode, 1)
        self.assertIn('trace/histogram.cpp:1: trace may not include "tracing/queue_map.h"', r.stdout)

    def test_nothing_includes_cli(self):
        r = self.mutate("controller/online/detector.cpp", '#include "cli/commands.h"')
        self.assertEqual(r.returncode, 1)
        self.assertIn('online may not include "cli/commands.h"', r.stdout)

    def test_libbpf_only_in_attach_and_tracing(self):
        r = self.mutate("controller/preempt/claims.cpp", "#include <bpf/libbpf.h>")
        self.assertEqual(r.returncode, 1)
        self.assertIn("preempt may not include <bpf/libbpf.h>", r.stdout)
        r = self.mutate("controller/kfd/client.cpp", '#include "bpf/gp_lifecycle.skel.h"')
        self.assertEqual(r.returncode, 1)
        self.assertIn('kfd may not include "bpf/gp_lifecycle.skel.h"', r.stdout)

    def test_a_header_of_no_layer_fails(self):
        r = self.mutate("controller/kfd/client.cpp", '#include "nowhere/thing.h"')
        self.assertEqual(r.returncode, 1)
        self.assertIn('"nowhere/thing.h" is not a header of any layer', r.stdout)

    def test_kernel_versions_only_in_bpf_and_attach(self):
        r = self.mutate("controller/tracing/queue_map.cpp", "// on Linux 6.12 the flag moved")
        self.assertEqual(r.returncode, 1)
        self.assertIn("controller/tracing/queue_map.cpp:1: names kernel version 'Linux 6.12'", r.stdout)
        ok = self.mutate("controller/attach/probes.cpp", "// on Linux 6.12 the flag moved")
        self.assertEqual(ok.returncode, 0, ok.stdout)


if __name__ == "__main__":
    unittest.main()
