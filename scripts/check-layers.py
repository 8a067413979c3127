#!/usr/bin/env python3
"""Checks every #include of the C++ tree against the layer table in
controller/README.md (the one place the allowed edges are written down), and
that no folder but bpf/ and controller/attach/ names a kernel version.

Usage: scripts/check-layers.py [--root DIR]   (default: this repository)
Exit 0 when every include is allowed; 1 with one line per violation:
  FILE:LINE: <folder> may not include "<header>" (allowed: ...)

The table is the first Markdown table in controller/README.md whose header
row has the columns `folder` and `may use`. A row names a folder by its path
from the repository root (`controller/base/`, `trace/`) or one file stem
(`trace/event`); `may use` is a comma-separated list of tokens in backticks:
  a layer name   `base`, `tracing`, ... (controller/<name>/) or `event`, `trace`, `bpf`
  a header       `tracing/queue_map.h`, `bpf/events.h`: only that header of the layer
  `skeletons`    the generated bpf/*.skel.h
  `libbpf`       <bpf/libbpf.h>, <bpf/bpf.h>, <bpf/btf.h>
  `CLI11`        <CLI/...>
A folder may always include its own headers.
"""
import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
# A kernel release written out: 6.1, 6.12, 7.2, 7.x, "Linux 6.5", "6.12+".
KERNEL_VERSION = re.compile(r"(?<![\w.§])(?:Linux\s+)?[5-7]\.(?:[1-9]\d?|x)\+?(?![\w]|\.\d)")
VERSION_EXEMPT = ("bpf/", "controller/attach/")
SOURCE_ROOTS = ("controller", "trace")
EXTERNAL = {
    "libbpf": re.compile(r"^bpf/(libbpf|bpf|btf|libbpf_common)\.h$"),
    "CLI11": re.compile(r"^CLI/"),
}


def parse_table(readme):
    """{layer: set of tokens} from the first table with `folder` and `may use` columns."""
    rows = {}
    header = None
    for line in open(readme, encoding="utf-8"):
        line = line.strip()
        if not line.startswith("|"):
            if header is not None and rows:
                break
            header = None if header is None else header
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            names = [c.lower() for c in cells]
            if "folder" in names and "may use" in names:
                header = (names.index("folder"), names.index("may use"))
            continue
        if set(line.replace("|", "").strip()) <= set("-: "):
            continue
        folder = cells[header[0]].strip("`").rstrip("/")
        tokens = set(re.findall(r"`([^`]+)`", cells[header[1]]))
        rows[folder] = tokens
    if not rows:
        raise SystemExit(f"{readme}: no table with the columns 'folder' and 'may use'")
    return rows


def layer_of_path(rel, layers):
    """The table row a source file belongs to (longest matching prefix)."""
    best = None
    for folder in layers:
        if rel == folder or rel.startswith(folder + "/") or os.path.splitext(rel)[0] == folder:
            if best is None or len(folder) > len(best):
                best = folder
    return best


def short(folder):
    """The token a row is named by in `may use`: base, tracing, ..., event, trace, bpf."""
    if folder.startswith("controller/"):
        return folder[len("controller/"):]
    return {"trace/event": "event"}.get(folder, folder)


def resolve_include(header, layers):
    """(layer row, header path) for a project include, or None for a foreign one."""
    for root in ("controller/", ""):
        cand = root + header
        row = layer_of_path(cand, layers)
        if row:
            return row, cand
    if re.match(r"^bpf/[\w.-]+\.skel\.h$", header):
        return "skeletons", header
    return None


def allowed(src_row, inc_row, inc_path, header, tokens):
    if src_row == inc_row:
        return True
    if inc_row == "skeletons":
        return "skeletons" in tokens
    if short(inc_row) in tokens:
        return True
    # A single header of a layer: `tracing/queue_map.h`, `bpf/events.h`.
    return header in tokens or inc_path.removeprefix("controller/") in tokens


def check(root):
    layers = parse_table(os.path.join(root, "controller", "README.md"))
    problems = []
    for top in SOURCE_ROOTS:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".h", ".cpp", ".hpp")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                src_row = layer_of_path(rel, layers)
                if src_row is None:
                    problems.append(f"{rel}:1: not in any folder of the layer table (controller/README.md)")
                    continue
                tokens = layers[src_row]
                with open(path, encoding="utf-8") as fh:
                    lines = fh.readlines()
                for n, line in enumerate(lines, 1):
                    m = INCLUDE.match(line)
                    if m:
                        header = m.group(2)
                        for token, rx in EXTERNAL.items():
                            if m.group(1) == "<" and rx.search(header) and token not in tokens:
                                problems.append(f"{rel}:{n}: {short(src_row)} may not include <{header}> "
                                                f"(only layers with `{token}` may)")
                        if m.group(1) == '"':
                            hit = resolve_include(header, layers)
                            if hit is None:
                                if not os.path.exists(os.path.join(dirpath, header)):
                                    problems.append(f'{rel}:{n}: "{header}" is not a header of any layer')
                                continue
                            inc_row, inc_path = hit
                            if not allowed(src_row, inc_row, inc_path, header, tokens):
                                problems.append(f'{rel}:{n}: {short(src_row)} may not include "{header}" '
                                                f"(allowed: {', '.join(sorted(tokens)) or 'nothing'})")
                    if not rel.startswith(VERSION_EXEMPT):
                        v = KERNEL_VERSION.search(line)
                        if v:
                            problems.append(f"{rel}:{n}: names kernel version '{v.group(0)}': only bpf/ and "
                                            f"controller/attach/ know kernel versions")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    args = ap.parse_args()
    problems = check(os.path.abspath(args.root))
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layering violation(s); the allowed edges are the table in controller/README.md",
              file=sys.stderr)
        return 1
    print("layers: every include follows controller/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
