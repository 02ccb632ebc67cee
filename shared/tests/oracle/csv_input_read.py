"""DuckDB reading the CSV input and our Parquet, pyarrow our Parquet: the input-side oracle
of shared/tests/parquet_oracle/input.rs.

Reads a JSON request on stdin:

    {"csv": path, "parquet": path, "columns": [[name, duckdb_type], ...],
     "strings": [name, ...], "valid_ids": [int, ...]}

DuckDB reads the CSV twice with the contract's types (TimeZone UTC, header, `,` and `"`
given and no sniffing, ignore_errors so that rows it cannot read are skipped, not fatal):

- `typed`: `columns = {contract types}`, DuckDB's defaults otherwise. A quoted `""` is NULL
  there (allow_quoted_nulls), in every column.
- `strings`: every column VARCHAR with `allow_quoted_nulls = false`: a quoted `""` is an
  empty string, an unquoted empty field NULL.

The input's values are `typed`'s for the non-string columns and `strings`' for the string
columns (the contract keeps a quoted `""` as an empty string in a string column and reads it
as null elsewhere; see docs/contracts.md), joined by `id`, for the ids in `valid_ids`. They
must equal what DuckDB reads from our Parquet: the script counts both EXCEPT ALLs and prints
both sides, sorted by id, every cell as DuckDB's text (DOUBLE as its IEEE 754 bits):

    {"duckdb": version, "pyarrow": version,
     "input_rows": [[cell, ...], ...], "parquet_rows": [[cell, ...], ...],
     "input_except_parquet": int, "parquet_except_input": int,
     "typed_ids": [int, ...],      # the ids DuckDB's typed read could read, of every row
     "pyarrow_rows": [[cell, ...], ...]}   # pyarrow's values of our Parquet, the same texts
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
        f"the input oracle needs the duckdb and pyarrow packages, not importable from "
        f"{sys.executable} ({error})",
        file=sys.stderr,
    )
    sys.exit(MISSING_MODULE)


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def identifier(name):
    return '"' + name.replace('"', '""') + '"'


def struct_literal(pairs):
    return "{" + ", ".join(f"{literal(name)}: {literal(kind)}" for name, kind in pairs) + "}"


def decimal_text(text):
    if text.startswith("."):
        return "0" + text
    if text.startswith("-."):
        return "-0" + text[1:]
    return text


def bits(value):
    return {"f64_bits": struct.unpack("<Q", struct.pack("<d", value))[0]}


def cells(rows, kinds):
    out = []
    for row in rows:
        line = []
        for kind, value in zip(kinds, row):
            if value is None:
                line.append(None)
            elif kind == "DOUBLE":
                line.append(bits(value))
            elif kind.startswith("DECIMAL"):
                line.append(decimal_text(value))
            else:
                line.append(value)
        out.append(line)
    return out


def arrow_text(value, kind):
    """pyarrow's Python value as DuckDB's text for the same type."""
    if value is None:
        return None
    if kind == "DOUBLE":
        return bits(value)
    if kind == "BOOLEAN":
        return "true" if value else "false"
    if kind.startswith("DECIMAL"):
        return decimal_text(format(value, "f"))
    if kind == "DATE":
        return f"{value.year:04}-{value.month:02}-{value.day:02}"
    if kind.startswith("TIMESTAMP"):
        text = (
            f"{value.year:04}-{value.month:02}-{value.day:02} "
            f"{value.hour:02}:{value.minute:02}:{value.second:02}"
        )
        if value.microsecond:
            text += f".{value.microsecond:06}".rstrip("0")
        assert value.utcoffset().total_seconds() == 0, value
        return text + "+00"
    return str(value)


def main():
    request = json.load(sys.stdin)
    columns = request["columns"]
    strings = set(request["strings"])
    names = [name for name, _ in columns]
    kinds = [kind for _, kind in columns]

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    options = (
        "header = true, delim = ',', quote = '\"', escape = '\"', ignore_errors = true, "
        "auto_detect = false"
    )
    csv = literal(request["csv"])
    connection.execute(
        f"create table typed as select * from read_csv({csv}, {options}, "
        f"columns = {struct_literal(columns)})"
    )
    connection.execute(
        f"create table strings as select * from read_csv({csv}, {options}, "
        f"allow_quoted_nulls = false, "
        f"columns = {struct_literal([(name, 'VARCHAR') for name in names])})"
    )
    connection.execute("create table valid (id BIGINT)")
    connection.executemany("insert into valid values (?)", [[i] for i in request["valid_ids"]])
    picks = ", ".join(
        f"s.{identifier(name)}" if name in strings else f"t.{identifier(name)}" for name in names
    )
    connection.execute(
        f"create table input as select {picks} from typed t "
        f"join strings s on cast(s.id as BIGINT) = t.id "
        f"where t.id in (select id from valid)"
    )
    connection.execute(f"create table parquet as select * from {literal(request['parquet'])}")

    def count(query):
        return connection.execute(f"select count(*) from ({query})").fetchone()[0]

    def rows(table):
        selects = [
            identifier(name) if kind == "DOUBLE" else f"CAST({identifier(name)} AS VARCHAR)"
            for name, kind in columns
        ]
        return cells(
            connection.execute(f"select {', '.join(selects)} from {table} order by id").fetchall(),
            kinds,
        )

    table = pq.read_table(request["parquet"]).sort_by("id")
    arrow_rows = [
        [arrow_text(row[name], kind) for name, kind in columns] for row in table.to_pylist()
    ]

    json.dump(
        {
            "duckdb": duckdb.__version__,
            "pyarrow": pyarrow.__version__,
            "input_rows": rows("input"),
            "parquet_rows": rows("parquet"),
            "input_except_parquet": count("select * from input except all select * from parquet"),
            "parquet_except_input": count("select * from parquet except all select * from input"),
            "typed_ids": [r[0] for r in connection.execute("select id from typed order by id").fetchall()],
            "pyarrow_rows": arrow_rows,
        },
        sys.stdout,
    )


main()
