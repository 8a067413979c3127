#!/usr/bin/env python3
"""The offline job of the colocation experiment (the user's notes): a small
MLP trained with SGD on random batch-64 data, as fast as the GPU allows
(--interval-ms adds a pause per step, the notes' 50 ms loop). Prints the
cumulative step count every --report-s seconds as
`GP-OFFLINE t=<monotonic s> steps=<n>`. Needs PyTorch for ROCm. Runs until
--seconds pass or SIGTERM/SIGINT.
"""
import argparse
import signal
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3600)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--interval-ms", type=float, default=0.0)
    ap.add_argument("--report-s", type=float, default=0.5)
    a = ap.parse_args()

    import torch  # late: --help works without it

    if not torch.cuda.is_available():
        sys.exit("offline_train: torch sees no GPU (needs PyTorch for ROCm and an AMD GPU)")
    dev = torch.device("cuda")
    model = torch.nn.Sequential(
        torch.nn.Linear(a.hidden, a.hidden), torch.nn.ReLU(),
        torch.nn.Linear(a.hidden, a.hidden), torch.nn.ReLU(),
        torch.nn.Linear(a.hidden, 10)).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(a.batch, a.hidden, device=dev)
    y = torch.randint(0, 10, (a.batch,), device=dev)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    steps = 0
    end = time.monotonic() + a.seconds
    next_report = time.monotonic()
    while not stop and time.monotonic() < end:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()  # count finished steps, not queued ones
        steps += 1
        now = time.monotonic()
        if now >= next_report:
            print(f"GP-OFFLINE t={now:.6f} steps={steps}", flush=True)
            next_report = now + a.report_s
        if a.interval_ms > 0:
            time.sleep(a.interval_ms / 1000.0)
    print(f"GP-OFFLINE t={time.monotonic():.6f} steps={steps}", flush=True)


if __name__ == "__main__":
    main()
