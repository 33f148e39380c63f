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
find "$repo/samples" -type f \( -iname '*.txt' -o -iname '*.csv' -o -iname '*.xml' \) \
  -exec cp {} "$out/text/" \; 2>/dev/null || true

# Payloads: the KB 818952 event 5085 data (ASCII strings) and a UTF-16 string list.
printf '6.0.6249.0 PT\0kmserver.cpp@1653DD1\0kmserver.cpp@1120DHa84\0kmserver.cpp@704DD2\0' \
  >"$out/payload/kb818952.bin"
printf 'K\0M\0S\0\0\0d\0b\0\0\0' >"$out/payload/utf16.bin"

for target in "$out"/*; do
  echo "$(basename "$target"): $(find "$target" -type f | wc -l) seeds"
done
