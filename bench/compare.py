#!/usr/bin/env python3
"""Throughput and memory of our `profile` example against DuckDB and Polars, at equal threads.

Run by `make bench` with the venv of scripts/setup-tools:

    .tools/venv/bin/python bench/compare.py [--runs N] [--threads 1,2] [--profile PATH]
        [--convert PATH] DATA_DIR

For each thread count of --threads (default: 1 and 2) and each file of DATA_DIR (rows.csv,
rows.jsonl, rows.csv.gz from the bench_data example), every engine given that many threads:

- ours: the `profile` program with `--threads N` on the file, report on stdout; wall time and
  CPU time of the whole process, peak RSS of the process (os.wait4).
- DuckDB: `SUMMARIZE SELECT * FROM read_csv(FILE)` (read_json for JSON Lines) with
  `SET threads=N`, in a fresh connection.
- Polars: a lazy scan of the file reduced to the same per-column summary our report has (row
  count, null count, min, max, approximate distinct count), with POLARS_MAX_THREADS=N (read
  once, when Polars is imported: each measurement is a fresh process).

The scaling line compares ours at the highest thread count with ours on one thread (target:
at least 1.8 times on 2 threads, for profile and for convert). The targets judge ours from
extra runs of one thread and of the highest count alternating (best of N each), since the
tables' runs of each count lie minutes apart and a shared VM's speed drifts in between. Beside it, the machine's own
ceiling: as many one-thread profiles of rows.csv as the highest thread count, run at once, give
what multiple of one alone's throughput (a shared VM's cores, caches and memory bandwidth keep
that under the thread count, and it differs from host to host).

DuckDB and Polars run in a child Python process each (this script with `--worker`), so that
their peak RSS is measured like ours; their time is measured inside the child around the query
only (interpreter start and imports excluded, which favours them). Peak RSS of a child includes
the Python interpreter and the library (about 40-90 MiB before any data).

Then, CSV -> Parquet (zstd level 3) on rows.csv, at each thread count, with the same
column types (bench/bench_rows.toml: BIGINT id, DECIMAL(12,2) amount, BOOLEAN, DATE,
TIMESTAMP WITH TIME ZONE (UTC, microseconds), INTEGER quantity, strings; empty fields null):

- ours: the `convert` example with that contract (whole process, as for `profile`); with
  `--threads N` when its usage names that option, else on one thread only (and left out of
  the other thread counts).
- DuckDB: `COPY (SELECT * FROM read_csv(FILE, columns=...)) TO OUT (FORMAT parquet,
  COMPRESSION zstd, COMPRESSION_LEVEL 3)` with `SET threads=N`.
- Polars: `scan_csv(FILE, schema=...).sink_parquet(OUT, compression="zstd",
  compression_level=3)` with POLARS_MAX_THREADS=N.
- pyarrow: `csv.read_csv` (whole table in memory) and `parquet.write_table(compression="zstd",
  compression_level=3)` after `pa.set_cpu_count(N)` and `pa.set_io_thread_count(N)`.

The level is set explicitly because the defaults differ (Arrow's zstd default is 1; ours, DuckDB's
and Polars' are 3). Each output is then read back by DuckDB in a separate process (not measured)
for its row and non-null counts and a few sums, which must equal ours.

Each measurement is the best (lowest wall time) of N runs, after one read of the file to put it
in the page cache; peak RSS is the highest of the N runs. MB = 10^6 bytes of the file as
stored (compressed size for .gz), MiB = 2^20 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FILES = ["rows.csv", "rows.jsonl", "rows.csv.gz"]
ENGINES = ["ours", "duckdb", "polars"]
CONVERT_FILES = ["rows.csv"]
CONVERT_ENGINES = ["ours", "duckdb", "polars", "pyarrow"]
CONVERT_CONTRACT = Path(__file__).resolve().parent / "bench_rows.toml"
ZSTD_LEVEL = 3

# The contract's columns (bench/bench_rows.toml) in each engine's terms.
COLUMNS = ["id", "amount", "active", "day", "created_at", "city", "status", "quantity", "note"]
# What verify_worker's summary holds, in order.
SUMMARY = ["rows", *(f"count({c})" for c in COLUMNS), "sum(amount)", "sum(quantity)",
           "sum(created_at)", "sum(day)", "count(active)", "length(city)", "length(note)",
           "length(status)"]
DUCKDB_TYPES = {
    "id": "BIGINT", "amount": "DECIMAL(12,2)", "active": "BOOLEAN", "day": "DATE",
    "created_at": "TIMESTAMPTZ", "city": "VARCHAR", "status": "VARCHAR", "quantity": "INTEGER",
    "note": "VARCHAR",
}

# What the project aims at (printed beside the results; --check makes them fail the run).
# Throughput and ratios are the one-thread figures; scaling is ours on the highest thread
# count over ours on one thread, per file (1.8 on 2 threads, scaled with the count).
TARGET_SCALING_PER_THREAD = 0.9
TARGET_CSV_MBPS = 400.0
TARGET_DUCKDB_RATIO = 3.0
TARGET_RSS_MIB = 64.0


@dataclass
class Run:
    wall: float
    cpu: float
    rss_kib: int


@dataclass
class Result:
    runs: list[Run] = field(default_factory=list)
    error: str | None = None
    note: str = ""
    output: Path | None = None

    @property
    def best(self) -> Run | None:
        return min(self.runs, key=lambda r: r.wall) if self.runs else None

    @property
    def peak_rss_mib(self) -> float | None:
        return max(r.rss_kib for r in self.runs) / 1024 if self.runs else None


def is_json_lines(path: Path) -> bool:
    return ".jsonl" in path.name or ".ndjson" in path.name


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --------------------------------------------------------------------------- child side


def worker(engine: str, path: Path, threads: int) -> None:
    """Run one engine on one file in this process with `threads` threads; print {"wall",
    "cpu", "detail"} as JSON."""

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute(f"SET threads={threads}")
        reader = "read_json" if is_json_lines(path) else "read_csv"
        options = ", format='newline_delimited'" if is_json_lines(path) else ""
        query = f"SUMMARIZE SELECT * FROM {reader}({sql_string(str(path))}{options})"
        wall0, cpu0 = time.perf_counter(), cpu()
        cursor = con.execute(query)
        rows = cursor.fetchall()
        wall, used = time.perf_counter() - wall0, cpu() - cpu0
        count = [d[0] for d in cursor.description].index("count")
        detail = {"columns": len(rows), "records": int(rows[0][count]) if rows else 0}
    elif engine == "polars":
        os.environ["POLARS_MAX_THREADS"] = str(threads)  # before the import: read once, at start
        import polars as pl

        assert pl.thread_pool_size() == threads, f"POLARS_MAX_THREADS={threads} was not honoured"
        scan = pl.scan_ndjson(path) if is_json_lines(path) else pl.scan_csv(path)
        summary = scan.select(
            pl.len().alias("records"),
            pl.all().null_count().name.suffix(":nulls"),
            pl.all().min().name.suffix(":min"),
            pl.all().max().name.suffix(":max"),
            pl.all().approx_n_unique().name.suffix(":distinct"),
        )
        wall0, cpu0 = time.perf_counter(), cpu()
        frame = summary.collect()
        wall, used = time.perf_counter() - wall0, cpu() - cpu0
        detail = {"columns": (frame.width - 1) // 4, "records": int(frame["records"][0])}
    else:
        raise SystemExit(f"unknown engine {engine}")
    print(json.dumps({"wall": wall, "cpu": used, "detail": detail}))


def convert_worker(engine: str, path: Path, out: Path, threads: int) -> None:
    """Convert one CSV file to Parquet with one engine and `threads` threads in this process;
    print JSON as `worker`."""

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute(f"SET threads={threads}")
        columns = "{" + ", ".join(f"{sql_string(k)}: {sql_string(v)}" for k, v in DUCKDB_TYPES.items()) + "}"
        query = (
            f"COPY (SELECT * FROM read_csv({sql_string(str(path))}, header=true, delim=',',"
            f" quote='\"', escape='\"', columns={columns}))"
            f" TO {sql_string(str(out))} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {ZSTD_LEVEL})"
        )
        wall0, cpu0 = time.perf_counter(), cpu()
        con.execute(query)
        wall, used = time.perf_counter() - wall0, cpu() - cpu0
    elif engine == "polars":
        os.environ["POLARS_MAX_THREADS"] = str(threads)  # before the import: read once, at start
        import polars as pl

        assert pl.thread_pool_size() == threads, f"POLARS_MAX_THREADS={threads} was not honoured"
        schema = {
            "id": pl.Int64, "amount": pl.Decimal(12, 2), "active": pl.Boolean, "day": pl.Date,
            "created_at": pl.Datetime("us", "UTC"), "city": pl.String, "status": pl.String,
            "quantity": pl.Int32, "note": pl.String,
        }
        wall0, cpu0 = time.perf_counter(), cpu()
        pl.scan_csv(path, schema=schema).sink_parquet(
            out, compression="zstd", compression_level=ZSTD_LEVEL
        )
        wall, used = time.perf_counter() - wall0, cpu() - cpu0
    elif engine == "pyarrow":
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        pa.set_cpu_count(threads)
        pa.set_io_thread_count(threads)
        types = {
            "id": pa.int64(), "amount": pa.decimal128(12, 2), "active": pa.bool_(),
            "day": pa.date32(), "created_at": pa.timestamp("us", tz="UTC"), "city": pa.string(),
            "status": pa.string(), "quantity": pa.int32(), "note": pa.string(),
        }
        # strings_can_be_null: an empty field is a null in strings too, as in the contract.
        options = pa_csv.ConvertOptions(column_types=types, strings_can_be_null=True)
        wall0, cpu0 = time.perf_counter(), cpu()
        table = pa_csv.read_csv(path, convert_options=options)
        pq.write_table(table, out, compression="zstd", compression_level=ZSTD_LEVEL)
        wall, used = time.perf_counter() - wall0, cpu() - cpu0
    else:
        raise SystemExit(f"unknown engine {engine}")
    print(json.dumps({"wall": wall, "cpu": used, "detail": {}}))


def verify_worker(out: Path) -> None:
    """Print a Parquet file's row count, non-null counts, sums and column types as JSON."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads=1")
    source = sql_string(str(out))
    counts = ", ".join(f"count({sql_string(c).replace(chr(39), chr(34))})" for c in COLUMNS)
    row = con.execute(
        f"SELECT count(*), {counts}, sum(amount)::VARCHAR, sum(quantity),"
        f" sum(epoch_us(created_at)), sum(day - DATE '1970-01-01'), count_if(active),"
        f" sum(length(city)), sum(length(note)), sum(length(status)) FROM {source}"
    ).fetchone()
    types = con.execute(f"SELECT column_type FROM (DESCRIBE SELECT * FROM {source})").fetchall()
    print(json.dumps({"rows": row[0], "summary": [str(v) for v in row],
                      "types": [t[0] for t in types]}))


# --------------------------------------------------------------------------- parent side


def gnu_time() -> str | None:
    """GNU time, if installed: it reports its child's own peak RSS (see `measured`)."""
    path = shutil.which("time")
    if path is None:
        return None
    probe = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return path if "GNU" in probe.stdout + probe.stderr else None


GNU_TIME = gnu_time()


def measured(argv: list[str], stdout, env: dict[str, str] | None = None):
    """Run argv to completion; return (exit code, wall s, CPU s, peak RSS KiB, stderr text).

    Linux reports a child's peak RSS as at least the RSS of the process that spawned it (the
    child starts from a copy of its parent's pages). This Python process holds about 15 MiB, so
    when GNU time is installed it sits in between (about 1 MiB) and reports its child's figures;
    otherwise os.wait4 does, with the higher floor that `rss_floor` prints.
    """
    with tempfile.TemporaryFile() as stderr, tempfile.NamedTemporaryFile("r") as report:
        wrapped = [GNU_TIME, "-f", "%M %U %S", "-o", report.name, *argv] if GNU_TIME else argv
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=stdout, stderr=stderr, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        errors = stderr.read().decode("utf-8", "replace")
        if GNU_TIME:
            # The last line is ours; GNU time may put "Command exited with ..." before it.
            rss, user, system = report.read().split("\n")[-2].split()
            return code, wall, float(user) + float(system), int(rss), errors
        return code, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, errors


def measure_ours(profile: Path, path: Path, runs: int, report_path: Path, threads: int) -> Result:
    result = Result()
    if not profile.exists():
        result.error = f"{profile} not found (build it: cargo build --release -p shared --example profile)"
        return result
    for _ in range(runs):
        with open(report_path, "wb") as out:
            code, wall, cpu, rss, stderr = measured(
                [str(profile), "--threads", str(threads), str(path)], out
            )
        if code != 0:
            result.error = f"exit {code}: {stderr.strip()[:300]}"
            return result
        result.runs.append(Run(wall, cpu, rss))
    try:
        report = json.loads(report_path.read_text())
        records = report.get("records", {}) if isinstance(report, dict) else {}
        total = records.get("total") if isinstance(records, dict) else None
        if total is not None:
            result.note = f"{total} records"
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        result.note = f"stdout is not JSON ({error})"
    return result


def measure_machine_scaling(profile: Path, path: Path, runs: int, copies: int) -> float | None:
    """The machine's own ceiling for our scaling: `copies` one-thread profiles of `path` run at
    once, their combined throughput over one run alone's (best of `runs` each, interleaved).
    Independent processes share nothing but the machine (cores, caches, memory bandwidth, a
    host's other tenants), so no parallel program scales past this figure here."""
    if not profile.exists():
        return None
    argv = [str(profile), "--threads", "1", str(path)]
    alone, together = [], []
    for _ in range(runs):
        code, wall, _, _, _ = measured(argv, subprocess.DEVNULL)
        if code != 0:
            return None
        alone.append(wall)
        start = time.perf_counter()
        procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(copies)]
        if any(proc.wait() != 0 for proc in procs):
            return None
        together.append(time.perf_counter() - start)
    return copies * min(alone) / min(together)


def alternating_ratio(one: list[str], top: list[str], runs: int, before_each=None) -> float | None:
    """Best wall of `one` over best wall of `top`, their runs alternating (one, top, one,
    top, ...): a host whose speed drifts over minutes (a shared VM's does: the same binary's
    best wall moved by 10 % within an hour here) then weighs on both alike, where the tables'
    runs of one thread and of more lie minutes apart. This is the scaling the targets judge."""
    walls: list[list[float]] = [[], []]
    for _ in range(runs):
        for index, argv in enumerate((one, top)):
            if before_each:
                before_each()
            code, wall, _, _, _ = measured(argv, subprocess.DEVNULL)
            if code != 0:
                return None
            walls[index].append(wall)
    return min(walls[0]) / min(walls[1])


def measure_engine(engine: str, path: Path, runs: int, threads: int) -> Result:
    result = Result()
    env = dict(os.environ, POLARS_MAX_THREADS=str(threads))
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, str(path),
            str(threads)]
    for _ in range(runs):
        with tempfile.TemporaryFile() as out:
            code, _, _, rss, stderr = measured(argv, out, env)
            out.seek(0)
            text = out.read().decode()
        if code != 0:
            result.error = f"exit {code}: {stderr.strip().splitlines()[-1:] or ''}"
            return result
        answer = json.loads(text)
        result.runs.append(Run(answer["wall"], answer["cpu"], rss))
        result.note = f"{answer['detail']['records']} records"
    return result


def convert_takes_threads(convert: Path) -> bool:
    """Whether our convert example takes `--threads` (its usage line names it)."""
    if not convert.exists():
        return False
    probe = subprocess.run([str(convert)], capture_output=True, text=True, check=False)
    return "--threads" in probe.stdout + probe.stderr


def measure_convert(engine: str, path: Path, out_dir: Path, runs: int, convert: Path,
                    contract: Path, threads: int, ours_threads: bool) -> Result:
    """CSV -> Parquet with one engine and `threads` threads, N runs; the output is left in
    out_dir/<engine>/ (ours without `--threads` when `ours_threads` is false)."""
    result = Result()
    work = out_dir / engine
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out = work / f"{path.name}.parquet"
    if engine == "ours":
        if not convert.exists():
            result.error = f"{convert} not found (build it: cargo build --release -p shared --example convert)"
            return result
        argv = [str(convert), "--contract", str(contract),
                *(["--threads", str(threads)] if ours_threads else []), str(path), str(work)]
    else:
        argv = [sys.executable, str(Path(__file__).resolve()), "--convert-worker", engine,
                str(path), str(out), str(threads)]
    env = dict(os.environ, POLARS_MAX_THREADS=str(threads))
    for _ in range(runs):
        out.unlink(missing_ok=True)
        with tempfile.TemporaryFile() as stdout:
            code, wall, cpu, rss, stderr = measured(argv, stdout, env)
            stdout.seek(0)
            text = stdout.read().decode("utf-8", "replace")
        if code != 0:
            lines = stderr.strip().splitlines()
            result.error = f"exit {code}: {lines[-1][:300] if lines else ''}"
            return result
        if engine == "ours":
            contract_section = json.loads(text).get("contract") or {}
            rejected = contract_section.get("records_rejected")
            result.note = f"{contract_section.get('records_written')} records written, {rejected} rejected"
        else:
            answer = json.loads(text)
            wall, cpu = answer["wall"], answer["cpu"]
        result.runs.append(Run(wall, cpu, rss))
    result.output = out
    return result


def verify_output(path: Path) -> dict | None:
    """verify_worker in a child process (not measured); None when it fails."""
    probe = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--verify-worker", str(path)],
        capture_output=True, text=True, check=False,
    )
    return json.loads(probe.stdout) if probe.returncode == 0 else None


def warm(path: Path) -> None:
    """Read the file once so that every engine finds it in the page cache.

    A small buffer on purpose: a child's peak RSS is never below this process's RSS at spawn
    time (Linux counts the parent's pages the child starts from), so this process stays small.
    """
    buffer = bytearray(1 << 16)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buffer):
            pass


def rss_floor() -> float:
    """The peak RSS (MiB) os.wait4 reports for a child that does nothing: the measurement floor."""
    _, _, _, rss, _ = measured(["true"], subprocess.DEVNULL)
    return rss / 1024


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(header: list[str], rows: list[list[str]]) -> None:
    """Prints rows under header, the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, nargs="?", default=Path("target/bench-data"))
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; best counts")
    parser.add_argument("--threads", default="1,2",
                        help="comma-separated thread counts every engine is given (default 1,2)")
    parser.add_argument("--profile", type=Path, default=Path("target/release/examples/profile"))
    parser.add_argument("--files", default=",".join(FILES), help="comma-separated names in DATA_DIR")
    parser.add_argument("--engines", default=",".join(ENGINES), help="subset of ours,duckdb,polars")
    parser.add_argument("--json", type=Path, help="also write the measurements here as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--convert", type=Path, default=Path("target/release/examples/convert"),
                        help="our convert example (CSV -> Parquet)")
    parser.add_argument("--contract", type=Path, default=CONVERT_CONTRACT,
                        help="the contract ours converts with (bench/bench_rows.toml)")
    parser.add_argument("--convert-files", default=",".join(CONVERT_FILES),
                        help="CSV files of DATA_DIR to convert to Parquet (empty: none)")
    parser.add_argument("--convert-engines", default=",".join(CONVERT_ENGINES),
                        help="subset of ours,duckdb,polars,pyarrow for CSV -> Parquet (empty: none)")
    parser.add_argument("--worker", nargs=3, metavar=("ENGINE", "FILE", "THREADS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--convert-worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--verify-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), int(args.worker[2]))
        return 0
    if args.convert_worker:
        engine, source, out, threads = args.convert_worker
        convert_worker(engine, Path(source), Path(out), int(threads))
        return 0
    if args.verify_worker:
        verify_worker(args.verify_worker)
        return 0

    engines = [e for e in args.engines.split(",") if e]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")
    convert_engines = [e for e in args.convert_engines.split(",") if e]
    unknown = set(convert_engines) - set(CONVERT_ENGINES)
    if unknown:
        parser.error(f"unknown convert engines: {', '.join(sorted(unknown))}")
    try:
        thread_counts = sorted({int(t) for t in args.threads.split(",") if t})
    except ValueError:
        parser.error(f"--threads takes comma-separated counts, not {args.threads!r}")
    if not thread_counts or thread_counts[0] < 1:
        parser.error("--threads needs counts of at least 1")
    versions = {}
    for name in ("duckdb", "polars", "pyarrow"):
        if name in engines or name in convert_engines:
            probe = subprocess.run(
                [sys.executable, "-c", f"import {name}; print({name}.__version__)"],
                capture_output=True, text=True, check=False,
            )
            versions[name] = probe.stdout.strip() or "not importable"
    ours_convert_threads = "ours" in convert_engines and convert_takes_threads(args.convert)

    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs); load average"
          f" {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start;"
          f" threads per engine: {', '.join(map(str, thread_counts))}")
    print(f"profile: {args.profile}; convert: {args.convert}; " + "; ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"best of {args.runs} runs; MB = 10^6 bytes of the file as stored; MiB = 2^20 bytes\n")

    # results[threads][file][engine]
    results: dict[int, dict[str, dict[str, Result]]] = {}
    sizes: dict[str, int] = {}
    reports = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    files = [f for f in args.files.split(",") if f]
    for name in files:
        path = (args.data_dir / name).resolve()
        if not path.exists():
            print(f"{name}: missing in {args.data_dir} (run the bench_data example)", file=sys.stderr)
            return 2
        sizes[name] = path.stat().st_size
    for threads in thread_counts:
        results[threads] = {}
        for name in files:
            path = (args.data_dir / name).resolve()
            warm(path)
            results[threads][name] = {}
            for engine in engines:
                print(f"  measuring {engine:<6} on {name}, {threads} thread(s) ...",
                      file=sys.stderr, flush=True)
                if engine == "ours":
                    result = measure_ours(args.profile, path, args.runs,
                                          reports / f"{name}.{threads}.report.json", threads)
                else:
                    result = measure_engine(engine, path, args.runs, threads)
                results[threads][name][engine] = result

    def mbps(name: str, engine: str, threads: int = 1) -> float | None:
        result = results.get(threads, {}).get(name, {}).get(engine)
        best = result.best if result else None
        return sizes[name] / 1e6 / best.wall if best else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    for threads, by_file in results.items():
        print(f"profile, {threads} thread(s) per engine:")
        header = ["file", "size MB", "ours MB/s", "DuckDB MB/s", "Polars MB/s",
                  "ours/DuckDB", "ours/Polars", "ours RSS MiB"]
        rows = []
        for name in by_file:
            ours, duck = mbps(name, "ours", threads), mbps(name, "duckdb", threads)
            polars = mbps(name, "polars", threads)
            rss = by_file[name]["ours"].peak_rss_mib if "ours" in by_file[name] else None
            rows.append([name, fmt(sizes[name] / 1e6, ".1f"), fmt(ours, ".0f"), fmt(duck, ".0f"),
                         fmt(polars, ".0f"), fmt(ratio(ours, duck), ".2f"),
                         fmt(ratio(ours, polars), ".2f"), fmt(rss, ".1f")])
        table(header, rows)
        print()

    # ours' scaling per file from alternating runs (see `alternating_ratio`).
    alternating: dict[str, float | None] = {}
    if len(thread_counts) > 1 and 1 in thread_counts:
        top = thread_counts[-1]
        if "ours" in engines:
            for name in files:
                print(f"  measuring ours on {name}, 1 and {top} threads alternating ...",
                      file=sys.stderr, flush=True)
                path = str((args.data_dir / name).resolve())
                alternating[name] = alternating_ratio(
                    [str(args.profile), "--threads", "1", path],
                    [str(args.profile), "--threads", str(top), path], args.runs)
        print(f"scaling, {top} threads over 1 (MB/s on {top} threads / MB/s on 1; ours also"
              " from runs of 1 and {top} threads alternating):".replace("{top}", str(top)))
        rows = []
        for name in files:
            rows.append([name] + [fmt(ratio(mbps(name, e, top), mbps(name, e, 1)), ".2f")
                                  for e in ENGINES if e in engines]
                        + ([fmt(alternating.get(name), ".2f")] if "ours" in engines else []))
        table(["file"] + [f"{e} x" for e in ENGINES if e in engines]
              + (["ours x alternating"] if "ours" in engines else []), rows)
        machine = None
        if "ours" in engines and "rows.csv" in files:
            print(f"  measuring the machine: {top} one-thread profiles of rows.csv at once ...",
                  file=sys.stderr, flush=True)
            machine = measure_machine_scaling(args.profile, (args.data_dir / "rows.csv").resolve(),
                                              args.runs, top)
            print(f"the machine: {top} one-thread profiles of rows.csv at once give"
                  f" {fmt(machine, '.2f')}x one alone's throughput (no {top}-thread scaling here"
                  " can pass it)")
        print()

    print("detail (best run: wall s, CPU s of the process, peak RSS MiB over the runs):")
    for threads, by_file in results.items():
        for name, by_engine in by_file.items():
            for engine, result in by_engine.items():
                best = result.best
                if best is None:
                    print(f"  {threads}t {name:<12} {engine:<6} FAILED: {result.error}")
                    continue
                print(f"  {threads}t {name:<12} {engine:<6} wall {best.wall:7.3f}  cpu {best.cpu:7.3f}"
                      f"  rss {result.peak_rss_mib:7.1f}  {result.note}")

    # convert_results[threads][file][engine]
    convert_results: dict[int, dict[str, dict[str, Result]]] = {}
    checks: dict[int, dict[str, dict[str, str]]] = {}
    convert_files = [f for f in args.convert_files.split(",") if f] if convert_engines else []
    for threads in thread_counts if convert_files else []:
        convert_results[threads], checks[threads] = {}, {}
        out_dir = (args.data_dir / "parquet" / f"{threads}t").resolve()
        for name in convert_files:
            path = (args.data_dir / name).resolve()
            if not path.exists():
                print(f"{name}: missing in {args.data_dir} (run the bench_data example)", file=sys.stderr)
                return 2
            sizes.setdefault(name, path.stat().st_size)
            warm(path)
            by_engine: dict[str, Result] = {}
            convert_results[threads][name], checks[threads][name] = by_engine, {}
            for engine in convert_engines:
                if engine == "ours" and threads > 1 and not ours_convert_threads:
                    continue  # the convert example has no --threads: one thread only
                print(f"  converting {engine:<7} {name} to Parquet, {threads} thread(s) ...",
                      file=sys.stderr, flush=True)
                by_engine[engine] = measure_convert(
                    engine, path, out_dir / name, args.runs, args.convert,
                    args.contract.resolve(), threads, ours_convert_threads,
                )
            # Every output must hold what ours holds (or, without ours, what the first one holds).
            summaries = {e: verify_output(r.output) for e, r in by_engine.items() if r.output}
            reference = next(iter(summaries.values()), None)
            for engine, summary in summaries.items():
                if summary is None:
                    checks[threads][name][engine] = "not readable by DuckDB"
                elif summary["summary"] == reference["summary"]:
                    checks[threads][name][engine] = "same" if summary is not reference else "reference"
                else:
                    differs = [SUMMARY[i] for i, (a, b)
                               in enumerate(zip(summary["summary"], reference["summary"])) if a != b]
                    checks[threads][name][engine] = "DIFFERS: " + ", ".join(differs)
                if summary is not None:
                    by_engine[engine].note += (
                        ("; " if by_engine[engine].note else "")
                        + f"{summary['rows']} rows; " + ", ".join(summary["types"])
                    )

    labels = {"ours": "ours", "duckdb": "DuckDB", "polars": "Polars", "pyarrow": "pyarrow"}
    for threads, by_file in convert_results.items():
        print(f"\nCSV -> Parquet (zstd level {ZSTD_LEVEL}), same column types, {threads} thread(s)"
              f" per engine (MB/s = input MB / best wall; outputs in"
              f" {(args.data_dir / 'parquet' / f'{threads}t').resolve()}):")
        if threads > 1 and "ours" in convert_engines and not ours_convert_threads:
            print(f"  (ours left out: {args.convert} takes no --threads)")
        header = ["file", "engine", "MB/s", "wall s", "CPU s", "peak RSS MiB", "Parquet MB",
                  "ours/engine", "content"]
        rows = []
        for name, by_engine in by_file.items():
            ours_best = by_engine["ours"].best if "ours" in by_engine else None
            for engine, result in by_engine.items():
                best = result.best
                speed = sizes[name] / 1e6 / best.wall if best else None
                ours_speed = sizes[name] / 1e6 / ours_best.wall if ours_best else None
                size = result.output.stat().st_size / 1e6 if result.output and result.output.exists() else None
                rows.append([name, labels[engine], fmt(speed, ".0f"),
                             fmt(best.wall if best else None, ".2f"),
                             fmt(best.cpu if best else None, ".2f"),
                             fmt(result.peak_rss_mib, ".1f"), fmt(size, ".1f"),
                             fmt(ratio(ours_speed, speed), ".2f"),
                             checks[threads][name].get(engine, f"FAILED: {result.error}")])
        table(header, rows)
    if convert_results:
        print("\ndetail (CSV -> Parquet):")
        for threads, by_file in convert_results.items():
            for name, by_engine in by_file.items():
                for engine, result in by_engine.items():
                    print(f"  {threads}t {name:<12} {engine:<7} "
                          f"{result.note if result.runs else 'FAILED: ' + str(result.error)}")
        print("  (ours: the whole convert process, contract checks and the report included;"
              " DuckDB, Polars, pyarrow: the conversion call only, interpreter start and imports excluded)")

    missed = []
    print("\ntargets:")
    if "ours" in engines and "rows.csv" in results.get(1, {}):
        csv = mbps("rows.csv", "ours")
        ok = csv is not None and csv >= TARGET_CSV_MBPS
        missed += [] if ok else ["throughput"]
        print(f"  ours >= {TARGET_CSV_MBPS:.0f} MB/s on rows.csv, 1 thread: {fmt(csv, '.0f')} MB/s  {'ok' if ok else 'MISSED'}")
        if "duckdb" in engines:
            r = ratio(csv, mbps("rows.csv", "duckdb"))
            ok = r is not None and r >= TARGET_DUCKDB_RATIO
            missed += [] if ok else ["duckdb ratio"]
            print(f"  ours >= {TARGET_DUCKDB_RATIO:.0f}x DuckDB on rows.csv, 1 thread: {fmt(r, '.2f')}x  {'ok' if ok else 'MISSED'}")
    if "ours" in engines and len(thread_counts) > 1 and 1 in thread_counts:
        top = thread_counts[-1]
        target = TARGET_SCALING_PER_THREAD * top
        for name in files:
            r = alternating.get(name) or ratio(mbps(name, "ours", top), mbps(name, "ours", 1))
            ok = r is not None and r >= target
            missed += [] if ok else [f"scaling {name}"]
            print(f"  ours on {top} threads >= {target:.1f}x 1 thread on {name}"
                  f" ({'alternating runs' if alternating.get(name) else 'the tables'}): {fmt(r, '.2f')}x"
                  f"  {'ok' if ok else 'MISSED'}")
    if "ours" in convert_engines and ours_convert_threads and len(thread_counts) > 1 \
            and 1 in thread_counts:
        top = thread_counts[-1]
        target = TARGET_SCALING_PER_THREAD * top
        for name in convert_files:
            path = (args.data_dir / name).resolve()
            work = (args.data_dir / "parquet" / "alternating").resolve()
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            argv = [str(args.convert), "--contract", str(args.contract), "--threads"]
            print(f"  converting ours {name}, 1 and {top} threads alternating ...",
                  file=sys.stderr, flush=True)
            r = alternating_ratio(
                [*argv, "1", str(path), str(work)], [*argv, str(top), str(path), str(work)],
                args.runs, lambda: (work / f"{path.name}.parquet").unlink(missing_ok=True))
            ok = r is not None and r >= target
            missed += [] if ok else [f"convert scaling {name}"]
            print(f"  ours converting on {top} threads >= {target:.1f}x 1 thread on {name}"
                  f" (alternating runs): {fmt(r, '.2f')}x  {'ok' if ok else 'MISSED'}")
    # `--files ""` profiles nothing: no peak to judge (the conversion runs report their own).
    if "ours" in engines and files:
        peaks = [by["ours"].peak_rss_mib for by in results[thread_counts[0]].values()
                 if by["ours"].runs]
        worst = max(peaks) if len(peaks) == len(files) else None
        ok = worst is not None and worst < TARGET_RSS_MIB
        missed += [] if ok else ["rss"]
        print(f"  ours peak RSS < {TARGET_RSS_MIB:.0f} MiB on every file, {thread_counts[0]} thread(s):"
              f" {fmt(worst, '.1f')} MiB  {'ok' if ok else 'MISSED'}")
    how = "GNU time" if GNU_TIME else "os.wait4 (install GNU time for a lower floor)"
    print(f"  (peak RSS by {how}; floor {rss_floor():.1f} MiB: a figure at the floor may be lower)")
    print(f"  (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end;"
          f" our last reports: {reports})")

    if args.json:
        def runs_json(by_file: dict[str, dict[str, Result]], extra) -> dict:
            return {n: {e: {"runs": [r.__dict__ for r in res.runs], "error": res.error,
                            "note": res.note, **extra(n, e, res)}
                        for e, res in by.items()}
                    for n, by in by_file.items()}

        args.json.write_text(json.dumps({
            "cpu": cpu_model(), "runs": args.runs, "versions": versions, "sizes": sizes,
            "threads": thread_counts,
            "results": {t: runs_json(by, lambda n, e, r: {}) for t, by in results.items()},
            "parquet": {t: runs_json(by, lambda n, e, r, t=t: {
                "check": checks[t][n].get(e),
                "bytes": r.output.stat().st_size if r.output and r.output.exists() else None,
            }) for t, by in convert_results.items()},
        }, indent=2) + "\n")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
