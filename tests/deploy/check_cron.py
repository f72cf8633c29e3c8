#!/usr/bin/env python3
"""Checks a file meant for /etc/cron.d against the rules of Debian's cron (cron(8), crontab(5)).

usage: check_cron.py FILE [--expect-user USER]

 - the file name is a valid run-parts name (letters, digits, '_' and '-'; no dots), else cron
   silently ignores the file;
 - the file is a regular file owned by root (when we are root) and not writable by group or
   others, else cron refuses it;
 - the last line ends with a newline, else cron drops it;
 - every line is blank, a comment, NAME=VALUE, or an entry: five time fields (or @reboot,
   @hourly, ...) then a user that exists, then a command without an unescaped '%' (cron turns
   '%' into a newline).
Prints every problem with its line number; exit 1 if any.
"""
import os
import pwd
import re
import stat
import sys

FIELDS = [  # name, low, high, names
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                      "nov", "dec"]),
    ("day of week", 0, 7, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
]
KEYWORDS = {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
            "@hourly"}


def check_value(text, low, high, names):
    if names and text.lower() in names:
        return None
    if not text.isdigit():
        return f"'{text}' is not a number"
    if not low <= int(text) <= high:
        return f"{text} is outside {low}-{high}"
    return None


def check_field(field, low, high, names):
    """Returns a problem description or None."""
    for item in field.split(","):
        if not item:
            return "empty list item"
        base, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"bad step '{step}'"
        if base == "*":
            continue
        if "-" in base:
            a, _, b = base.partition("-")
            for v in (a, b):
                why = check_value(v, low, high, None)
                if why:
                    return why
            if int(a) > int(b):
                return f"range {base} runs backwards"
        else:
            if step:
                return f"a step needs '*' or a range, got '{item}'"
            why = check_value(base, low, high, names)
            if why:
                return why
    return None


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    path = args[0]
    problems = []
    name = os.path.basename(path)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        problems.append(f"file name '{name}': cron ignores names with characters other than "
                        "letters, digits, '_' and '-' (no dots)")
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        problems.append("not a regular file")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append(f"mode {stat.S_IMODE(st.st_mode):o}: writable by group or others")
    if os.geteuid() == 0 and st.st_uid != 0:
        problems.append(f"owned by uid {st.st_uid}, not root")
    data = open(path, "rb").read()
    if not data.endswith(b"\n"):
        problems.append("the last line does not end with a newline (cron drops it)")
    entries = 0
    for no, line in enumerate(data.decode("utf-8").split("\n"), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\s*=.*", s):
            continue
        words = s.split(None, 6)
        if words[0].startswith("@"):
            if words[0] not in KEYWORDS:
                problems.append(f"line {no}: unknown keyword {words[0]}")
                continue
            rest = s.split(None, 2)[1:]
        else:
            if len(words) < 7:
                problems.append(f"line {no}: expected 5 time fields, a user and a command")
                continue
            for (fname, low, high, names), field in zip(FIELDS, words[:5]):
                why = check_field(field, low, high, names)
                if why:
                    problems.append(f"line {no}: {fname} '{field}': {why}")
            rest = words[5:]
        if len(rest) < 2 or not rest[1].strip():
            problems.append(f"line {no}: missing the user field or the command")
            continue
        user, command = rest[0], rest[1]
        try:
            pwd.getpwnam(user)
        except KeyError:
            problems.append(f"line {no}: user '{user}' does not exist (is the user field there?)")
        if re.search(r"(?<!\\)%", command):
            problems.append(f"line {no}: unescaped '%' in the command (cron makes it a newline)")
        entries += 1
    if entries == 0:
        problems.append("no entries")
    for p in problems:
        print(f"{path}: {p}")
    if not problems:
        print(f"{path}: OK, {entries} entries")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
