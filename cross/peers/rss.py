#!/usr/bin/env python3
"""Runs a command and reports its wall time and memory (cross/peers/run's `timed`).

    rss.py OUT CMD...

Writes one line to OUT: "SECONDS PEAK_KIB ANON_KIB FILE_KIB". The command runs under
`/usr/bin/time`, whose max RSS (ru_maxrss) is the kernel's exact high-water mark of the
command's RSS (ru_maxrss of a child forked from this Python process would count Python's own
pages, inherited until exec). ANON_KIB and FILE_KIB split the peak: RssAnon and RssFile of
/proc/PID/status at the sample (every 5 ms) with the highest VmRSS; a peak shorter than 5 ms
can be missed by the split, never by PEAK_KIB. Returns the command's exit code; its output
goes where this script's goes."""
import os
import subprocess
import sys
import time


def status(pid):
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    fields[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return fields


def child_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except (OSError, ValueError):
        return None


def main():
    out, cmd = sys.argv[1], sys.argv[2:]
    timef = out + ".time"
    start = time.monotonic()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%e %M", "-o", timef, *cmd])
    best = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    target = None
    while proc.poll() is None:
        target = target or child_of(proc.pid)
        if target:
            s = status(target)
            if s.get("VmRSS", 0) > best["VmRSS"] and "RssAnon" in s and "RssFile" in s:
                best = s
        time.sleep(0.005)
    elapsed = time.monotonic() - start
    peak = 0
    try:
        with open(timef) as f:
            line = f.read().strip().splitlines()[-1].split()
            elapsed, peak = float(line[0]), int(line[1])
    except (OSError, ValueError, IndexError):
        pass
    with open(out, "w") as f:
        f.write(f"{elapsed:.2f} {peak} {best['RssAnon']} {best['RssFile']}\n")
    sys.exit(proc.returncode)


main()
