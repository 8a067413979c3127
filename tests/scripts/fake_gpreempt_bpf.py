#!/usr/bin/env python3
"""A stand-in for the gpreempt-bpf binary in the script tests: prints
SYNTHETIC outputs in the real formats, so hw-validate.sh and colocate.sh can
be run end to end without a GPU. FAKE_GP (comma-separated) changes the host:
no-amdgpu, no-gpu, not-root, preempt-fails, no-online-pid, no-doorbells,
no-runtime. FAKE_GP_LOG: a
file that gets one line per invocation (its arguments)."""
import json
import os
import signal
import socket
import sys
import time

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "hw-validate")
FLAGS = set(filter(None, os.environ.get("FAKE_GP", "").split(",")))


def wait_for_sigint(limit_s=60):
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    end = time.monotonic() + limit_s
    while not stop and time.monotonic() < end:
        time.sleep(0.05)


def opt(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


def doctor(args):
    loaded = "no-amdgpu" not in FLAGS
    gpus = [] if ("no-gpu" in FLAGS or not loaded) else [41234]
    d = {"kernel": "6.12.107+deb13-amd64", "root": "not-root" not in FLAGS, "vmlinux_btf": True,
         "amdgpu_loaded": loaded, "amdgpu_btf": loaded, "kfd_version": "1.17" if loaded else None,
         "gpu_ids": gpus, "probes": [], "can_watch": loaded, "can_preempt": loaded and bool(gpus),
         "problems": [] if loaded else ["the amdgpu driver is not loaded"]}
    online = opt(args, "--online-pid")
    attached = True
    if online:
        attached = "no-runtime" not in FLAGS
        d["online"] = {"pid": int(online), "attached": attached,
                       "library": "/opt/rocm/lib/libhsa-runtime64.so.1" if attached else "",
                       "error": "" if attached else f"no libhsa-runtime64 is mapped by pid {online}",
                       "seconds": float(opt(args, "--online-seconds", "1")),
                       "doorbells": 0 if ("no-doorbells" in FLAGS or not attached) else 412,
                       "other_stores": 0 if not attached else 57}
    if "--json" in args:
        print(json.dumps(d, indent=2))
    else:
        print(f"kernel           {d['kernel']}\namdgpu loaded    {'yes' if loaded else 'no'}")
    return 0 if loaded and attached else 1  # as the real doctor: watch possible, and the attach if asked


def serve(args):
    path = opt(args, "--socket")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    srv.settimeout(0.05)
    print(f"Serving on {path}: `gpreempt-bpf ctl suspend|resume|status --socket {path}`.", flush=True)
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    conns = []
    while not stop:
        try:
            c, _ = srv.accept()
            c.settimeout(0.05)
            conns.append([c, b""])
        except (socket.timeout, InterruptedError):
            pass
        for entry in list(conns):
            try:
                data = entry[0].recv(256)
            except (socket.timeout, InterruptedError, BlockingIOError):
                continue
            except OSError:
                data = b""
            if not data:  # the client went away
                entry[0].close()
                conns.remove(entry)
                break
            entry[1] += data
            while b"\n" in entry[1]:
                line, entry[1] = entry[1].split(b"\n", 1)
                print(f"request: {line.decode()}", flush=True)
                verb = line.split()[0] if line.split() else b""
                reply = {b"suspend": "ok suspended claims=1 queues=2/2 suspend_us=400",
                         b"resume": "ok resumed claims=0 queues=2/2 resume_us=350"}.get(verb, "err unknown")
                entry[0].sendall((reply + "\n").encode())
    os.unlink(path)
    return 0


def preempt(args):
    if "--help" in args:
        print("Options:\n  --offline-pid INT ...\n  --cycles INT\n  --serve")
        if "no-online-pid" not in FLAGS:
            print("  --online-pid INT  the online process (automatic mode)")
        return 0
    pid = opt(args, "--offline-pid")
    if "--serve" in args:
        return serve(args)
    if "--online-pid" in args:
        print(f"pid {pid} (python3): debug session enabled, runtime enabled; queues in the map: 1,2", flush=True)
        wait_for_sigint()
        print(f"pid {pid}: queues resumed, debugging disabled, detached")
        return 0
    with open(os.path.join(DATA, "preempt-cycles.txt")) as f:
        text = f.read().replace("{pid}", str(pid))
    if "preempt-fails" in FLAGS:
        text = text.replace("succeeded 2, failed 0", "succeeded 1, failed 1").replace("100.0%", "50.0%")
    sys.stdout.write(text)
    return 1 if "preempt-fails" in FLAGS else 0


def main(args):
    log = os.environ.get("FAKE_GP_LOG")
    if log:
        with open(log, "a") as f:
            f.write(" ".join(args) + "\n")
    if not args:
        return 64
    cmd, rest = args[0], args[1:]
    if cmd == "--version":
        print("gpreempt-bpf 0.1.0 (fake, tests/scripts)")
        return 0
    if cmd == "doctor":
        return doctor(rest)
    if cmd == "watch":
        print(json.dumps({"type": "attach", "kernel": "6.12", "attached": ["kfd_procfs_add_queue"],
                          "missing_optional": [], "notes": []}))
        time.sleep(min(float(opt(rest, "--duration", "1")), 0.2))
        print(json.dumps({"type": "stats", "events": 3, "lost": 0, "queues": 2,
                          "qids_by_pid": {opt(rest, "-p", "0"): [1, 2]}}))
        print(json.dumps({"type": "summary", "events": 3, "lost": 0, "decode_errors": 0, "queues": 2,
                          "by_kind": {"queue_snapshot": 2}}))
        return 0
    if cmd == "queues":
        pid = opt(rest, "-p")
        print(f"{pid} python3 qid 1 ...\n{pid} python3 qid 2 ...\n2 queues, 0 lost events")
        if "--verify" in rest:
            print("verify: the map agrees with sysfs (2 queues compared)")
        if "--snapshot-check" in rest:
            print(f"snapshot: pid {pid}: the map agrees with KFD's queue snapshot (2 queues listed by the "
                  "kernel, 2 in the map)")
        return 0
    if cmd == "latency":
        print(json.dumps({"type": "attach", "kernel": "6.12"}), flush=True)
        wait_for_sigint()
        print(json.dumps({"type": "summary", "intervals": 0, "spans_seen": 40, "spans_kept": 40,
                          "events": 90, "lost": 0, "victims_unmatched": 0}))
        return 0
    if cmd == "preempt":
        return preempt(rest)
    if cmd == "record":
        out = opt(rest, "-o")
        with open(out, "w") as f:
            f.write(json.dumps({"type": "header", "version": 2}) + "\n")
            f.write(json.dumps({"type": "trailer", "events": 12, "lost": 0}) + "\n")
        return 0
    if cmd == "report":
        print(json.dumps({"files": 1}) if "--json" in rest else "pid 1: 2 queues (synthetic)")
        return 0
    print(f"fake gpreempt-bpf: unknown command {cmd}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
