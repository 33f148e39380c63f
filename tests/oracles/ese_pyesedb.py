"""Independent oracle for the defrag tests: reads a database with PyPI libesedb-python
(`pyesedb`) and prints every row of every table as JSON lines, values as stored (hex), long
values read in full. The catalog's root-page column is left out: the rebuild moves roots. A
record pyesedb cannot read is printed as a line with its error, so two files compare equal only
when pyesedb fails on the same records in the same way.

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
            try:
                record = table.get_record(r)
            except OSError as error:
                print(json.dumps({"table": table.name, "unreadable": r, "error": str(error)}))
                continue
            row = {}
            for c in range(record.number_of_values):
                name = record.get_column_name(c)
                if table.name in CATALOG and name == ROOT_COLUMN:
                    continue
                row[name] = value(record, c)
            print(json.dumps({"table": table.name, "record": row}))


main()
