#!/usr/bin/env python3
"""Compiles every C++ block of README.md and docs/*.md against include/ (scripts/test.sh runs it).

The convention, one rule for every block:

- A block is a fenced block whose info string is `cpp` (```cpp), indented or not (a block in a
  list item is read without its indentation).
- Every block sees scripts/doc-prelude.hpp first: <redlock/redlock.hpp>, the chrono literals,
  the client `locks` and its `options` as the README's first example makes them, and the few
  helpers the docs call (die, log, work_until, ...). A block that needs another name gets it
  there, not in the doc.
- A block that defines `int main(` is a whole translation unit and is compiled as it stands.
  Any other block is a fragment: its #include lines move to the top and the rest becomes the
  body of a function returning void (so `return;` ends it). A fragment cannot define a type or
  a function at namespace scope; a block that must is written with its main().
- `<!-- doc-check: skip (why) -->` as the last non-blank line before a block's opening fence
  leaves it out, for a block that is deliberately not C++. That should be rare: prefer making
  it compile.

Each block is compiled on its own with `c++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only`
(CXX overrides c++). Diagnostics name the Markdown file and line (#line), so an ignored
[[nodiscard]] result shows where the doc is. Exits 1 if any block fails.

Usage: scripts/check-doc-blocks.py [file.md ...]   (default: README.md and docs/*.md)
"""

import concurrent.futures
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRELUDE = ROOT / "scripts" / "doc-prelude.hpp"
FLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"]

OPEN = re.compile(r"^(\s*)(`{3,})\s*([^`\s]*)[^`]*$")
DIRECTIVE = re.compile(r"^\s*<!--\s*doc-check:(.*?)-->\s*$")
SKIP = re.compile(r"^\s*skip\s*\((.*\S.*)\)\s*$")
MAIN = re.compile(r"^\s*int\s+main\s*\(", re.MULTILINE)
INCLUDE = re.compile(r"^\s*#\s*include\b")


class Block:
    def __init__(self, path, line, lines, skip):
        self.path = path  # relative to ROOT, as diagnostics name it
        self.line = line  # of the block's first line of code
        self.lines = lines
        self.skip = skip  # the reason given in a skip directive, or None

    def where(self):
        return f"{self.path}:{self.line - 1}"


def blocks_of(path):
    """Yields the ```cpp blocks of one Markdown file; raises ValueError on a bad directive."""
    rel = Path(os.path.relpath(path, ROOT)).as_posix()
    text = path.read_text(encoding="utf-8").splitlines()
    last_text = ""  # the last non-blank line outside blocks
    i = 0
    while i < len(text):
        m = OPEN.match(text[i])
        if not m:
            if text[i].strip():
                last_text = text[i]
            i += 1
            continue
        indent, fence, info = len(m.group(1)), m.group(2), m.group(3)
        start = i + 1
        i += 1
        while i < len(text) and not re.match(r"^\s*" + fence + r"`*\s*$", text[i]):
            i += 1
        if i == len(text):
            raise ValueError(f"{rel}:{start}: fence opened here is never closed")
        body = [line[indent:] if line[:indent].strip() == "" else line for line in text[start:i]]
        i += 1
        skip = None
        d = DIRECTIVE.match(last_text)
        if d:
            s = SKIP.match(d.group(1))
            if not s:
                raise ValueError(
                    f"{rel}:{start - 1}: unknown doc-check directive"
                    f" {d.group(1).strip()!r} (only 'skip (why)')"
                )
            skip = s.group(1)
        last_text = ""
        if info != "cpp":
            continue
        yield Block(rel, start + 1, body, skip)


def source_of(block):
    """The translation unit for one block."""
    out = [f'#include "{PRELUDE}"']
    if MAIN.search("\n".join(block.lines)):
        out.append(f'#line {block.line} "{block.path}"')
        out.extend(block.lines)
        return "\n".join(out) + "\n"
    body = []
    for n, line in enumerate(block.lines):
        if INCLUDE.match(line):
            out.append(f'#line {block.line + n} "{block.path}"')
            out.append(line)
            body.append("")  # keeps the body's line numbers
        else:
            body.append(line)
    out.append("void doc_block() {")
    out.append(f'#line {block.line} "{block.path}"')
    out.extend(body)
    out.append("}")
    return "\n".join(out) + "\n"


def compile_block(block):
    cxx = shlex.split(os.environ.get("CXX", "c++"))
    cmd = cxx + FLAGS + ["-I", str(ROOT / "include"), "-x", "c++", "-"]
    run = subprocess.run(cmd, input=source_of(block), capture_output=True, text=True, cwd=ROOT)
    return block, run.returncode, run.stdout + run.stderr


def main(argv):
    files = [Path(a).resolve() for a in argv] or [ROOT / "README.md"] + sorted(
        (ROOT / "docs").glob("*.md")
    )
    try:
        found = [b for f in files for b in blocks_of(f)]
    except ValueError as e:
        print(f"check-doc-blocks: {e}", file=sys.stderr)
        return 1
    blocks = [b for b in found if b.skip is None]
    jobs = min(2, os.cpu_count() or 1)
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for block, rc, output in pool.map(compile_block, blocks):
            if rc != 0:
                failed += 1
                print(f"check-doc-blocks: {block.where()}: the block does not compile:")
                print(output.rstrip())
    skipped = len(found) - len(blocks)
    print(
        f"check-doc-blocks: {len(blocks) - failed} of {len(blocks)} C++ blocks compile"
        + (f" ({skipped} skipped)" if skipped else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
