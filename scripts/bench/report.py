#!/usr/bin/env python3
"""The ratio table of scripts/bench.sh, from the JSON both engines wrote in one run.

usage: report.py RUN_DIR

RUN_DIR/runs.tsv    one line per engine call: label, threads, engine (qlm|llama), JSON file
RUN_DIR/membw.tsv   one line per membw measurement: phase (start|end), threads, read GB/s

qlm bench -o json and llama-bench -o json share their field names (n_prompt, n_gen, n_depth,
n_threads, samples_ts), so both are read by the same code: every sample of every call on a
(file, threads, test) is pooled and the median taken. tg's share of membw's read bandwidth is
bytes per token (qlm's bytes_per_token for that file: every matmul weight plus the mean KV cache a
step reads) x tokens/s over the higher of the two membw figures at that thread count.
"""
import csv
import json
import os
import statistics
import sys

GOAL_PP, GOAL_TG, GOAL_BW = 1.30, 1.15, 0.85
NOISY = 0.20  # a spread above this marks the run as too noisy to judge ratios by


def load_rows(path):
    """The rows of one engine's JSON output; [] when the call wrote nothing usable."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def collect(run_dir):
    """samples[(label, threads, engine, 'pp'|'tg')] -> [t/s ...]; bpt[(label, threads)] -> bytes/token;
    also the test sizes seen, the labels in order and the calls that failed."""
    samples, bpt, sizes, labels, failed = {}, {}, {"pp": set(), "tg": set()}, [], []
    with open(os.path.join(run_dir, "runs.tsv")) as f:
        for label, threads, engine, path in csv.reader(f, delimiter="\t"):
            threads = int(threads)
            if label not in labels:
                labels.append(label)
            rows = load_rows(path)
            if not rows:
                failed.append(f"{engine} on {label}, {threads} thread(s): no output ({path[:-5]}.err)")
            for row in rows:
                if row.get("n_depth", 0) != 0 or row.get("n_threads") != threads:
                    continue
                kind, n = ("pp", row["n_prompt"]) if row.get("n_gen", 0) == 0 else ("tg", row["n_gen"])
                sizes[kind].add(n)
                samples.setdefault((label, threads, engine, kind), []).extend(row.get("samples_ts", []))
                if engine == "qlm" and kind == "tg" and row.get("bytes_per_token"):
                    bpt[(label, threads)] = row["bytes_per_token"]
    return samples, bpt, sizes, labels, failed


def read_membw(run_dir):
    best = {}
    path = os.path.join(run_dir, "membw.tsv")
    if os.path.exists(path):
        with open(path) as f:
            for _phase, threads, gbs in csv.reader(f, delimiter="\t"):
                if gbs:
                    best[int(threads)] = max(best.get(int(threads), 0.0), float(gbs))
    return best


def fmt(x, spec=".1f", suffix=""):
    return "–" if x is None else f"{x:{spec}}{suffix}"


def main():
    run_dir = sys.argv[1]
    samples, bpt, sizes, labels, failed = collect(run_dir)
    membw = read_membw(run_dir)
    have_llama = any(k[2] == "llama" for k in samples)
    pp = "pp" + "/".join(str(n) for n in sorted(sizes["pp"]))
    tg = "tg" + "/".join(str(n) for n in sorted(sizes["tg"]))
    threads_all = sorted({k[1] for k in samples})

    def med(label, t, engine, kind):
        v = samples.get((label, t, engine, kind))
        return statistics.median(v) if v else None

    def spread(label, t, engine, kind):
        v = samples.get((label, t, engine, kind))
        return (max(v) - min(v)) / statistics.median(v) if v and len(v) > 1 else None

    def share(label, t, ts):
        b, bw = bpt.get((label, t)), membw.get(t)
        return b * ts / 1e9 / bw if b and bw and ts else None

    if have_llama:
        print(f"| file | threads | {pp} qlm | {pp} llama.cpp | ratio | {tg} qlm | {tg} llama.cpp | ratio "
              "| qlm tg % of membw | llama.cpp tg % of membw | spread |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    else:
        print(f"| file | threads | {pp} qlm | {tg} qlm | qlm tg % of membw | spread |")
        print("|---|---:|---:|---:|---:|---:|")
    misses, rows, widest = [], 0, 0.0
    for label in labels:
        for t in threads_all:
            qp, qt = med(label, t, "qlm", "pp"), med(label, t, "qlm", "tg")
            spreads = [s for e in ("qlm", "llama") for k in ("pp", "tg") if (s := spread(label, t, e, k)) is not None]
            noise = fmt(100 * max(spreads), ".0f", " %") if spreads else "–"
            widest = max([widest] + spreads)
            qshare = share(label, t, qt)
            if not have_llama:
                print(f"| {label} | {t} | {fmt(qp)} | {fmt(qt)} | {fmt(qshare and 100 * qshare, '.0f', ' %')} | {noise} |")
                continue
            lp, lt = med(label, t, "llama", "pp"), med(label, t, "llama", "tg")
            rp = qp / lp if qp and lp else None
            rt = qt / lt if qt and lt else None
            lshare = share(label, t, lt)
            print(f"| {label} | {t} | {fmt(qp)} | {fmt(lp)} | {fmt(rp, '.2f', '×')} | {fmt(qt)} | {fmt(lt)} "
                  f"| {fmt(rt, '.2f', '×')} | {fmt(qshare and 100 * qshare, '.0f', ' %')} "
                  f"| {fmt(lshare and 100 * lshare, '.0f', ' %')} | {noise} |")
            rows += 1
            for name, value, goal in (("pp", rp, GOAL_PP), ("tg", rt, GOAL_TG), ("tg/membw", qshare, GOAL_BW)):
                if value is None:
                    misses.append(f"{label} t={t} {name}: not measured")
                elif value < goal:
                    misses.append(f"{label} t={t} {name}: {value:.2f} < {goal:.2f}")
    print()
    print("spread: the widest (max − min) / median among the row's four sample sets (pooled over rounds);"
          " a ratio closer to 1 than that is within the noise.")
    if widest > NOISY:
        print(f"NOISY RUN: samples of one test differ by up to {100 * widest:.0f} % of their median;"
              " other work shared the cores. Rerun on a quiet machine before reading the numbers.")
    if have_llama:
        print(f"goals (pp ≥ {GOAL_PP:.2f}× and tg ≥ {GOAL_TG:.2f}× llama.cpp, qlm tg ≥ {100 * GOAL_BW:.0f} % of membw): "
              + ("met on every row" if not misses else f"{len(misses)} missed of {3 * rows}:"))
        for m in misses:
            print(f"  - {m}")
    for f in failed:
        print(f"failed: {f}")


if __name__ == "__main__":
    main()
