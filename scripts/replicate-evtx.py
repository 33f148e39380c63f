#!/usr/bin/env python3
"""Builds a large .evtx for benchmarks by repeating the whole chunks of a real file under a
rewritten file header (chunk count, last chunk, header CRC). Record numbers repeat; every chunk
stays internally valid, so every reader parses it as an ordinary log.

usage: replicate-evtx.py SOURCE.evtx OUT.evtx MEGABYTES
"""
import struct
import sys
import zlib

HEADER_BLOCK = 4096
CHUNK = 65536


def main() -> None:
    source, out, megabytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = open(source, "rb").read()
    if data[:8] != b"ElfFile\0":
        sys.exit(f"{source}: not an .evtx file")
    chunks = [
        data[o : o + CHUNK]
        for o in range(HEADER_BLOCK, len(data) - CHUNK + 1, CHUNK)
        if data[o : o + 8] == b"ElfChnk\0"
    ]
    wanted = max(1, megabytes * 1024 * 1024 // CHUNK)
    if wanted > 0xFFFF:
        sys.exit("at most 65535 chunks (4 GiB)")
    header = bytearray(data[:HEADER_BLOCK])
    struct.pack_into("<QQ", header, 8, 0, wanted - 1)  # first and last chunk numbers
    struct.pack_into("<H", header, 42, wanted)  # number of chunks
    struct.pack_into("<I", header, 120, 0)  # flags: clean
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    with open(out, "wb") as f:
        f.write(header)
        for i in range(wanted):
            f.write(chunks[i % len(chunks)])


if __name__ == "__main__":
    main()
