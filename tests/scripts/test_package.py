"""Packaging from an existing build (nothing is rebuilt): `cmake --install`
puts the binary, its man page and the kit in place, and `cpack -G DEB` makes a
Debian package whose Depends covers, by Debian package name, every shared
library the binary needs. Needs GP_BUILD_DIR (set by ctest) with gpreempt-bpf
and the man page (target gp_manpage) built."""
import gzip
import os
import re
import shutil
import subprocess
import tempfile
import unittest

BUILD = os.environ.get("GP_BUILD_DIR", "")


def run(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300, **kw).stdout


def needed_libs(binary):
    return re.findall(r"^\s*NEEDED\s+(\S+)", run("objdump", "-p", binary), re.M)


def package_of(lib):
    """The Debian package that ships lib (its path from ldconfig, as dpkg knows it)."""
    for line in run("ldconfig", "-p").splitlines():
        m = re.match(rf"\s*{re.escape(lib)} \(([^)]*)\) => (\S+)", line)
        if not m or "x86-64" not in m.group(1):
            continue
        path = m.group(2)
        for p in (path, os.path.realpath(path), "/usr" + path if not path.startswith("/usr") else path[4:]):
            r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
            if r.returncode == 0:
                return r.stdout.split(":")[0].strip()
    return None


def depends_names(field):
    return {re.split(r"[\s(]", d.strip())[0] for d in field.split(",") if d.strip()}


@unittest.skipUnless(BUILD and os.path.isfile(os.path.join(BUILD, "CPackConfig.cmake")),
                     "GP_BUILD_DIR is not a configured build directory")
class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.binary = os.path.join(BUILD, "gpreempt-bpf")
        man = os.path.join(BUILD, "gpreempt-bpf.8.gz")
        if not os.path.isfile(cls.binary) or not os.path.isfile(man):
            raise AssertionError(f"{BUILD} has no gpreempt-bpf or man page: build the targets gpreempt-bpf "
                                 "and gp_manpage first")
        cls.tmp = tempfile.TemporaryDirectory()
        out = os.path.join(cls.tmp.name, "deb")
        run("cpack", "-G", "DEB", "-B", out, "--config", os.path.join(BUILD, "CPackConfig.cmake"))
        debs = [f for f in os.listdir(out) if f.endswith(".deb")]
        assert len(debs) == 1, debs
        cls.deb = os.path.join(out, debs[0])
        cls.info = run("dpkg-deb", "-I", cls.deb)
        cls.contents = run("dpkg-deb", "-c", cls.deb)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def field(self, name):
        m = re.search(rf"^ {name}: (.*)$", self.info, re.M)
        self.assertIsNotNone(m, f"no {name} in dpkg-deb -I:\n{self.info}")
        return m.group(1)

    def test_control_fields(self):
        self.assertEqual(self.field("Package"), "gpreempt-bpf")
        self.assertEqual(self.field("Architecture"), run("dpkg", "--print-architecture").strip())
        self.assertRegex(self.field("Version"), r"^\d+\.\d+\.\d+$")
        self.assertEqual(os.path.basename(self.deb),
                         f"gpreempt-bpf_{self.field('Version')}_{self.field('Architecture')}.deb")

    def test_depends_cover_every_needed_library(self):
        deps = depends_names(self.field("Depends"))
        libs = needed_libs(self.binary)
        self.assertIn("libbpf.so.1", libs)
        for lib in libs:
            pkg = package_of(lib)
            self.assertIsNotNone(pkg, f"no Debian package ships {lib}")
            self.assertIn(pkg, deps, f"{lib} comes from {pkg}, which Depends does not name")
        for d in deps:  # every name is a real package (installed here, since the build used it)
            self.assertEqual(subprocess.run(["dpkg-query", "-W", d], capture_output=True).returncode, 0, d)

    def test_files(self):
        for path in ("./usr/sbin/gpreempt-bpf", "./usr/share/man/man8/gpreempt-bpf.8.gz",
                     "./usr/share/gpreempt-bpf/hw-validate.sh", "./usr/share/gpreempt-bpf/colocate.sh",
                     "./usr/share/gpreempt-bpf/colocate/colocate_report.py",
                     "./usr/share/doc/gpreempt-bpf/README.md",
                     "./usr/share/doc/gpreempt-bpf/docs/preempt.md",
                     "./usr/share/doc/gpreempt-bpf/trace/README.md",
                     "./usr/share/doc/gpreempt-bpf/docs/deploy.md",
                     "./usr/lib/systemd/system/gpreempt-bpf-agent.service",
                     "./usr/lib/systemd/system/gpreempt-bpf-metrics.service",
                     "./usr/share/gpreempt-bpf/policy.yaml"):
            self.assertRegex(self.contents, rf"(?m) {re.escape(path)}$", path)
        self.assertRegex(self.contents, r"(?m)^-rwxr-xr-x .* \./usr/sbin/gpreempt-bpf$")
        self.assertRegex(self.contents, r"(?m)^-rwxr-xr-x .* \./usr/share/gpreempt-bpf/hw-validate\.sh$")

    def test_unpacked_binary_and_man_page(self):
        root = os.path.join(self.tmp.name, "x")
        run("dpkg-deb", "-x", self.deb, root)
        self.assertEqual(run(os.path.join(root, "usr/sbin/gpreempt-bpf"), "--version").strip(),
                         f"gpreempt-bpf {self.field('Version')}")
        with gzip.open(os.path.join(root, "usr/share/man/man8/gpreempt-bpf.8.gz"), "rt") as f:
            page = f.read()
        self.assertIn('.TH GPREEMPT-BPF "8"', page)
        # generated from this binary's --help, subcommands included
        self.assertIn(".SS preempt", page)
        self.assertIn("snapshot\\-check", page)


@unittest.skipUnless(BUILD and os.path.isfile(os.path.join(BUILD, "cmake_install.cmake")),
                     "GP_BUILD_DIR is not a configured build directory")
class CmakeInstall(unittest.TestCase):
    def test_install_into_a_prefix(self):
        with tempfile.TemporaryDirectory() as prefix:
            run("cmake", "--install", BUILD, "--prefix", prefix)
            self.assertTrue(os.access(os.path.join(prefix, "sbin/gpreempt-bpf"), os.X_OK))
            self.assertTrue(os.path.isfile(os.path.join(prefix, "share/man/man8/gpreempt-bpf.8.gz")))
            self.assertTrue(os.access(os.path.join(prefix, "share/gpreempt-bpf/colocate.sh"), os.X_OK))
            if shutil.which("man"):
                text = subprocess.run(["man", "-l", os.path.join(prefix, "share/man/man8/gpreempt-bpf.8.gz")],
                                      capture_output=True, text=True, env=dict(os.environ, MANWIDTH="100"),
                                      timeout=60).stdout
                self.assertIn("COMMANDS", text)


if __name__ == "__main__":
    unittest.main()
