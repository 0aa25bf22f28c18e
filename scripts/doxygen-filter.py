#!/usr/bin/env python3
"""Doxygen's INPUT_FILTER for include/redlock/*.hpp (docs/Doxyfile): what Doxygen reads of a
header, one output line for each input line, so warnings name the header's own lines.

1. The overview at the top of a header (its `//` lines before `#pragma once`: the type it
   holds, the numbered contract, an example) becomes the documentation of the class it opens
   with ("lease: one lock ...", if the header declares that class or struct), else of the
   file: `//` turns into `///` and `#pragma once` into `\\class redlock::lease` (or
   `\\struct ...`, `\\file`).
2. In every `///` comment, an example or a table, i.e. lines indented two or more spaces past
   the text they follow (the headers' way of showing code), is shown as written instead of
   being run into the text: `\\code` goes at the end of the line before it, `\\endcode` at
   the end of its last line. A list item's own text (`//  1. ...` and the lines that continue
   it) is text.
3. A line of text that starts with `+ `, `- ` or `* ` in the middle of a paragraph continues it
   (a sum or a difference that wrapped): the sign moves to the end of the line before, so that
   Markdown does not start a list there.

Usage: scripts/doxygen-filter.py header.hpp   (prints the filtered header)
"""

import re
import sys

DOC = re.compile(r"^(\s*)///(?!<)(.*)$")
ITEM = re.compile(r"^(\s*)(\d+\.|[-*+])\s+")
OVERVIEW = re.compile(r"^// (\w+)(?:<\w+>)?: ")
DECLARES = re.compile(r"^(class|struct) (?:\[\[nodiscard\]\] )?(?:REDLOCK_API )?(\w+)\b(?!;)")


def indent(text):
    return len(text) - len(text.lstrip(" "))


def subject(lines):
    """What the overview documents: the class it opens with ("lease: one lock ..."), if the
    header declares it, else the file."""
    m = OVERVIEW.match(lines[0])
    if m:
        for line in lines:
            d = DECLARES.match(line)
            if d and d.group(2) == m.group(1):
                return f"\\{d.group(1)} redlock::{m.group(1)}"
    return "\\file"


def overview(lines):
    """Step 1, in place."""
    documented = subject(lines)
    for n, line in enumerate(lines):
        if line.startswith("#pragma once"):
            lines[n] = "/// " + documented
            return
        if not line.startswith("//"):
            return  # no overview: leave the file alone
        lines[n] = "///" + line[2:]


def blank_before(lines, n):
    m = DOC.match(lines[n - 1]) if n > 0 else None
    return not m or not m.group(2).strip()


def examples(lines):
    """Steps 2 and 3, in place."""
    base = None  # indent of the text the next lines continue; None outside a comment
    code = None  # indent at which the current example started; None outside one
    last = None  # index of the current example's last line
    for n, line in enumerate(lines + [""]):
        m = DOC.match(line) if n < len(lines) else None
        body = m.group(2) if m else None
        blank = body is not None and not body.strip()
        if code is not None and (body is None or blank or indent(body) < code):
            lines[last] += " \\endcode"
            code = None
        if body is None:
            base = None
            continue
        if blank:
            continue
        if code is not None:
            last = n
            continue
        if base is not None and indent(body) >= base + 2:
            code, last = indent(body), n
            lines[n - 1] += " \\code"  # the line before is a `///` line (text, or blank)
            continue
        item = ITEM.match(body)
        if item and item.group(2) in "-*+" and base is not None and not blank_before(lines, n):
            # "... at most start of the round\n+ ttl - drift": a sum that wrapped, not a list
            lines[n - 1] += " " + item.group(2)
            lines[n] = m.group(1) + "///" + body[: item.start(2)] + body[item.end() :]
            item = None
        base = item.end() if item else indent(body)


def main(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    overview(lines)
    examples(lines)
    sys.stdout.write("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
