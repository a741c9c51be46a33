#!/usr/bin/env python3
"""Put a generated section into docs/results.md between its own markers.

usage: splice.py results.md section.md BEGIN END
The section file starts with the BEGIN line and ends with the END line. An
existing section with the same markers is replaced in place; otherwise the
section is appended, so a run for one data set leaves the others' alone.
"""
import re
import sys

path, section, begin, end = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3], sys.argv[4]
try:
    text = open(path).read()
except FileNotFoundError:
    text = "# Results\n"
own = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
if own.search(text):
    text = own.sub(lambda m: section, text, count=1)
else:
    text = text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
