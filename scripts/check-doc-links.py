#!/usr/bin/env python3
"""Checks every relative link in the tree's Markdown files: the file (or
folder) it names exists, and an #anchor names a heading of the target, with
GitHub's rules for heading anchors. Links to web addresses are not fetched.

Usage: scripts/check-doc-links.py [FILE.md ...]   (default: every tracked *.md)
Exit status: 0 every link resolves, 1 otherwise (one line per broken link).
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"(?<!\!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose_lines(text):
    """(line number, line) outside fenced code blocks, inline code removed."""
    in_fence = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield n, re.sub(r"`[^`]*`", "``", line)


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(path):
    found, seen = set(), {}
    in_fence = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if FENCE.match(line):
                in_fence = not in_fence
                continue
            m = None if in_fence else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                s = slug(m.group(1))
                n = seen.get(s, 0)
                seen[s] = n + 1
                found.add(s if n == 0 else f"{s}-{n}")
    return found


def check(md):
    problems = []
    rel = os.path.relpath(md, ROOT)
    with open(md, encoding="utf-8") as f:
        text = f.read()
    for n, line in prose_lines(text):
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
                continue
            path, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(md), path)) if path else md
            if not os.path.exists(dest):
                problems.append(f"{rel}:{n}: {target}: no such file")
            elif anchor and (os.path.isdir(dest) or not dest.endswith(".md")):
                problems.append(f"{rel}:{n}: {target}: an anchor into a file that is not Markdown")
            elif anchor and anchor not in anchors(dest):
                problems.append(f"{rel}:{n}: {target}: no heading '#{anchor}' in {os.path.relpath(dest, ROOT)}")
    return problems


def main(argv):
    files = argv[1:] or [os.path.join(ROOT, p) for p in subprocess.run(
        ["git", "-C", ROOT, "ls-files", "*.md"], capture_output=True, text=True, check=True).stdout.split()]
    problems = [p for md in files for p in check(os.path.abspath(md))]
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} broken link(s)", file=sys.stderr)
        return 1
    print(f"links: every relative link in {len(files)} Markdown file(s) resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
