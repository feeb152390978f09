#!/usr/bin/env python3
"""Turns BenchmarkDotNet's *-report-github.md files into compact tables: per group, each row's ratio to its baseline.

Usage: python3 benchmarks/summarize.py [BenchmarkDotNet.Artifacts/results]

Prints the environment block (the machine and runtime lines) once, then per benchmark class, in the suite's order, the
StackExchange.Redis version its rows ran on and one table per group. A group is what BenchmarkDotNet compares with one
baseline: the rows that share the category and the parameters (and the job, when a run had several). Each row shows
its mean and median, Mean / baseline Mean, its allocated bytes per operation, and those bytes minus and over the
baseline's. Ratios here are of the means (BenchmarkDotNet's own Ratio column is the mean of per-iteration ratios, so it
can differ in the second decimal). Rows that failed show NA.
"""
import html
import pathlib
import re
import sys

ORDER = ["RedisGetBenchmarks", "RedisSlidingGetBenchmarks", "RedisSetBenchmarks", "RedisSyncGetBenchmarks",
         "BatchBenchmarks", "ConcurrentRedisBenchmarks", "HybridCacheBenchmarks", "FusionCacheBenchmarks",
         "ShardedBenchmarks", "ConcurrentShardedBenchmarks", "MemoryBenchmarks", "ConcurrentMemoryBenchmarks",
         "LayerBenchmarks"]

# Columns that are measurements or annotations; every other column but Method names the group.
MEASURES = {"Method", "Redis client", "Mean", "Error", "StdDev", "Median", "Ratio", "RatioSD", "Baseline",
            "Gen0", "Gen1", "Gen2", "Allocated", "Alloc Ratio", "Min", "Max", "Q1", "Q3", "Op/s"}

TIME_UNITS = {"s": 1e9, "ms": 1e6, "μs": 1e3, "us": 1e3, "ns": 1.0}
SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}


def cells(line):
    return [html.unescape(c.strip()).strip("'") for c in line.strip().strip("|").split("|")]


def nanoseconds(text):
    match = re.fullmatch(r"([\d,.]+)\s*(\S+)", text.strip())
    if not match or match.group(2) not in TIME_UNITS:
        return None
    return float(match.group(1).replace(",", "")) * TIME_UNITS[match.group(2)]


def bytes_of(text):
    text = text.strip()
    if text == "-":
        return 0.0
    match = re.fullmatch(r"([\d,.]+)\s*(\S+)", text)
    if not match or match.group(2) not in SIZE_UNITS:
        return None
    return float(match.group(1).replace(",", "")) * SIZE_UNITS[match.group(2)]


def ratio(value, base):
    if value is None or base is None or base == 0:
        return "NA"
    return f"{value / base:.2f}"


def delta(value, base):
    if value is None or base is None:
        return "NA"
    return f"{value - base:+,.0f} B"


def allocated(value):
    return "NA" if value is None else f"{value:,.0f} B"


def class_name(report):
    return report.name.removesuffix("-report-github.md").split(".")[-1]


def summarize(report):
    text = report.read_text(encoding="utf-8")
    rows = [cells(line) for line in text.splitlines() if line.startswith("|")]
    if len(rows) < 3:
        return
    header, body = rows[0], [r for r in rows[2:] if any(r)]
    column = {name: i for i, name in enumerate(header)}
    keys = [name for name in header if name not in MEASURES]
    clients = sorted({r[column["Redis client"]] for r in body}) if "Redis client" in column else []

    groups = {}
    for row in body:
        groups.setdefault(tuple(row[column[k]] for k in keys), []).append(row)

    client = f" (StackExchange.Redis {', '.join(clients)})" if clients else ""
    print(f"### {class_name(report)}{client}\n")
    for key, members in groups.items():
        baseline = next((r for r in members if "Baseline" in column and r[column["Baseline"]] == "Yes"), members[0])
        base_mean = nanoseconds(baseline[column["Mean"]])
        base_alloc = bytes_of(baseline[column["Allocated"]]) if "Allocated" in column else None
        title = ", ".join(f"{k}={v}" for k, v in zip(keys, key) if v) or "one group"
        print(f"{title}; baseline: {baseline[column['Method']]}\n")
        print("| Method | Mean | Median | Ratio | Allocated | Alloc vs baseline | Alloc Ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for row in members:
            mean = nanoseconds(row[column["Mean"]])
            alloc = bytes_of(row[column["Allocated"]]) if "Allocated" in column else None
            median = row[column["Median"]] if "Median" in column else ""
            print(f"| {row[column['Method']]} | {row[column['Mean']]} | {median} | {ratio(mean, base_mean)} | "
                  f"{allocated(alloc)} | {delta(alloc, base_alloc)} | {ratio(alloc, base_alloc)} |")
        print()


def main():
    folder = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "BenchmarkDotNet.Artifacts/results")
    reports = sorted(folder.glob("*-report-github.md"),
                     key=lambda p: (ORDER.index(class_name(p)) if class_name(p) in ORDER else len(ORDER), p.name))
    if not reports:
        sys.exit(f"summarize.py: no *-report-github.md in {folder}")
    environment = reports[0].read_text(encoding="utf-8").split("```")
    if len(environment) > 1:
        # The machine and runtime lines; the job line after them is BenchmarkDotNet's per-class list of common values.
        print("```\n" + environment[1].strip().split("\n\n")[0] + "\n```\n")
    for report in reports:
        summarize(report)


if __name__ == "__main__":
    main()
