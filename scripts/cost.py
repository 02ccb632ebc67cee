#!/usr/bin/env python3
"""The figures of docs/cost.md (and the README's cost table), computed from AWS's prices and
the project's measured throughputs, so that a new measurement or price changes every table
and every derived figure at once.

    python3 scripts/cost.py                         # print every generated block
    python3 scripts/cost.py --write README.md docs/cost.md   # rewrite the blocks in place
    python3 scripts/cost.py --check README.md docs/cost.md   # fail when a block differs

A generated block sits between `<!-- cost.py: NAME -->` and `<!-- /cost.py -->`; the text
around it is written by hand and quotes no figure that a block holds. `make test` runs the
check.
"""

import math
import re
import sys
import textwrap

# --- Prices, us-east-1 (docs/cost.md, "Prices", gives their sources) -------------------------
STEP_TRANSITION = 0.000025  # Step Functions Standard, per state transition
TRANSITIONS = 4  # PrepareJob, Route, the processing task, Processed
LAMBDA_GB_SECOND = 0.0000133334  # Arm
LAMBDA_REQUEST = 0.0000002
FARGATE_VCPU_HOUR = 0.03238  # Linux/ARM
FARGATE_GB_HOUR = 0.00356
FARGATE_X86_VCPU_HOUR = 0.04048  # Linux/x86 (Spot runs only x86_64)
FARGATE_X86_GB_HOUR = 0.004445
FARGATE_MINIMUM_S = 60
S3_GET = 0.0000004  # GET, HEAD
S3_PUT = 0.000005  # PUT, POST (multipart), COPY, LIST
EVENT = 0.000001  # EventBridge, taken as custom events' price

# --- The stack's defaults (infra/template.json) ------------------------------------------
LAMBDA_MB = 1024
LAMBDA_GB_BILLED = 1.0
LAMBDA_VCPU = LAMBDA_MB / 1769  # "At 1,769 MB, a function has the equivalent of one vCPU"
TASK_VCPU = 1
TASK_GB = 2
PART_BYTES = 8 << 20  # PIPELINE_PART_SIZE_BYTES: ranged GETs and output parts
THRESHOLD_CAP = 256 << 20  # MAX_THRESHOLD_BYTES

# --- Assumptions ---------------------------------------------------------------------------
ROUND_TRIP_S = 0.025  # each sequential small S3 request
ROUND_TRIPS = {"profile": 5, "contract": 8}
TASK_START_S = 10  # image pull of ~15 MB, container start
PARQUET_RATIO = 0.16  # Parquet bytes per input byte, the bench rows (make bench)
EVENTS = {"profile": 2, "contract": 3}  # the input's, the report's, the Parquet's

# --- Measured throughputs, MB of input per CPU-second, end to end -------------------------
# bench_ranged on 2026-12-05 at 15:20-15:31 (README, "What a bigger Fargate task CPU buys"):
# the static musl binary the image runs, 1 and 4 GiB of the bench rows from the local S3, one
# parsing thread; input bytes over the program's CPU time (user + sys: its download threads
# included), which is its speed on one vCPU when the CPU is the limit. Profile: 442-455 in
# five runs; contract: 210-229 in four.
#   target/release/examples/bench_ranged --sizes-mib 1024,4096 --workers 1,2 --skip-core true \
#     --binary target/x86_64-unknown-linux-musl/release/fargate-processor [--contract bench/bench_rows.toml]
MB_PER_CPU_SECOND = {"profile": 450, "contract": 215}
# The same runs, two parsing threads: MB per CPU-second of a 2-vCPU task profiling (405-432).
MB_PER_CPU_SECOND_TWO_THREADS = 420
# make bench, rows.csv.gz on one thread: compressed MB per second (2026-12-05).
GZIP_COMPRESSED_MB_PER_CPU_SECOND = 94

SIZES = [
    ("10 KB", 10e3),
    ("1 MB", 1e6),
    ("6 MiB", 6 * 2**20),
    ("100 MB", 100e6),
    ("10 GB", 10e9),
]
MODES = ("profile", "contract")


def parquet_put_requests(size):
    """PUT-priced requests of the Parquet output: one PUT, or a multipart upload."""
    parts = math.ceil(size * PARQUET_RATIO / PART_BYTES)
    return 1 if parts <= 1 else parts + 2


def requests(route, mode, size):
    """(GET-priced, PUT-priced) requests of one object (docs/cost.md, "S3 requests")."""
    heads = 3 if mode == "profile" else 5
    gets = 1 if route == "lambda" else math.ceil(size / PART_BYTES)
    puts = 1 if mode == "profile" else 1 + parquet_put_requests(size)
    return heads + gets, puts


def lambda_seconds(mode, size):
    speed = MB_PER_CPU_SECOND[mode] * LAMBDA_VCPU
    return ROUND_TRIPS[mode] * ROUND_TRIP_S + size / 1e6 / speed


def fargate_seconds(mode, size, speed=None):
    """The task's time and its billed seconds (whole seconds, at least the minimum), at
    `speed` MB/s (by default one vCPU's)."""
    speed = speed or MB_PER_CPU_SECOND[mode] * TASK_VCPU
    seconds = TASK_START_S + ROUND_TRIPS[mode] * ROUND_TRIP_S + size / 1e6 / speed
    return seconds, max(FARGATE_MINIMUM_S, math.ceil(seconds))


def task_second(vcpu=TASK_VCPU, gb=TASK_GB):
    return (vcpu * FARGATE_VCPU_HOUR + gb * FARGATE_GB_HOUR) / 3600


def spot_hour(off):
    """An hour of the default task on x86 Spot at `off` (a fraction) off x86 on-demand."""
    return (TASK_VCPU * FARGATE_X86_VCPU_HOUR + TASK_GB * FARGATE_X86_GB_HOUR) * (1 - off)


def spot_saving(off):
    """Percent saved on the task's price by x86 Spot at `off`, against arm64 on-demand."""
    return 100 * (1 - spot_hour(off) / (3600 * task_second()))


def within_minimum_gb(mode):
    """GB one vCPU gets through within the one-minute minimum, after the task's start."""
    return (FARGATE_MINIMUM_S - TASK_START_S) * MB_PER_CPU_SECOND[mode] / 1000


def big_object_requests(size=10e9):
    """Per 1,000 objects of `size` on Fargate: the ranged GETs, and the Parquet's parts."""
    gets = 1000 * math.ceil(size / PART_BYTES) * S3_GET
    parts = 1000 * parquet_put_requests(size) * S3_PUT
    return gets, parts


PART = f"{PART_BYTES >> 20} MiB"


def cost(route, mode, size):
    """Per object: (compute, S3, total with Step Functions and EventBridge)."""
    gets, puts = requests(route, mode, size)
    s3 = gets * S3_GET + puts * S3_PUT
    if route == "lambda":
        compute = lambda_seconds(mode, size) * LAMBDA_GB_BILLED * LAMBDA_GB_SECOND + LAMBDA_REQUEST
    else:
        compute = fargate_seconds(mode, size)[1] * task_second()
    total = TRANSITIONS * STEP_TRANSITION + compute + s3 + EVENTS[mode] * EVENT
    return compute, s3, total


def crossover(mode):
    """The smallest size (MB) at which a Fargate task costs less than the Lambda route, or
    None below 1 TB."""
    def fargate_cheaper(mb):
        return cost("fargate", mode, mb * 1e6)[2] < cost("lambda", mode, mb * 1e6)[2]

    # The costs are step functions: walk in steps of a part, then narrow down.
    step = PART_BYTES / 1e6
    mb = step
    while mb < 1e6 and not fargate_cheaper(mb):
        mb += step
    if mb >= 1e6:
        return None
    low, high = mb - step, mb
    while high - low > 0.01:
        middle = (low + high) / 2
        low, high = (low, middle) if fargate_cheaper(middle) else (middle, high)
    return high


def dollars(value, digits):
    return f"${value:.{digits}f}"


def pair(values, digits=2):
    a, b = (dollars(v, digits) for v in values)
    return a if a == b else f"{a} / {b}"


def block_summary():
    rows = ["| object size | Lambda route (arm64, 1024 MB) | Fargate route (arm64, 1 vCPU, 2 GB) |",
            "|---|---|---|"]
    for name, size in SIZES:
        routed = size <= THRESHOLD_CAP
        lam = pair([1000 * cost("lambda", m, size)[2] for m in MODES]) if routed else "— ²"
        if name == "100 MB":
            lam += " ¹"
        far = pair([1000 * cost("fargate", m, size)[2] for m in MODES])
        label = f"{name} (the default threshold)" if name == "6 MiB" else name
        rows.append(f"| {label} | {lam} | {far} |")
    return "\n".join(rows)


def block_readme_summary():
    small = [s for n, s in SIZES if s <= 6 * 2**20]

    def span(route, sizes):
        values = sorted(round(1000 * cost(route, m, s)[2], 2) for s in sizes for m in MODES)
        low, high = values[0], values[-1]
        return f"${low:.2f}" if low == high else f"${low:.2f}–{high:.2f}"

    hundred, ten = 100e6, 10e9
    rows = ["| object size | Lambda route (arm64, 1024 MB) | Fargate route (arm64, 1 vCPU, 2 GB) |",
            "|---|---|---|",
            f"| 10 KB, 1 MB, 6 MiB | {span('lambda', small)} | {span('fargate', small)} |",
            f"| 100 MB | {pair([1000 * cost('lambda', m, hundred)[2] for m in MODES])} (threshold raised)"
            f" | {pair([1000 * cost('fargate', m, hundred)[2] for m in MODES])} |",
            f"| 10 GB | — (the threshold's cap is 256 MiB) | {pair([1000 * cost('fargate', m, ten)[2] for m in MODES])} |"]
    return "\n".join(rows)


def block_reading():
    steps = 1000 * TRANSITIONS * STEP_TRANSITION
    upto = [s for _, s in SIZES if s <= 100e6]
    extras = [1000 * (cost("lambda", m, s)[0] + cost("lambda", m, s)[1]) for s in upto for m in MODES]
    ratios = [cost("fargate", m, s)[2] / cost("lambda", m, s)[2] for s in upto for m in MODES]
    minimum = 1000 * FARGATE_MINIMUM_S * task_second()
    ten = 10e9
    gets, parts = big_object_requests(ten)
    return "\n".join([
        f"- **On the Lambda route, Step Functions is most of the bill.** Each execution takes "
        f"{TRANSITIONS} state transitions, ${steps:.2f} per 1,000 objects. Up to 100 MB, Lambda compute "
        f"and S3 requests add only ${min(extras):.2f}–{max(extras):.2f}.",
        f"- **On the Fargate route, the one-minute minimum is most of the bill.** A task costs at "
        f"least ${minimum:.2f} per 1,000 objects, whatever the object's size: one vCPU profiles "
        f"{within_minimum_gb('profile'):.0f} GB, or converts {within_minimum_gb('contract'):.0f} GB, "
        f"within it. "
        f"Up to 100 MB, a Fargate task costs {min(ratios):.1f}–{max(ratios):.1f} times what Lambda "
        f"costs for the same object.",
        f"- **On a 10 GB object, S3 requests are the rest.** Its {PART} ranged GETs come to "
        f"${gets:.2f} per 1,000 objects ({100 * gets / (1000 * cost('fargate', 'profile', ten)[2]):.0f} % "
        f"of a profile's cost); under a contract, the Parquet output's {PART} parts (PUT-priced) add "
        f"${parts:.2f} ({100 * parts / (1000 * cost('fargate', 'contract', ten)[2]):.0f} % of its cost).",
        "- **For cost, the threshold belongs at its maximum, 256 MiB.** Lambda is cheaper for every "
        "size the template lets it take (see [Where the threshold should sit](#where-the-threshold-should-sit)).",
        f"- **Fargate Spot cuts the Fargate compute line by about {spot_saving(0.5):.1f}–{spot_saving(0.7):.1f} %.** "
        "Spot runs only on x86_64, and its discount varies (see [Fargate Spot](#fargate-spot)).",
    ])


def block_ipv4():
    """The public IPv4 address of a task, held from its provisioning (about 30 s) to its end."""
    hour = 0.005
    small = (30 + fargate_seconds("profile", 10e3)[0]) * hour / 3600 * 1000
    big = [(30 + fargate_seconds(m, 10e9)[0]) * hour / 3600 * 1000 for m in MODES]
    return (f"- **Public IPv4.** In the default `public` network mode each Fargate task holds a public "
            f"IPv4 address, at $0.005 an hour. Held from the task's provisioning (about 30 s) to its "
            f"end, that is about ${small:.2f} per 1,000 small tasks and ${min(big):.2f}–{max(big):.2f} "
            f"per 1,000 of 10 GB. That figure is doubtful (see below).")


def block_readme_reading():
    gets, parts = big_object_requests()
    contract = crossover("contract")
    where = ("at every size when profiling" if crossover("profile") is None
             else f"up to about {crossover('profile') / 1000:.0f} GB when profiling")
    return "\n".join([
        "- **Where the money goes.**",
        f"  - Step Functions: {TRANSITIONS} state transitions per execution, "
        f"${1000 * TRANSITIONS * STEP_TRANSITION:.2f} per 1,000 objects on either route.",
        f"  - Fargate's one-minute minimum: ${1000 * FARGATE_MINIMUM_S * task_second():.2f} per 1,000 "
        f"tasks; one vCPU profiles about {within_minimum_gb('profile'):.0f} GB within it.",
        f"  - S3 requests on 10 GB objects: the {PART} ranged GETs (${gets:.2f} per 1,000), and under "
        f"a contract the Parquet's {PART} parts (${parts:.2f}).",
        f"- **The threshold.** Lambda stays cheaper {where}, and up to about {contract / 1000:.0f} GB "
        "under a contract, so for cost the threshold belongs at its 256 MiB cap "
        "(`THRESHOLD_BYTES=268435456`). Compressed inputs, and speeds not measured on AWS's CPUs, "
        "are reasons to stop short of it.",
        f"- **Fargate Spot** (x86_64 only) cuts the task's price by about {spot_saving(0.5):.1f}–"
        f"{spot_saving(0.7):.1f} %. An interrupted task exits 16 and the state machine runs it again, "
        "twice at most.",
    ])


def block_durations():
    p, c = MB_PER_CPU_SECOND["profile"], MB_PER_CPU_SECOND["contract"]
    return "\n".join([
        "| what | MB/s per vCPU | on the default Lambda (× 0.579) |",
        "|---|---|---|",
        f"| profile, end to end (ranged GETs from the local S3, one parsing thread) | **{p}** | {p * LAMBDA_VCPU:.0f} |",
        f"| convert under a contract (CSV → Parquet, zstd 3, Parquet and rejects uploaded), end to end | **{c}** | {c * LAMBDA_VCPU:.0f} |",
        f"| profile of a gzip (compressed MB), one thread (`make bench`, rows.csv.gz) | {GZIP_COMPRESSED_MB_PER_CPU_SECOND} | {GZIP_COMPRESSED_MB_PER_CPU_SECOND * LAMBDA_VCPU:.0f} |",
    ])


def term_text(value):
    return f"{value:.4f}" if value < 0.01 else f"{value:.3f}" if value < 1 else f"{value:.2f}"


def seconds_text(value):
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def block_arithmetic(mode):
    last = "Fargate GETs" if mode == "profile" else "PUT-priced"
    rows = [f"| size | Lambda s | Lambda compute | S3 | Fargate s (billed) | Fargate compute | S3 | {last} |",
            "|---|---|---|---|---|---|---|---|"]
    trips = ROUND_TRIPS[mode] * ROUND_TRIP_S
    for name, size in SIZES:
        lam_s = lambda_seconds(mode, size)
        lam_compute, lam_s3, _ = cost("lambda", mode, size)
        far_s, billed = fargate_seconds(mode, size)
        far_compute, far_s3, _ = cost("fargate", mode, size)
        lg, lp = requests("lambda", mode, size)
        fg, fp = requests("fargate", mode, size)
        ranged = math.ceil(size / PART_BYTES)
        lam_cell = f"{trips:g} + {term_text(lam_s - trips)} = {seconds_text(lam_s)}"
        lam_compute_cell = f"${lam_compute:.7f}"
        lam_s3_cell = f"{lg} × 4e-7 + {lp} × 5e-6 = ${lam_s3:.7f}"
        if size > THRESHOLD_CAP:
            lam_cell, lam_compute_cell, lam_s3_cell = f"({seconds_text(lam_s)}, not routed)", f"(${lam_compute:.5f})", ""
        rows.append(
            f"| {name} | {lam_cell} | {lam_compute_cell} | {lam_s3_cell} | "
            f"{seconds_text(far_s)} → **{billed}** | {billed} × 1.0972e-5 = ${far_compute:.6f} | "
            f"{fg} × 4e-7 + {fp} × 5e-6 = ${far_s3:.7f} | {ranged if mode == 'profile' else fp} |")
    return "\n".join(rows)


def block_per_thousand():
    rows = ["| size | Lambda, profile | Lambda, contract | Fargate, profile | Fargate, contract |",
            "|---|---|---|---|---|"]
    for name, size in SIZES:
        cells = []
        for route in ("lambda", "fargate"):
            for mode in MODES:
                if route == "lambda" and size > THRESHOLD_CAP:
                    cells.append("—")
                    continue
                compute, s3, total = (1000 * v for v in cost(route, mode, size))
                steps = 1000 * TRANSITIONS * STEP_TRANSITION
                events = 1000 * EVENTS[mode] * EVENT
                cells.append(f"{steps:.3f} + {compute:.4f} + {s3:.4f} + {events:.3f} = **${total:.3f}**")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def block_threshold():
    cap = THRESHOLD_CAP
    lines = []
    for mode, label in (("profile", "Profile only"), ("contract", "Under a contract")):
        per_mb = LAMBDA_GB_SECOND / (MB_PER_CPU_SECOND[mode] * LAMBDA_VCPU)
        point = crossover(mode)
        if point is None:
            lines.append(f"- **{label}: no crossover below 1 TB.** Lambda's price grows by {per_mb:.3g} $/MB; "
                         f"a Fargate task's, past its minimum, by more (its compute and its {PART} ranged GETs).")
        else:
            lines.append(f"- **{label}: about {point / 1000:.1f} GB.** Lambda's price grows by {per_mb:.3g} $/MB; "
                         f"a Lambda run of that size takes about {lambda_seconds(mode, point * 1e6):.0f} s.")
    for mode, label in (("profile", "profiling"), ("contract", "under a contract")):
        lam, far = cost("lambda", mode, cap)[2], cost("fargate", mode, cap)[2]
        lines.append(f"- **A 256 MiB object, {label}:** ${1000 * lam:.2f} on Lambda against ${1000 * far:.2f} "
                     f"on Fargate per 1,000 ({far / lam:.1f} times cheaper on Lambda); a Lambda run of "
                     f"{lambda_seconds(mode, cap):.1f} s.")
    small = min(cost("fargate", m, 6 * 2**20)[2] / cost("lambda", m, 6 * 2**20)[2] for m in MODES)
    big = max(cost("fargate", m, 10e3)[2] / cost("lambda", m, 10e3)[2] for m in MODES)
    lines.append(f"- **Up to 6 MiB** (the default threshold), a Fargate task costs {small:.1f}–{big:.1f} "
                 f"times what the Lambda route costs for the same object.")
    profiled, converted = ((300 - ROUND_TRIPS[m] * ROUND_TRIP_S) * MB_PER_CPU_SECOND[m] * LAMBDA_VCPU / 1000
                           for m in MODES)
    lines.append(f"- **Lambda's 300 s timeout** is about {profiled:.0f} GB of text profiled, or "
                 f"{converted:.0f} GB converted, at these speeds.")
    gzip = GZIP_COMPRESSED_MB_PER_CPU_SECOND * LAMBDA_VCPU
    lines.append(f"- **A gzip at the bench's 3.5 : 1:** 256 MiB of it profiles in about "
                 f"{cap / 1e6 / gzip:.0f} s on Lambda ({gzip:.0f} MB/s of compressed input).")
    for limit_name, limit in (("the 6 MiB default", 6 * 2**20), ("64 MiB", 64 << 20), ("the 256 MiB cap", cap)):
        text = limit * 100
        lines.append(f"- **A 100 : 1 gzip at {limit_name}** ({text / 1e9:.1f} GB of text): about "
                     f"{lambda_seconds('profile', text):.0f} s profiled, {lambda_seconds('contract', text):.0f} s "
                     f"under a contract, on Lambda.")
    return "\n".join(lines)


def block_bigger_task():
    size = 10e9
    lines = []
    for vcpu, gb, speed in ((1, 2, MB_PER_CPU_SECOND["profile"]), (2, 4, 2 * MB_PER_CPU_SECOND_TWO_THREADS)):
        seconds, billed = fargate_seconds("profile", size, speed)
        money = billed * task_second(vcpu, gb)
        lines.append(f"| {vcpu} vCPU, {gb} GB | {seconds:.0f} s | {billed} s | ${money:.5f} |")
    return "\n".join(["| task | 10 GB profiled in | billed | compute per object |", "|---|---|---|---|"] + lines)


def block_spot():
    lines = ["| capacity | 1 vCPU + 2 GB per hour | one-minute minimum | saving vs arm64 on-demand |",
             "|---|---|---|---|"]
    arm = 3600 * task_second()
    lines.append(f"| arm64 on-demand (default) | {FARGATE_VCPU_HOUR} + 2 × {FARGATE_GB_HOUR} = ${arm:.5f} | "
                 f"${arm / 60:.6f} | — |")
    for off in (0.5, 0.7):
        x86 = spot_hour(off)
        lines.append(f"| x86 Spot at {off * 100:.0f} % off | ({FARGATE_X86_VCPU_HOUR} + 2 × {FARGATE_X86_GB_HOUR}) × "
                     f"{1 - off:.1f} = ${x86:.5f} | ${x86 / 60:.6f} | {spot_saving(off):.1f} % |")
    small = [1000 * cost("fargate", "profile", 10e3)[2]]
    big = [1000 * cost("fargate", "profile", 10e9)[2]]
    for off in (0.7, 0.5):
        saved_per_s = task_second() - spot_hour(off) / 3600
        small.append(small[0] - 1000 * FARGATE_MINIMUM_S * saved_per_s)
        big.append(big[0] - 1000 * fargate_seconds("profile", 10e9)[1] * saved_per_s)
    return "\n".join(lines + [
        "",
        f"Only the Fargate compute line shrinks. For 1,000 small objects the route goes from "
        f"${small[0]:.2f} to ${small[1]:.2f}–{small[2]:.2f}; for 1,000 objects of 10 GB (profile) from "
        f"${big[0]:.2f} to ${big[1]:.2f}–{big[2]:.2f}."])


BLOCKS = {
    "summary": block_summary,
    "readme-summary": block_readme_summary,
    "reading": block_reading,
    "readme-reading": block_readme_reading,
    "ipv4": block_ipv4,
    "durations": block_durations,
    "profile-arithmetic": lambda: block_arithmetic("profile"),
    "contract-arithmetic": lambda: block_arithmetic("contract"),
    "per-thousand": block_per_thousand,
    "threshold": block_threshold,
    "bigger-task": block_bigger_task,
    "spot": block_spot,
}
BLOCK = re.compile(r"(<!-- cost\.py: ([a-z0-9-]+) -->\n)(.*?)(<!-- /cost\.py -->)", re.S)


def wrapped(block):
    """`block` with its lines of text (not its tables) wrapped at 95 columns, as the
    hand-written text is."""
    lines = []
    for line in block.split("\n"):
        item = re.match(r"( *- )?", line)
        if not line.startswith("|") and len(line) > 95:
            indent = " " * len(item.group(1) or "")
            lines.extend(textwrap.wrap(line, 95, initial_indent="", subsequent_indent=indent,
                                       break_on_hyphens=False, break_long_words=False))
        else:
            lines.append(line)
    return "\n".join(lines)


def rewrite(text):
    """The text with every block regenerated, and the names of the blocks found."""
    found = []

    def fill(match):
        name = match.group(2)
        if name not in BLOCKS:
            raise SystemExit(f"unknown block {name!r}")
        found.append(name)
        return match.group(1) + wrapped(BLOCKS[name]()) + "\n" + match.group(4)

    return BLOCK.sub(fill, text), found


def main(args):
    if not args:
        for name, block in BLOCKS.items():
            print(f"<!-- cost.py: {name} -->\n{wrapped(block())}\n<!-- /cost.py -->\n")
        return 0
    mode, paths = args[0], args[1:]
    if mode not in ("--write", "--check") or not paths:
        print(__doc__, file=sys.stderr)
        return 2
    stale, used = [], set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        new, found = rewrite(text)
        used.update(found)
        if new != text:
            if mode == "--write":
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
            else:
                stale.append(path)
    unused = sorted(set(BLOCKS) - used)
    if unused:
        print(f"blocks in no file: {', '.join(unused)}", file=sys.stderr)
        return 1
    if stale:
        print(f"cost figures out of date in {', '.join(stale)}: run "
              f"'python3 scripts/cost.py --write README.md docs/cost.md' and read the text around them",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
