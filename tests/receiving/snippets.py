"""Fails unless every Python, JavaScript and Rust block of docs/receiving.md is quoted, byte
for byte, from the receiver that run.sh runs: the line before such a block names its file,
as `<!-- from tests/receiving/python/receiver.py -->`.

Usage: python3 snippets.py ROOT
"""

import re
import sys

CHECKED = {"python", "js", "javascript", "rust"}
root = sys.argv[1]
page = open(f"{root}/docs/receiving.md").read()
blocks = re.finditer(r"(?:<!-- from (\S+) -->\n)?```(\w*)\n(.*?)^```$", page, re.S | re.M)
problems = []
quoted = 0
for block in blocks:
    source, language, code = block.groups()
    line = page.count("\n", 0, block.start()) + 1
    if source is None:
        if language in CHECKED:
            problems.append(f"line {line}: a {language} block that names no file it is quoted from")
        continue
    try:
        text = open(f"{root}/{source}").read()
    except OSError as error:
        problems.append(f"line {line}: {error}")
        continue
    if code not in text:
        problems.append(f"line {line}: this block is not in {source} as it stands; copy it again")
    quoted += 1
if quoted == 0:
    problems.append("no quoted block at all")
for problem in problems:
    print(f"FAIL: docs/receiving.md {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"ok docs/receiving.md: {quoted} blocks quoted verbatim from tests/receiving/")
