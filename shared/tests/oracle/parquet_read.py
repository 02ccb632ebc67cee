"""DuckDB and pyarrow reading our Parquet: the oracle of shared/tests/parquet_oracle.rs.

Reads a JSON request on stdin, {"path": str}, and prints

    {"duckdb": version, "pyarrow": version,
     "duckdb_types": [[name, type], ...],          # DESCRIBE of select * from the file
     "duckdb_rows": [[cell, ...], ...],             # select * from the file, every cell as text
     "pyarrow_schema": [[name, type, nullable], ...],
     "pyarrow_rows": int, "pyarrow_row_groups": int, "pyarrow_nulls": [int, ...]}

Cells are DuckDB's own text (CAST(... AS VARCHAR), session time zone UTC), null for NULL,
except DOUBLE: {"f64_bits": int}, the IEEE 754 bit pattern, so no float formatting rule
stands between the two sides. DuckDB writes a decimal whose integer part has no digits
(scale = precision) as `.05`; the script adds the `0` back (`0.05`), its only rewriting.
"""

import json
import struct
import sys

# Exit status when duckdb or pyarrow cannot be imported: the test then says how to install them.
MISSING_MODULE = 3

try:
    import duckdb
    import pyarrow
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
        },
        sys.stdout,
    )


main()
