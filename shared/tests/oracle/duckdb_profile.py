"""DuckDB as an independent oracle for shared/tests/oracle.rs.

Reads a JSON request on stdin: a list of data sets, each an object

    {"path": str, "reader": "csv" | "json", "delimiter": str, "header": bool,
     "compression": "none" | "gzip", "columns": [[name, duckdb_type], ...]}

and prints {"duckdb": version, "datasets": [...]} with, for each data set, the row count and per column the count of
non-null values and MIN/MAX, computed by DuckDB reading the file with explicit options and
explicit column types (no sniffing, so DuckDB parses every value itself):

    {"rows": int, "columns": {name: {"non_null": int, "min": ..., "max": ...}}}

MIN/MAX are JSON integers for BIGINT, booleans for BOOLEAN, ISO text for DATE/TIMESTAMP,
text for VARCHAR, null for JSON, and for DOUBLE an object {"f64_bits": int, "repr": str}: the
IEEE 754 bit pattern, so the comparison does not depend on any JSON parser's rounding.
"""

import json
import struct
import sys

# Exit status when duckdb cannot be imported: the test then says how to install it.
MISSING_DUCKDB = 3

try:
    import duckdb
except ImportError as error:
    print(
        f"the DuckDB oracle needs the duckdb package, not importable from {sys.executable} "
        f"({error})",
        file=sys.stderr,
    )
    sys.exit(MISSING_DUCKDB)


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def identifier(name):
    return '"' + name.replace('"', '""') + '"'


def source(dataset):
    columns = "{" + ", ".join(
        f"{literal(name)}: {literal(kind)}" for name, kind in dataset["columns"]
    ) + "}"
    path = literal(dataset["path"])
    compression = literal(dataset["compression"])
    if dataset["reader"] == "csv":
        header = "true" if dataset["header"] else "false"
        return (
            f"read_csv({path}, header={header}, delim={literal(dataset['delimiter'])}, "
            f"quote='\"', escape='\"', nullstr='', auto_detect=false, "
            f"compression={compression}, columns={columns})"
        )
    return (
        f"read_json({path}, format='newline_delimited', compression={compression}, "
        f"columns={columns})"
    )


def extreme(kind, value):
    if value is None:
        return None
    if kind == "DOUBLE":
        return {"f64_bits": struct.unpack("<Q", struct.pack("<d", value))[0], "repr": repr(value)}
    return value


def profile(connection, dataset):
    selects = ["COUNT(*)"]
    for name, kind in dataset["columns"]:
        column = identifier(name)
        selects.append(f"COUNT({column})")
        if kind == "JSON":
            selects += ["NULL", "NULL"]
        elif kind in ("DATE", "TIMESTAMP", "VARCHAR"):
            selects += [f"CAST(MIN({column}) AS VARCHAR)", f"CAST(MAX({column}) AS VARCHAR)"]
        else:
            selects += [f"MIN({column})", f"MAX({column})"]
    row = connection.execute(f"SELECT {', '.join(selects)} FROM {source(dataset)}").fetchone()
    columns = {}
    for index, (name, kind) in enumerate(dataset["columns"]):
        non_null, low, high = row[1 + 3 * index : 4 + 3 * index]
        columns[name] = {
            "non_null": non_null,
            "min": extreme(kind, low),
            "max": extreme(kind, high),
        }
    return {"rows": row[0], "columns": columns}


def main():
    request = json.load(sys.stdin)
    connection = duckdb.connect()
    answer = [profile(connection, dataset) for dataset in request]
    json.dump({"duckdb": duckdb.__version__, "datasets": answer}, sys.stdout)


if __name__ == "__main__":
    main()
