#!/usr/bin/env python3
"""Our one-thread throughput against an earlier commit's, on this machine, in alternating runs.

Run by `make bench-against REV=<commit>` (default HEAD: the working tree against the last
commit):

    python3 bench/against.py --rev REV [--runs N] [--work DIR] --profile PATH --convert PATH
        DATA_DIR

A shared VM's speed drifts by 10-15 % from one hour to the next, so MB/s measured on
different days (or in `make bench` runs an hour apart) cannot tell a change of a few per cent,
nor whether a target set on another host is met. This script builds REV's `profile` and
`convert` examples (from `git archive REV`, into DIR, default target/bench-against) and runs
them and ours in turn, N rounds (default 9), the order swapped every round, on the files of
DATA_DIR (the bench_data example's). Each figure is one thread's: `--threads 1` when the
program's usage names that option; a program from before it has one thread anyway. Each
converts with its own tree's bench/bench_rows.toml.

Printed for each file: the best and median wall time of each, MB/s from the best, and ours
over REV's. MB = 10^6 bytes of the file as stored. The programs' outputs are not compared
(their reports may have gained fields since REV); a run that fails stops the script.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Program:
    """One side of the comparison: its programs and contract."""

    label: str
    profile: Path
    convert: Path | None
    contract: Path | None
    profile_threads: bool = False
    convert_threads: bool = False


@dataclass
class Runs:
    walls: list[float] = field(default_factory=list)

    def best(self) -> float:
        return min(self.walls)

    def median(self) -> float:
        return statistics.median(self.walls)


def names_threads(program: Path) -> bool:
    """Whether the program's usage (printed when run without arguments) names --threads."""
    probe = subprocess.run([str(program)], capture_output=True, text=True, check=False)
    return "--threads" in probe.stdout + probe.stderr


def build_revision(rev: str, work: Path) -> Program:
    """REV's examples, built from `git archive REV` under `work` (kept for the next run)."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.strip()
    tree = work / commit[:12]
    if not (tree / "Cargo.toml").exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
    target = work / "target"
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    print(f"building {rev} ({commit[:12]})'s examples in {tree} ...", flush=True)
    examples = ["--example", "profile"]
    has_convert = (tree / "shared/examples/convert.rs").exists()
    if has_convert:
        examples += ["--example", "convert"]
    subprocess.run(["cargo", "build", "--release", "-p", "shared", *examples], cwd=tree,
                   env=env, check=True)
    contract = tree / "bench/bench_rows.toml"
    return Program(
        label=commit[:12],
        profile=target / "release/examples/profile",
        convert=target / "release/examples/convert" if has_convert else None,
        contract=contract if contract.exists() else None,
    )


def run_once(argv: list[str], before=None) -> float:
    """The wall time of one run of `argv` (output discarded); exits on a failure."""
    if before:
        before()
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode()[-300:]}")
    return wall


def alternate(sides: list[tuple[list[str], object]], runs: int) -> list[Runs]:
    """Runs each side once a round, `runs` rounds, the order reversed every other round."""
    results = [Runs() for _ in sides]
    for round_ in range(runs):
        order = range(len(sides)) if round_ % 2 == 0 else reversed(range(len(sides)))
        for i in order:
            argv, before = sides[i]
            results[i].walls.append(run_once(argv, before))
    return results


def profile_argv(program: Program, path: Path) -> list[str]:
    threads = ["--threads", "1"] if program.profile_threads else []
    return [str(program.profile), *threads, str(path)]


def convert_argv(program: Program, path: Path, out: Path) -> list[str]:
    threads = ["--threads", "1"] if program.convert_threads else []
    return [str(program.convert), "--contract", str(program.contract), *threads, str(path),
            str(out)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", required=True, help="the commit to compare with")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--work", type=Path, default=ROOT / "target/bench-against")
    parser.add_argument("--profile", type=Path, required=True, help="our profile example")
    parser.add_argument("--convert", type=Path, required=True, help="our convert example")
    parser.add_argument("data", type=Path, help="the bench_data example's directory")
    args = parser.parse_args()

    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    earlier = build_revision(args.rev, args.work)
    ours = Program("ours", args.profile, args.convert, ROOT / "bench/bench_rows.toml")
    for program in (earlier, ours):
        program.profile_threads = names_threads(program.profile)
        if program.convert:
            program.convert_threads = names_threads(program.convert)

    rows = []
    for name in ("rows.csv", "rows.jsonl", "rows.csv.gz"):
        path = args.data / name
        if not path.exists():
            continue
        print(f"  profile {name}: {args.runs} alternating rounds ...", flush=True)
        results = alternate([(profile_argv(p, path), None) for p in (earlier, ours)], args.runs)
        rows.append((f"profile {name}", path.stat().st_size, results))
    csv = args.data / "rows.csv"
    if earlier.convert and earlier.contract and csv.exists():
        print(f"  convert rows.csv: {args.runs} alternating rounds ...", flush=True)
        sides = []
        for program in (earlier, ours):
            out = args.work / f"out-{program.label}"
            out.mkdir(parents=True, exist_ok=True)
            target = out / "rows.csv.parquet"
            sides.append((convert_argv(program, csv, out),
                          lambda t=target: t.unlink(missing_ok=True)))
        rows.append(("convert rows.csv", csv.stat().st_size, alternate(sides, args.runs)))

    print()
    print(f"one thread, {earlier.label} (REV) against ours; best and median wall of "
          f"{args.runs} alternating runs; MB/s from the best")
    header = ("run", "REV best s", "REV med s", "REV MB/s", "ours best s", "ours med s",
              "ours MB/s", "ours/REV")
    table = [header]
    for label, size, (rev_runs, our_runs) in rows:
        table.append((label, f"{rev_runs.best():.3f}", f"{rev_runs.median():.3f}",
                      f"{size / 1e6 / rev_runs.best():.0f}", f"{our_runs.best():.3f}",
                      f"{our_runs.median():.3f}", f"{size / 1e6 / our_runs.best():.0f}",
                      f"{rev_runs.best() / our_runs.best():.3f}x"))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(cell.rjust(w) if j else cell.ljust(w)
                        for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
