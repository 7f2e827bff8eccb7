#!/usr/bin/env python3
"""Formats cross/peers/run's TSV (tool, workload, measure, value) as the markdown tables of
docs/performance.md ("Beside the peers"), with the goals of issue 21 checked. Given several
TSVs (repeated runs), each number is the median of the runs (the first run's text for the
rest)."""
import statistics
import sys
from collections import defaultdict

runs = defaultdict(lambda: defaultdict(list))
for path in sys.argv[1:]:
    for line in open(path):
        tool, wl, measure, value = line.rstrip("\n").split("\t")
        runs[(tool, wl)][measure].append(value)
v = defaultdict(dict)
for key, measures in runs.items():
    for measure, values in measures.items():
        try:
            v[key][measure] = str(statistics.median(float(x) for x in values))
        except ValueError:
            v[key][measure] = values[0]
if len(sys.argv) > 2:
    print(f"(median of {len(sys.argv) - 1} runs)")


def num(tool, wl, m):
    try:
        return float(v[(tool, wl)][m])
    except (KeyError, ValueError):
        return None


def s(x):
    return "-" if x is None else f"{x:.2f} s"


def mib(x):
    return "-" if x is None else f"{x / 1024:.1f} MiB"


def kb(x):
    return "-" if x is None else f"{x / 1024:.0f} KiB"


def n(x):
    return "-" if x is None else f"{x:.0f}"


names = {"ferry": "ferry `sync --once`", "kubectl": "kubectl apply --server-side",
         "flux": "Flux engine (fluxcd/pkg/ssa)"}
for wl, title in (("mixed", "1000 mixed objects"), ("k3s", "tests/corpus/k3s (35 objects)")):
    print(f"\n**{title}**\n")
    print("| tool | first sync | its requests | no-change pass | its requests | its bytes | peak RSS | idle RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for tool in ("ferry", "kubectl", "flux"):
        g = lambda m: num(tool, wl, m)
        print(f"| {names[tool]} | {s(g('first_s'))} | {n(g('first_requests'))} | {s(g('nochange_s'))} "
              f"| {n(g('nochange_requests'))} | {kb(g('nochange_bytes'))} | {mib(g('peak_kib'))} "
              f"| {mib(g('idle_kib'))} |")
    print()
    for tool, key in (("ferry", "nochange_methods"), ("kubectl", "nochange_methods"),
                      ("flux", "nochange_methods"), ("ferry", "sweep_methods")):
        if key in v[(tool, wl)]:
            print(f"- {tool} {key.replace('_methods', '')} requests by method: `{v[(tool, wl)][key]}`")
    conns = [f"{t} {n(num(t, wl, 'first_conns'))}" for t in ("ferry", "kubectl", "flux")
             if num(t, wl, "first_conns") is not None]
    if conns:
        print(f"- client connections (TLS handshakes) in the first sync: {', '.join(conns)}")
    for key in ("first_actions", "nochange_actions"):
        if key in v[("flux", wl)]:
            print(f"- flux {key.replace('_actions', '')} change set: `{v[('flux', wl)][key]}`")
    fa, wa = num("flux", wl, "first_apply_s"), num("flux", wl, "nochange_apply_s")
    if fa is not None:
        print(f"- flux ApplyAllStaged alone: first {fa:.2f} s, no-change {wa:.2f} s (the rest is WaitForSet)")
    split = lambda t, a, f: (f"{t}: anon {mib(num('ferry', wl, a))}, file {mib(num('ferry', wl, f))}")
    if num("ferry", wl, "peak_anon_kib") is not None:
        print(f"- ferry RSS split (RssAnon, RssFile): {split('first-sync peak', 'peak_anon_kib', 'peak_file_kib')}"
              f" (at the highest sample); {split('daemon idle', 'idle_anon_kib', 'idle_file_kib')};"
              f" no-change pass peak {mib(num('ferry', wl, 'nochange_peak_kib'))}")
    if num("flux", wl, "idle_anon_kib") is not None:
        print(f"- flux idle RSS split: anon {mib(num('flux', wl, 'idle_anon_kib'))}, "
              f"file {mib(num('flux', wl, 'idle_file_kib'))}")
    sw = num("ferry", wl, "sweep_requests")
    if sw is not None:
        print(f"- ferry daemon pass with the full dry-run sweep: {n(sw)} requests, "
              f"{kb(num('ferry', wl, 'sweep_bytes'))}; daemon peak {mib(num('ferry', wl, 'daemon_peak_kib'))}")
    print("\n| goal (issue 21) | figure | met |\n|---|---|---|")
    f1, k1, x1 = num("ferry", wl, "first_s"), num("kubectl", wl, "first_s"), num("flux", wl, "first_s")
    fr, xr = num("ferry", wl, "nochange_requests"), num("flux", wl, "nochange_requests")
    fp, xp = num("ferry", wl, "peak_kib"), num("flux", wl, "peak_kib")
    fi, xi = num("ferry", wl, "idle_kib"), num("flux", wl, "idle_kib")
    def goal(text, a, b, limit, higher):
        if a is None or b is None or b == 0:
            print(f"| {text} | - | - |")
            return
        r = a / b
        ok = r >= limit if higher else r <= limit
        print(f"| {text} | {r:.2f}x | {'yes' if ok else 'no'} |")
    goal("first sync: kubectl time / ferry time >= 5", k1, f1, 5, True)
    goal("first sync: Flux time / ferry time > 1", x1, f1, 1.0000001, True)
    goal("no-change requests: ferry / Flux <= 0.1", fr, xr, 0.1, False)
    goal("peak RSS: ferry / Flux <= 0.1", fp, xp, 0.1, False)
    goal("idle RSS: ferry daemon / Flux process <= 0.1", fi, xi, 0.1, False)
