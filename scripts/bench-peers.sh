#!/usr/bin/env bash
# Times evtdoctor against the peer tools on the same large inputs, in one run:
#   .evtx -> JSONL : evtdoctor events --jsonl  vs  evtx_dump -o jsonl (1 thread, then $THREADS)
#   .evtx analyze  : evtdoctor analyze         vs  evtx_dump -o jsonl ($THREADS threads)
#   .evt  -> text  : evtdoctor events --jsonl  vs  evtexport
#   parse only     : testkit/examples/read_speed (one thread, no output: MB/s of the .evt and .evtx readers)
#   1,000 small logs: evtdoctor events --jsonl with --threads 1 vs --threads $THREADS (the speed-up)
#   ESE database -> rows: evtdoctor db dump --jsonl  vs  esedbexport (libesedb-utils)
# Inputs are built first: a .evtx of replicated whole chunks of a real log (the corpus beside the
# repository, or EVTX_SOURCE), a .evt written by the project's own writer, and an ESE database of
# ESE_MB MiB (default 1024) written by the project's own ESE writer (or ESE_DB, an existing one).
# Needs: hyperfine, evtx_dump (cargo install evtx), evtexport (libevt-utils), esedbexport
# (libesedb-utils), python3.
#
# usage: scripts/bench-peers.sh [WORKDIR] (default: a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
threads=${THREADS:-2}
evtx_mb=${EVTX_MB:-64}
evt_mb=${EVT_MB:-64}
evtx_source=${EVTX_SOURCE:-../shared/corpus/evtx/System_binarydata_plaso.evtx}

for tool in hyperfine evtexport esedbexport python3; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done
# The Rust evtx_dump, not python-evtx's script of the same name.
evtx_dump=${EVTX_DUMP:-${CARGO_HOME:-$HOME/.cargo}/bin/evtx_dump}
"$evtx_dump" --version 2>/dev/null | grep -q '^EVTX Parser' ||
  { echo "missing: the Rust evtx_dump (cargo install evtx)" >&2; exit 2; }

cargo build --release --quiet --bin evtdoctor
cargo build --release --quiet -p evtdoctor-testkit --example bench_logs --example read_speed
bin=target/release/evtdoctor

python3 scripts/replicate-evtx.py "$evtx_source" "$work/big.evtx" "$evtx_mb"
target/release/examples/bench_logs evt "$work/big.evt" "$evt_mb"
target/release/examples/bench_logs many "$work/many" 1000
ese_db=${ESE_DB:-$work/big.edb}
[ -n "${ESE_DB:-}" ] || target/release/examples/bench_logs ese "$ese_db" "${ESE_MB:-1024}"

for t in 1 "$threads"; do
  hyperfine --warmup 1 --runs 5 --export-markdown "$work/evtx-t$t.md" \
    -n "evtdoctor events --jsonl (threads $t)" "$bin events --threads $t --jsonl $work/big.evtx > /dev/null" \
    -n "evtx_dump -o jsonl (threads $t)" "$evtx_dump -t $t -o jsonl $work/big.evtx > /dev/null"
done

hyperfine --warmup 1 --runs 3 --export-markdown "$work/analyze.md" \
  -n "evtdoctor analyze (threads $threads)" "$bin analyze --threads $threads $work/big.evtx > /dev/null" \
  -n "evtx_dump -o jsonl (threads $threads)" "$evtx_dump -t $threads -o jsonl $work/big.evtx > /dev/null"

hyperfine --warmup 1 --runs 3 --export-markdown "$work/evt.md" \
  -n "evtdoctor events --jsonl" "$bin events --threads $threads --jsonl $work/big.evt > /dev/null" \
  -n "evtexport" "evtexport $work/big.evt > /dev/null"

hyperfine --warmup 1 --runs 5 --export-markdown "$work/many.md" \
  -n "evtdoctor events --jsonl, 1,000 logs (threads 1)" "$bin events --threads 1 --jsonl $work/many > /dev/null" \
  -n "evtdoctor events --jsonl, 1,000 logs (threads $threads)" "$bin events --threads $threads --jsonl $work/many > /dev/null"

# One run each by default. esedbexport is slow on large databases (64 MiB: 46 s; 1 GiB: not
# done after 20 minutes), so it is cut off after ESE_TIMEOUT seconds (a cut-off run shows as
# that time and hyperfine notes the failed exit).
hyperfine --runs "${ESE_RUNS:-1}" -i --export-markdown "$work/ese.md" \
  --prepare "rm -rf $work/esedb.export" \
  -n "evtdoctor db dump --jsonl" "$bin db dump $ese_db --jsonl > /dev/null" \
  -n "esedbexport" "timeout ${ESE_TIMEOUT:-1800} esedbexport -t $work/esedb $ese_db > /dev/null"

echo
echo "Peak memory (KiB):"
for cmd in "$bin events --threads $threads --jsonl $work/big.evtx" \
           "$evtx_dump -t $threads -o jsonl $work/big.evtx" \
           "$bin events --threads $threads --jsonl $work/big.evt" \
           "evtexport $work/big.evt" \
           "$bin db dump $ese_db --jsonl"; do
  rss=$( { /usr/bin/time -f '%M' $cmd > /dev/null; } 2>&1 | tail -1 )
  printf '%10s  %s\n' "$rss" "$cmd"
done
echo
echo "Parse only, one thread:"
target/release/examples/read_speed "$work/big.evt" 3
target/release/examples/read_speed "$work/big.evtx" 3
cat "$work"/evtx-t*.md "$work/analyze.md" "$work/evt.md" "$work/many.md" "$work/ese.md"
