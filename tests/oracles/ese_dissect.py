"""Independent oracle for the ESE tests: reads a database with PyPI dissect.database and prints
what `evtdoctor db dump --jsonl` / `db header --json` should print, in the same JSON shapes.

usage: ese_dissect.py header FILE
       ese_dissect.py dump FILE [TABLE]       every leaf node, those flagged deleted too
       ese_dissect.py dump-live FILE [TABLE]  the rows ESE sees: nodes flagged deleted left out

Value forms follow evtdoctor's documented output: binary as hex, GUIDs as registry text,
DateTime columns as UTC text (an OLE date, or a FILETIME when an application stored one).
"""
import datetime
import json
import struct
import sys

from dissect.database.ese import ESE
from dissect.database.ese.c_ese import TAG_FLAG
from dissect.database.ese.record import Record

DATETIME = 8
FILETIME_MAX = 2650467743999999999


def date_time(bits):
    """The 8 bytes of a DateTime column, decided the way evtdoctor documents it."""
    days = struct.unpack("<d", struct.pack("<q", bits))[0]
    plausible_ole = days == 0.0 or (abs(days) >= 1e-9 and days == days and abs(days) != float("inf"))
    if plausible_ole and abs(days) <= 2958465.0:
        micros = round(days * 86400000000)
        t = datetime.datetime(1899, 12, 30) + datetime.timedelta(microseconds=micros)
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if 1 <= bits <= FILETIME_MAX:
        seconds, fraction = divmod(bits, 10000000)
        t = datetime.datetime(1601, 1, 1) + datetime.timedelta(seconds=seconds)
        return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%07dZ" % fraction
    return bits


def plain(value, column):
    if isinstance(value, list):
        return [plain(v, column) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, str):
        return value.rstrip("\0")
    if isinstance(value, int) and not isinstance(value, bool) and int(column.type) == DATETIME:
        return date_time(value)
    return value


def main():
    mode, path = sys.argv[1], sys.argv[2]
    with open(path, "rb") as fh:
        db = ESE(fh)
        if mode == "header":
            h = db.header
            print(json.dumps({
                "page_size": db.page_size,
                "format_version": h.ulVersion,
                "format_revision": h.ulDaeUpdateMajor,
                "state": int(h.dbstate),
                "os_version": [h.dwMajorVersion, h.dwMinorVersion, h.dwBuildNumber, h.lSPNumber],
            }))
            return
        only = sys.argv[3] if len(sys.argv) > 3 else None
        for table in db.tables():
            if only is not None and table.name != only:
                continue
            for node in table.root.iter_leaf_nodes():
                if mode == "dump-live" and node.tag.flags & TAG_FLAG.Deleted:
                    continue
                record = Record(table, node)
                values = {c.name: plain(record.get(c.name), c) for c in table.columns}
                print(json.dumps({"table": table.name, "record": values}))


main()
