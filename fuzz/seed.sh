#!/usr/bin/env bash
# Builds the fuzz seed corpus (fuzz/corpus/<target>/, never committed) from the project's
# samples/ and the real test files beside the repository (../shared/corpus, or EVTDOCTOR_CORPUS).
# Large .evtx files give one seed per chunk (file header + that chunk) so seeds stay small.
#
# usage: fuzz/seed.sh
set -euo pipefail
cd "$(dirname "$0")"
repo=..
corpus=${EVTDOCTOR_CORPUS:-$repo/../shared/corpus}
out=corpus
mkdir -p "$out"/{evt,evtx_templates,evtx_xml,event_xml,text,payload}
mkdir -p "$out"/{ese_open,ese_check,ese_dump,ese_page,ese_record}

find_logs() { # dir, extension
  [ -d "$1" ] && find "$1" -type f -iname "*.$2" | sort || true
}

for f in $(find_logs "$corpus/evt" evt) $(find_logs "$repo/samples" evt); do
  cp "$f" "$out/evt/$(basename "$f")"
done

chunk=65536
for f in $(find_logs "$corpus/evtx" evtx) $(find_logs "$repo/samples" evtx); do
  name=$(basename "$f" .evtx)
  size=$(stat -c %s "$f")
  if [ "$size" -le $((4096 + chunk)) ]; then
    cp "$f" "$out/evtx_templates/$name.evtx"
  else
    for k in 0 1 2 3; do
      skip=$((4096 + k * chunk))
      [ "$skip" -lt "$size" ] || break
      { head -c 4096 "$f"; dd if="$f" bs=4096 skip=$((skip / 4096)) count=$((chunk / 4096)) status=none; } \
        >"$out/evtx_templates/$name.chunk$k.evtx"
    done
  fi
done
cp "$out"/evtx_templates/* "$out/evtx_xml/"

# Event XML as the peers render it, and the pasted event text the project keeps as a fixture.
if command -v evtxexport >/dev/null; then
  for f in "$out"/evtx_templates/*.evtx; do
    xml=$out/event_xml/$(basename "$f" .evtx).xml
    evtxexport -f xml "$f" >"$xml" 2>/dev/null || true
    truncate -s '<32768' "$xml"
  done
fi
cp "$out"/event_xml/* "$out/text/" 2>/dev/null || true
cp "$repo"/tests/fixtures/*.txt "$out/text/"
# Sample text of every kind (setup logs included), named by bundle: the names repeat.
for f in $(find "$repo/samples" -type f \( -iname '*.txt' -o -iname '*.csv' -o -iname '*.xml' \
  -o -iname '*.log' \) | sort); do
  cp "$f" "$out/text/$(basename "$(dirname "$f")")-$(basename "$f")"
done

# Payloads: the KB 818952 event 5085 data (ASCII strings) and a UTF-16 string list.
printf '6.0.6249.0 PT\0kmserver.cpp@1653DD1\0kmserver.cpp@1120DHa84\0kmserver.cpp@704DD2\0' \
  >"$out/payload/kb818952.bin"
printf 'K\0M\0S\0\0\0d\0b\0\0\0' >"$out/payload/utf16.bin"

# ESE databases: leading slices (header, shadow, the first pages: space trees, catalog at page
# 4, the first tables) so seeds fit the fuzzer's -max_len; single pages; catalog records.
page_size() { python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(240); print(struct.unpack_from("<I",d,236)[0] or 4096)' "$1"; }
for f in $(find_logs "$corpus/ese" edb) $(find_logs "$corpus/ese" dat) $(find_logs "$corpus/ese" db) \
  $(find_logs "$corpus/ese" mdb); do
  name=$(basename "$f")
  ps=$(page_size "$f")
  head -c $((2 * ps)) "$f" >"$out/ese_open/$name.head"
  for pages in 16 32 64; do
    [ $((pages * ps)) -le 262144 ] || continue
    head -c $((pages * ps)) "$f" >"$out/ese_check/$name.$pages"
  done
  for n in 1 2 3 4 5 6 7 8 9 10; do
    dd if="$f" bs="$ps" skip=$((n + 1)) count=1 status=none >"$out/ese_page/$name.page$n"
  done
done
cp "$out"/ese_check/* "$out/ese_dump/"
# Catalog (MSysObjects) records: the node data of its first leaf pages (4 KiB pages), each
# behind the target's control byte (0: small-page format, catalog layout; 4: every-type table).
python3 - "$out" "$corpus/ese" <<'PY'
import os, struct, sys
out, src = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    data = open(os.path.join(src, name), "rb").read()
    if len(data) < 6 * 4096 or data[4:8] != b"\xef\xcd\xab\x89" or struct.unpack_from("<I", data, 236)[0] != 4096:
        continue
    catalog_leaves = [
        data[at : at + 4096]
        for at in range(3 * 4096, len(data) - 4095, 4096)
        if struct.unpack_from("<I", data, at + 24)[0] == 2  # object: MSysObjects
        and struct.unpack_from("<I", data, at + 36)[0] & 0xE2 == 0x02  # a leaf of its records
    ]
    for page, i in [(p, i) for p in catalog_leaves[:2] for i in range(1, struct.unpack_from("<H", p, 34)[0])]:
        size, offset = struct.unpack_from("<HH", page, 4096 - 4 * (i + 1))
        value = page[40 + (offset & 0x1FFF) : 40 + (offset & 0x1FFF) + (size & 0x1FFF)]
        if offset >> 13 & 4:  # a shared key prefix: its length comes first
            value = value[2:]
        key_len = struct.unpack_from("<H", value, 0)[0] if len(value) >= 2 else 0
        record = value[2 + key_len :]
        for control in (0, 4):
            with open(f"{out}/ese_record/{name}.{page[16:20].hex()}.r{i}.c{control}", "wb") as f:
                f.write(bytes([control]) + record)
PY

for target in "$out"/*; do
  echo "$(basename "$target"): $(find "$target" -type f | wc -l) seeds"
done
