#!/usr/bin/env python3
"""Writes the synthetic golden traces tests/data/trace_*.jsonl.

They are hand-designed scenarios, not recordings: every header says
"host": "synthetic". Written by this script, independently of the C++
TraceWriter, so the reader is also tested against a second producer. The
expected report outputs (*.expected.txt / *.expected.json) were checked by
hand against the scenarios below; see tests/unit/trace_report_test.cpp.

Every scenario is written in the current format (version 3). Experiments 1
and 3 are also written in format versions 1 and 2 (trace_v1_*.jsonl,
trace_v2_*.jsonl), byte for byte what this script wrote before versions 2
and 3: the fixtures of the reader's support for them. Version 1 wrote every
ioctl field for every ioctl; version 2 writes only the fields of that ioctl
(IOCTL_FIELDS below, the table in trace/README.md). Versions 1 and 2 kept a
preemption's seq in "preempt.seq" and a victim's in "aux"; version 3 writes
it as the top-level "seq" of both, and adds "preempt.flags".

Run from anywhere: python3 tests/data/make_trace_goldens.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1_000_000_000_000  # start_monotonic_ns of every golden trace
GPU = 48301
S = 1_000_000_000
MS = 1_000_000
US = 1_000


def queue(kptr, proc, qid, qtype="compute", fmt="aql", priority=7, percent=100,
          ring_size=1 << 20, flags=("active",), gpu=GPU):
    base = 0x7F0000000000 + qid * 0x100000
    return {"kptr": hex(kptr), "proc": hex(proc), "qid": qid, "gpu_id": gpu, "type": qtype,
            "format": fmt, "priority": priority, "percent": percent, "ring_addr": hex(base),
            "ring_size": ring_size, "rptr_addr": hex(base + 0x80000), "wptr_addr": hex(base + 0x80008),
            "ctx_save_addr": hex(base + 0x90000), "ctx_save_size": 0x2000 if qtype == "compute" else 0,
            "doorbell_off": 0x1000 + qid * 8, "context_id": 0xFFFF, "sdma_engine": 0,
            "flags": list(flags)}


def event(ts, kind, pid, comm, cause="none", tid=None, acting=None, ret=0, aux=0, flags=None, **payload):
    e = {"type": "event", "ts_ns": T0 + ts, "kind": kind, "cause": cause, "pid": pid,
         "tid": tid if tid is not None else pid, "acting_pid": acting if acting is not None else pid,
         "comm": comm, "ret": ret, "aux": aux}
    if flags:
        e["flags"] = flags
    e.update(payload)
    return e


def ioctl(**kw):
    io = {"qid": 0, "gpu_id": GPU, "queue_type": "compute_aql", "priority": 7, "percent": 100,
          "ring_addr": "0x0", "ring_size": 1 << 20, "dbg_op": "enable", "dbg_target_pid": 0,
          "dbg_target_tgid": 0, "dbg_num_queues": 0, "dbg_grace": 0, "arg0": "0x0"}
    io.update(kw)
    return io


# Version 2: the fields each ioctl event carries (trace/README.md). A DBG_TRAP
# adds what its op's args carry, and dbg_target_tgid when it is known.
IOCTL_FIELDS = {
    "ioctl_create_queue": ["qid", "gpu_id", "queue_type", "priority", "percent", "ring_addr", "ring_size"],
    "ioctl_update_queue": ["qid", "priority", "percent", "ring_addr", "ring_size"],
    "ioctl_destroy_begin": ["qid"],
    "ioctl_destroy_queue": ["qid"],
    "ioctl_dbg_trap": ["dbg_op", "dbg_target_pid"],
}
DBG_OP_FIELDS = {
    "enable": ["dbg_exception_mask"],
    "suspend_queues": ["dbg_num_queues", "dbg_grace", "dbg_exception_mask"],
    "resume_queues": ["dbg_num_queues"],
    "get_queue_snapshot": ["dbg_num_queues", "dbg_exception_mask"],
}


def ioctl_v2(kind, io):
    """A version 1 ioctl object (ioctl() above) as version 2 writes it."""
    io = dict(io, dbg_exception_mask=io["arg0"])
    keys = list(IOCTL_FIELDS[kind])
    if kind == "ioctl_dbg_trap":
        keys += DBG_OP_FIELDS.get(io["dbg_op"], [])
        if io["dbg_target_tgid"]:
            keys.append("dbg_target_tgid")
    return {k: io[k] for k in keys}


def process(proc, pasid=0x8001, gpu=0, queue_count=0):
    return {"proc": hex(proc), "pasid": pasid, "gpu_id": gpu, "context_id": 0xFFFF, "queue_count": queue_count}


def preempt(t0, total, cause_pid, cause_qid=None, seq=1, victims=0, sent=True,
            send_entry=2 * US, send_return=5 * US, fence_return=None):
    return {"t0_ns": T0 + t0, "send_entry_ns": send_entry if sent else 0,
            "send_return_ns": send_return if sent else 0,
            "fence_return_ns": (fence_return if fence_return is not None else total - 10 * US) if sent else 0,
            "total_ns": total, "remap_ns": 0, "gpu_id": GPU, "filter": 1, "grace": 0xFFFFFFFF,
            "fence_ret": 0, "victims": victims, "seq": seq, "cause_pid": cause_pid, "cause_qid": cause_qid,
            "packet_sent": sent, "mes": False, "reset": False, "mes_add": False, "doorbell_off": 0,
            "trigger": None, "end_ns": T0 + t0 + total}


def seq_v3(e):
    """A version 2 preempt or preempt_victim line as version 3 writes it."""
    if e["kind"] == "preempt":
        pre = {k: v for k, v in e["preempt"].items() if k != "seq"}
        pre["flags"] = []
        return dict(e, preempt=pre, seq=e["preempt"]["seq"])
    if e["kind"] == "preempt_victim":
        return dict(e, aux=0, seq=e["aux"])
    return e


def write(name, header, events, lost=0, end=None, stats=(), version=3):
    events = sorted(events, key=lambda e: e["ts_ns"])
    if version < 3:
        name = "trace_v%d_" % version + name[len("trace_"):]
    if version >= 2:
        events = [dict(e, ioctl=ioctl_v2(e["kind"], e["ioctl"])) if "ioctl" in e else e for e in events]
    if version >= 3:
        events = [seq_v3(e) for e in events]
    h = {"type": "header", "format": "gpreempt-bpf-trace", "version": version, "tool_version": "0.1.0",
         "host": "synthetic", "kernel": "6.12.0-synthetic", "kfd_version": "1.17",
         "gpus": [{"gpu_id": GPU, "name": "gfx942"}], "start_monotonic_ns": T0,
         "start_realtime_ns": 1_770_000_000 * S, "pids": [], "command": None, "initial_queues": []}
    h.update(header)
    lines = [h] + events + list(stats)
    end = T0 + end
    lines.append({"type": "trailer", "events": len(events), "lost": lost, "end_monotonic_ns": end,
                  "end_realtime_ns": h["start_realtime_ns"] + (end - T0)})
    with open(os.path.join(HERE, name), "w") as f:
        for rec in lines:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")


def model_run(pid, comm, proc, qids, start, stop, sdma_qid=None):
    """A model process: opens KFD, creates its queues, runs, destroys them."""
    ev = [event(start, "process_create", pid, comm, process=process(proc))]
    for i, qid in enumerate(qids):
        kptr = 0xFFFF888000100000 + pid * 0x1000 + qid * 0x100
        kind_sdma = qid == sdma_qid
        q = queue(kptr, proc, qid, qtype="sdma" if kind_sdma else "compute", fmt="pm4" if kind_sdma else "aql")
        ev.append(event(start + 100 * MS + i * 500 * US, "queue_add", pid, comm, cause="create",
                        flags=["has_queue"], queue=q))
        ev.append(event(stop - (len(qids) - i) * 100 * US, "queue_remove", pid, comm, cause="destroy",
                        flags=["has_queue"], queue=dict(q, flags=[])))
    ev.append(event(stop + 50 * MS, "process_release", pid, comm, process=process(proc)))
    return ev


# Experiment 1: one model for 30 s; an eviction (memory pressure) mid-run and
# a failed create before the real ones.
def exp1(version=3):
    pid, comm, proc = 4242, "python3", 0xFFFF888011110000
    ev = model_run(pid, comm, proc, [0, 1], 0, 30 * S, sdma_qid=1)
    ev.append(event(50 * MS, "ioctl_create_queue", pid, comm, ret=-12, ioctl=ioctl(qid=0)))
    q0 = [e for e in ev if e["kind"] == "queue_add" and e["queue"]["qid"] == 0][0]["queue"]
    q1 = [e for e in ev if e["kind"] == "queue_add" and e["queue"]["qid"] == 1][0]["queue"]
    # Eviction at +10 s for 250 ms: both queues evicted, restored.
    for q in (q0, q1):
        ev.append(event(10 * S, "queue_state", pid, "kworker/3:1", cause="evict", tid=77, acting=77,
                        flags=["has_queue"], queue=dict(q, flags=["evicted"])))
        ev.append(event(10 * S + 250 * MS, "queue_state", pid, "kworker/3:1", cause="restore", tid=77, acting=77,
                        flags=["has_queue"], queue=dict(q, flags=["active"])))
    # Preemptions: the second create remaps (first had nothing mapped yet),
    # the eviction, and the two destroys.
    pre = [(100 * MS, 0, "create", False, 0), (100 * MS + 500 * US, 180 * US, "create", True, 1),
           (10 * S, 420 * US, "evict", True, 2), (30 * S - 200 * US, 150 * US, "destroy", True, 2),
           (30 * S - 100 * US, 120 * US, "destroy", True, 1)]
    for seq, (t, total, cause, sent, victims) in enumerate(pre, start=1):
        ev.append(event(t, "preempt", pid, comm, cause=cause, aux=0,
                        preempt=preempt(t, total, pid, 0, seq=seq, victims=victims, sent=sent)))
        for v in range(victims):
            q = (q0, q1)[v]
            ev.append(event(t, "preempt_victim", pid, comm, cause=cause, aux=seq, flags=["has_queue"], queue=q))
    stats = [{"type": "stats", "ts_ns": T0 + 15 * S, "events": 10, "lost": 0, "live_queues": 2}]
    write("trace_exp1_one_model.jsonl", {"pids": [pid], "command": ["python3", "model_a.py"]}, ev,
          end=30 * S + 200 * MS, stats=stats, version=version)


# Experiment 2: model A twice (same ids), model B twice (ids differ).
def exp2():
    runs = [("trace_exp2_model_a_run1.jsonl", 5101, "model_a.py", [0, 1]),
            ("trace_exp2_model_a_run2.jsonl", 5202, "model_a.py", [0, 1]),
            ("trace_exp2_model_b_run1.jsonl", 5303, "model_b.py", [0, 1, 2]),
            ("trace_exp2_model_b_run2.jsonl", 5404, "model_b.py", [0, 1, 3])]
    for name, pid, script, qids in runs:
        ev = model_run(pid, "python3", 0xFFFF888022220000 + pid, qids, 0, 30 * S)
        write(name, {"pids": [pid], "command": ["python3", script]}, ev, end=30 * S + 100 * MS)


# Experiment 3: online (5001) and offline (5002) concurrently. A debugger
# (gpreempt-bpf, 6000) suspends the offline queues for 20 ms: the preemption
# also unmaps the online queue (collateral). The offline process destroys and
# recreates a queue mid-run (not stable). One queue (5002 qid 0) existed
# before recording started (header initial_queues).
def exp3(version=3):
    on, off, dbg = 5001, 5002, 6000
    p_on, p_off = 0xFFFF888033330000, 0xFFFF888044440000
    q_off0 = queue(0xFFFF888000AA0000, p_off, 0, priority=2)
    ev = []
    ev.append(event(1 * S, "process_create", on, "python3", process=process(p_on)))
    q_on0 = queue(0xFFFF888000BB0000, p_on, 0, priority=15)
    q_on1 = queue(0xFFFF888000BB1000, p_on, 1, qtype="sdma", fmt="pm4", priority=15)
    ev.append(event(1 * S + 100 * MS, "queue_add", on, "python3", cause="create", flags=["has_queue"], queue=q_on0))
    ev.append(event(1 * S + 101 * MS, "queue_add", on, "python3", cause="create", flags=["has_queue"], queue=q_on1))
    q_off1 = queue(0xFFFF888000AA1000, p_off, 1, priority=2)
    ev.append(event(2 * S, "queue_add", off, "python3", cause="create", flags=["has_queue"], queue=q_off1))
    # Offline churn: destroy qid 1 at 4 s, create qid 1 again (new kernel object) at 5 s.
    ev.append(event(4 * S, "queue_remove", off, "python3", cause="destroy", flags=["has_queue"], queue=q_off1))
    q_off1b = queue(0xFFFF888000AA2000, p_off, 1, priority=2)
    ev.append(event(5 * S, "queue_add", off, "python3", cause="create", flags=["has_queue"], queue=q_off1b))
    ev.append(event(5 * S + 10 * MS, "ioctl_update_queue", off, "python3",
                    ioctl=ioctl(qid=1, priority=2, percent=50, ring_size=1 << 19)))
    # Debugger suspend at 6 s for 20 ms.
    t = 6 * S
    ev.append(event(t - 5 * US, "ioctl_dbg_trap", dbg, "gpreempt-bpf", ret=2,
                    ioctl=ioctl(dbg_op="suspend_queues", dbg_target_pid=off, dbg_target_tgid=off, dbg_num_queues=2,
                                dbg_grace=10)))
    ev.append(event(t, "preempt", off, "gpreempt-bpf", cause="dbg_suspend", tid=dbg, acting=dbg,
                    preempt=preempt(t, 380 * US, off, None, seq=7, victims=3, fence_return=350 * US)))
    for q, owner in ((q_off0, off), (q_off1b, off), (q_on0, on)):
        ev.append(event(t, "preempt_victim", owner, "gpreempt-bpf", cause="dbg_suspend", tid=dbg, acting=dbg,
                        aux=7, flags=["has_queue"], queue=q))
    for q in (q_off0, q_off1b):
        ev.append(event(t + 400 * US, "queue_state", off, "gpreempt-bpf", cause="dbg_suspend", tid=dbg, acting=dbg,
                        flags=["has_queue"], queue=dict(q, flags=["suspended"])))
        ev.append(event(t + 20 * MS, "queue_state", off, "gpreempt-bpf", cause="dbg_resume", tid=dbg, acting=dbg,
                        flags=["has_queue"], queue=dict(q, flags=["active"])))
    ev.append(event(t + 20 * MS, "preempt", off, "gpreempt-bpf", cause="dbg_resume", tid=dbg, acting=dbg,
                    preempt=preempt(t + 20 * MS, 300 * US, off, None, seq=8, victims=1, fence_return=270 * US)))
    ev.append(event(t + 20 * MS, "preempt_victim", on, "gpreempt-bpf", cause="dbg_resume", tid=dbg, acting=dbg,
                    aux=8, flags=["has_queue"], queue=q_on0))
    # Online finishes at 8 s; offline is killed at 9 s (sweep removes the rest).
    ev.append(event(8 * S, "queue_remove", on, "python3", cause="destroy", flags=["has_queue"], queue=q_on1))
    ev.append(event(8 * S + 1 * MS, "queue_remove", on, "python3", cause="destroy", flags=["has_queue"], queue=q_on0))
    ev.append(event(9 * S, "qpd_terminate", off, "kworker/u8:2", cause="terminate", tid=88, acting=88,
                    process=process(p_off, gpu=GPU, queue_count=2)))
    ev.append(event(9 * S + 1 * MS, "process_sweep", off, "kworker/u8:2", cause="terminate", tid=88, acting=88,
                    process=process(p_off)))
    write("trace_exp3_concurrent.jsonl", {"pids": [], "command": None,
                                          "initial_queues": [dict(q_off0, pid=off)]}, ev, end=10 * S,
          version=version)


exp1()
exp2()
exp3()
exp1(version=1)
exp3(version=1)
exp1(version=2)
exp3(version=2)
