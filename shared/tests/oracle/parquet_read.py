"""DuckDB and pyarrow reading our Parquet: the oracle of shared/tests/parquet_oracle.rs.

Reads a JSON request on stdin, {"path": str}, and prints

    {"duckdb": version, "pyarrow": version,
     "duckdb_types": [[name, type], ...],          # DESCRIBE of select * from the file
     "duckdb_rows": [[cell, ...], ...],             # select * from the file, every cell as text
     "pyarrow_schema": [[name, type, nullable], ...],
     "pyarrow_rows": int, "pyarrow_row_groups": int, "pyarrow_nulls": [int, ...],
     "pyarrow_statistics_mismatches": [text, ...]}

Cells are DuckDB's own text (CAST(... AS VARCHAR), session time zone UTC), null for NULL,
except DOUBLE: {"f64_bits": int}, the IEEE 754 bit pattern, so no float formatting rule
stands between the two sides. DuckDB writes a decimal whose integer part has no digits
(scale = precision) as `.05`; the script adds the `0` back (`0.05`), its only rewriting.
"""

import json
import math
import struct
import sys

# Exit status when duckdb or pyarrow cannot be imported: the test then says how to install them.
MISSING_MODULE = 3

try:
    import duckdb
    import pyarrow
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
except ImportError as error:
    print(
        f"the Parquet oracle needs the duckdb and pyarrow packages, not importable from "
        f"{sys.executable} ({error})",
        file=sys.stderr,
    )
    sys.exit(MISSING_MODULE)


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def identifier(name):
    return '"' + name.replace('"', '""') + '"'


def decimal_text(text):
    if text.startswith("."):
        return "0" + text
    if text.startswith("-."):
        return "-0" + text[1:]
    return text


def statistics_mismatches(parquet_file, connection, path):
    """Each row group's column statistics against its values read back: null count, min, max
    (NaN left out; a zero min -0.0, a zero max +0.0; a string bound cut to 64 bytes only has
    to bound). pyarrow gives no min/max for doubles (neither for the parquet crate's own
    writer): DuckDB's reading of the chunk's statistics stands in for it there."""
    mismatches = []
    metadata = parquet_file.metadata
    for group in range(metadata.num_row_groups):
        values = parquet_file.read_row_group(group)
        for index, column in enumerate(values.columns):
            name = values.schema.field(index).name
            stats = metadata.row_group(group).column(index).statistics
            where = f"row group {group} column {name}"
            if stats is None:
                mismatches.append(f"{where}: no statistics")
                continue
            if stats.null_count != column.null_count:
                mismatches.append(f"{where}: null count {stats.null_count} != {column.null_count}")
            present = column.drop_null()
            if pa.types.is_floating(column.type):
                present = present.filter(pc.invert(pc.is_nan(present)))
            if len(present) == 0:
                if stats.has_min_max:
                    mismatches.append(f"{where}: min/max without values")
                continue
            bounds = pc.min_max(present)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            minimum, maximum = (stats.min, stats.max) if stats.has_min_max else (None, None)
            if pa.types.is_floating(column.type) and not stats.has_min_max:
                minimum, maximum = connection.execute(
                    "select stats_min_value, stats_max_value from parquet_metadata(?) "
                    "where row_group_id = ? and column_id = ?",
                    [path, group, index],
                ).fetchone()
                if minimum is not None and maximum is not None:
                    minimum, maximum = float(minimum), float(maximum)
            if minimum is None or maximum is None:
                mismatches.append(f"{where}: no min/max")
                continue
            if pa.types.is_string(column.type) and len(high.encode()) > 64:
                if not (minimum.encode() <= low.encode() and maximum.encode() >= high.encode()):
                    mismatches.append(
                        f"{where}: cut bounds {minimum!r}..{maximum!r} do not bound {low!r}..{high!r}"
                    )
                continue
            if minimum != low or maximum != high:
                mismatches.append(f"{where}: {minimum!r}..{maximum!r} != {low!r}..{high!r}")
            if pa.types.is_floating(column.type):
                if low == 0 and math.copysign(1, minimum) > 0:
                    mismatches.append(f"{where}: a zero min is not -0.0")
                if high == 0 and math.copysign(1, maximum) < 0:
                    mismatches.append(f"{where}: a zero max is not +0.0")
    return mismatches

def main():
    request = json.load(sys.stdin)
    path = request["path"]

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    source = f"(select * from {literal(path)})"
    types = connection.execute(f"DESCRIBE {source}").fetchall()
    types = [[row[0], row[1]] for row in types]
    selects = []
    for name, kind in types:
        if kind == "DOUBLE":
            selects.append(identifier(name))
        else:
            selects.append(f"CAST({identifier(name)} AS VARCHAR)")
    rows = connection.execute(f"select {', '.join(selects)} from {source}").fetchall()
    cells = []
    for row in rows:
        out = []
        for (name, kind), value in zip(types, row):
            if value is None:
                out.append(None)
            elif kind == "DOUBLE":
                out.append({"f64_bits": struct.unpack("<Q", struct.pack("<d", value))[0]})
            elif kind.startswith("DECIMAL"):
                out.append(decimal_text(value))
            else:
                out.append(value)
        cells.append(out)

    parquet_file = pq.ParquetFile(path)
    table = parquet_file.read()
    schema = [[field.name, str(field.type), field.nullable] for field in table.schema]

    json.dump(
        {
            "duckdb": duckdb.__version__,
            "pyarrow": pyarrow.__version__,
            "duckdb_types": types,
            "duckdb_rows": cells,
            "pyarrow_schema": schema,
            "pyarrow_rows": table.num_rows,
            "pyarrow_row_groups": parquet_file.num_row_groups,
            "pyarrow_nulls": [column.null_count for column in table.columns],
            "pyarrow_statistics_mismatches": statistics_mismatches(parquet_file, connection, path),
        },
        sys.stdout,
    )


main()
