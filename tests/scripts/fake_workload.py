#!/usr/bin/env python3
"""Stand-in GPU workloads for the script tests (no GPU): each registers a fake
KFD process with two queues under $GPREEMPT_BPF_ROOT, like the real driver's
/sys/class/kfd/kfd/proc/PID/queues/QID, then prints the colocation line
protocol (SYNTHETIC numbers) until SIGTERM.
  fake_workload.py online    GP-ONLINE lines; claims the GPU on $GP_PREEMPT_SOCKET if set
  fake_workload.py offline   GP-OFFLINE lines
  fake_workload.py busy      nothing (hw-validate's workload)"""
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "colocate"))
from online_infer import PreemptClient  # noqa: E402  (the real client, no torch needed)


def main(role):
    d = os.path.join(os.environ["GPREEMPT_BPF_ROOT"], "sys/class/kfd/kfd/proc", str(os.getpid()), "queues")
    for q in ("1", "2"):
        os.makedirs(os.path.join(d, q), exist_ok=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    sock = os.environ.get("GP_PREEMPT_SOCKET")
    client = PreemptClient(sock, "online") if (role == "online" and sock) else None
    steps = 0
    while not stop:
        t0 = time.monotonic()
        if role == "online":
            if client:
                client.request("suspend")
            time.sleep(0.002)
            if client:
                client.request("resume")
            print(f"GP-ONLINE t={time.monotonic():.6f} latency_ms={(time.monotonic() - t0) * 1000:.3f}", flush=True)
            time.sleep(0.01)
        elif role == "offline":
            time.sleep(0.05)
            steps += 5
            print(f"GP-OFFLINE t={time.monotonic():.6f} steps={steps}", flush=True)
        else:
            time.sleep(0.05)
    shutil.rmtree(os.path.dirname(d), ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1])
