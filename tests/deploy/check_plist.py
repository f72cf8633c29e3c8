#!/usr/bin/env python3
"""Parses a launchd plist with plistlib and checks the keys the runbook's LaunchAgents need.

usage: check_plist.py FILE LABEL PROGRAM CONFIG LOG [WORKDIR]

FILE must parse (plistlib; `plutil -lint` on a Mac), and hold: Label == LABEL; ProgramArguments
== [PROGRAM, "--config", CONFIG]; RunAtLoad true; KeepAlive true; ThrottleInterval a positive
integer; StandardOutPath == StandardErrorPath == LOG; WorkingDirectory == WORKDIR when given; for
com.ringrift.p2p, AbandonProcessGroup true (jobs outlive a daemon restart). Exit 1 on any problem.
"""
import plistlib
import sys


def main():
    if len(sys.argv) not in (6, 7):
        print(__doc__, file=sys.stderr)
        return 2
    path, label, program, config, log = sys.argv[1:6]
    workdir = sys.argv[6] if len(sys.argv) == 7 else None
    try:
        with open(path, "rb") as f:
            p = plistlib.load(f)
    except Exception as e:  # noqa: BLE001 - any parse failure is the finding
        print(f"{path}: does not parse: {e}")
        return 1
    problems = []

    def expect(key, want):
        if p.get(key) != want:
            problems.append(f"{key} = {p.get(key)!r}, expected {want!r}")

    expect("Label", label)
    expect("ProgramArguments", [program, "--config", config])
    expect("RunAtLoad", True)
    expect("KeepAlive", True)
    ti = p.get("ThrottleInterval")
    if not isinstance(ti, int) or isinstance(ti, bool) or ti <= 0:
        problems.append(f"ThrottleInterval = {ti!r}, expected a positive integer")
    expect("StandardOutPath", log)
    expect("StandardErrorPath", log)
    if workdir is not None:
        expect("WorkingDirectory", workdir)
    if label == "com.ringrift.p2p":
        expect("AbandonProcessGroup", True)
    for q in problems:
        print(f"{path}: {q}")
    if not problems:
        print(f"{path}: OK ({label})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
