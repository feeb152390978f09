#!/usr/bin/env python3
"""Turns BenchmarkDotNet's *-report-github.md files into the compact tables of docs/benchmarks.md.

Usage: python3 benchmarks/summarize.py [BenchmarkDotNet.Artifacts/results]

Keeps Method, Categories, the parameters, Mean, Median, Ratio, Allocated and Alloc Ratio; prints the environment
block (the machine line) once, then one table per benchmark class in the suite's order.
"""
import html
import pathlib
import sys

ORDER = ["RedisBenchmarks", "ShardedBenchmarks", "MemoryBenchmarks", "ConcurrentRedisBenchmarks",
         "ConcurrentShardedBenchmarks", "ConcurrentMemoryBenchmarks", "BatchBenchmarks", "LayerBenchmarks"]
DROP = {"Error", "StdDev", "RatioSD", "Gen0", "Gen1", "Gen2"}


def cells(line):
    return [html.unescape(c.strip()).strip("'") for c in line.strip().strip("|").split("|")]


def main():
    folder = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "BenchmarkDotNet.Artifacts/results")
    reports = sorted(folder.glob("*-report-github.md"), key=lambda p: next(
        (i for i, name in enumerate(ORDER) if p.name.endswith(f".{name}-report-github.md")), len(ORDER)))
    environment_printed = False
    for report in reports:
        text = report.read_text(encoding="utf-8")
        if not environment_printed:
            environment = text.split("```")[1].strip()
            print("```\n" + environment + "\n```\n")
            environment_printed = True
        rows = [cells(line) for line in text.splitlines() if line.startswith("|")]
        header, body = rows[0], [r for r in rows[2:] if any(r)]
        keep = [i for i, name in enumerate(header) if name not in DROP]
        print(f"### {report.name.removesuffix('-report-github.md').split('.')[-1]}\n")
        print("| " + " | ".join(header[i] for i in keep) + " |")
        print("|" + "|".join("---:" if header[i] in ("Mean", "Median", "Ratio", "Allocated", "Alloc Ratio") else "---"
                             for i in keep) + "|")
        for row in body:
            print("| " + " | ".join(row[i] for i in keep) + " |")
        print()


if __name__ == "__main__":
    main()
