"""Independent oracle for the defrag tests: reads a database with PyPI libesedb-python
(`pyesedb`) and prints every row of every table as JSON lines, values as stored (hex), long
values read in full. The catalog's root-page column is left out: the rebuild moves roots.

usage: ese_pyesedb.py FILE
"""
import json
import sys

import pyesedb

CATALOG = ("MSysObjects", "MSysObjectsShadow")
ROOT_COLUMN = "ColtypOrPgnoFDP"


def value(record, column):
    if record.is_long_value(column):
        long_value = record.get_value_data_as_long_value(column)
        return {"long": long_value.get_data().hex() if long_value is not None else None}
    data = record.get_value_data(column)
    return data.hex() if data is not None else None


def main():
    database = pyesedb.file()
    database.open(sys.argv[1])
    for t in range(database.number_of_tables):
        table = database.get_table(t)
        for r in range(table.number_of_records):
            record = table.get_record(r)
            row = {}
            for c in range(record.number_of_values):
                name = record.get_column_name(c)
                if table.name in CATALOG and name == ROOT_COLUMN:
                    continue
                row[name] = value(record, c)
            print(json.dumps({"table": table.name, "record": row}))


main()
