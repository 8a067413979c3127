#!/usr/bin/env python3
"""The online service of the colocation experiment (the user's notes): a small
MLP answering one batch-32 request every 10 ms on the GPU, printing each
request's latency as `GP-ONLINE t=<monotonic s> latency_ms=<ms>`.

With --socket PATH (default: $GP_PREEMPT_SOCKET) it is the tiny client of
`gpreempt-bpf preempt --serve`: each request claims the GPU ("suspend online")
before it runs and releases it ("resume online") after, on one persistent
connection; the latency includes both round trips, as a real service's would.
Needs PyTorch for ROCm. Runs until --seconds pass or SIGTERM/SIGINT.
"""
import argparse
import os
import signal
import socket
import sys
import time


class PreemptClient:
    """One connection to the preempt control socket (one line each way)."""

    def __init__(self, path, holder):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.holder = holder

    def request(self, verb):
        self.sock.sendall(f"{verb} {self.holder}\n".encode())
        reply = self.file.readline().decode().strip()
        if not reply.startswith("ok"):
            raise RuntimeError(f"preempt control socket: {verb}: {reply or 'connection closed'}")
        return reply

    def close(self):
        self.file.close()
        self.sock.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3600)
    ap.add_argument("--interval-ms", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--socket", default=os.environ.get("GP_PREEMPT_SOCKET", ""))
    ap.add_argument("--holder", default="online")
    a = ap.parse_args()

    import torch  # late: --help works without it

    if not torch.cuda.is_available():
        sys.exit("online_infer: torch sees no GPU (needs PyTorch for ROCm and an AMD GPU)")
    dev = torch.device("cuda")
    model = torch.nn.Sequential(
        torch.nn.Linear(a.hidden, a.hidden), torch.nn.ReLU(),
        torch.nn.Linear(a.hidden, a.hidden), torch.nn.ReLU(),
        torch.nn.Linear(a.hidden, 10)).to(dev).eval()
    x = torch.randn(a.batch, a.hidden, device=dev)
    with torch.no_grad():
        model(x)
    torch.cuda.synchronize()

    client = PreemptClient(a.socket, a.holder) if a.socket else None
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    end = time.monotonic() + a.seconds
    nxt = time.monotonic()
    n = 0
    while not stop and time.monotonic() < end:
        t0 = time.monotonic()
        if client:
            client.request("suspend")
        with torch.no_grad():
            y = model(x)
        torch.cuda.synchronize()
        y.sum().item()
        if client:
            client.request("resume")
        t1 = time.monotonic()
        n += 1
        print(f"GP-ONLINE t={t1:.6f} latency_ms={(t1 - t0) * 1000:.3f}", flush=True)
        nxt += a.interval_ms / 1000.0
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            nxt = time.monotonic()  # late: do not burst to catch up
    if client:
        client.close()
    print(f"GP-ONLINE-END requests={n}", flush=True)


if __name__ == "__main__":
    main()
