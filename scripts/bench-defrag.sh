#!/usr/bin/env bash
# Times `evtdoctor db defrag` (rebuild and verification included) against `cp --reflink=never`
# of the same database in the same run, and prints the peak resident memory of each.
# Not part of CI. Usage: scripts/bench-defrag.sh [DATABASE [EVTDOCTOR_BINARY]]
# (default binary: target/release/evtdoctor, built here when missing). Without a database (or
# with "-"), the project's own ESE writer first writes one of $BENCH_MB MiB (default 1024) in
# Exchange 2000's format, an eighth of its rows deleted but left in place
# (`bench_logs ese`). The issue's target: a database of 1 GiB or more, defrag within 3x the cp
# time.
set -euo pipefail
db=${1:--}
bin=${2:-}
cd "$(dirname "$0")/.."
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin evtdoctor
  bin=target/release/evtdoctor
fi
# The copies go to $BENCH_DIR (default: a temp folder); put it on the database's disk to compare
# like with like.
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bench-defrag.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ "$db" = "-" ]; then
  cargo build --release --quiet --example bench_logs
  db=$work/bench.edb
  /usr/bin/time -f 'written in %es, peak %M KiB' \
    target/release/examples/bench_logs ese "$db" "${BENCH_MB:-1024}"
fi

# Wall seconds and peak resident KiB of a command, from GNU time.
measure() {
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null
  cat "$work/time"
}

sync
read -r cp_seconds cp_kib < <(measure cp --reflink=never "$db" "$work/copy")
sync
read -r defrag_seconds defrag_kib < <(measure "$bin" db defrag "$db" \
  --temp "$work/defragmented" --preserve-temp --no-backup)

size=$(stat -c %s "$db")
new_size=$(stat -c %s "$work/defragmented")
echo "database:        $db ($size bytes; $new_size after defrag)"
echo "cp:              ${cp_seconds}s, peak ${cp_kib} KiB"
echo "db defrag:       ${defrag_seconds}s, peak ${defrag_kib} KiB (rebuild + verification)"
awk -v d="$defrag_seconds" -v c="$cp_seconds" \
  'BEGIN { if (c > 0) printf "ratio:           %.1fx cp (target <= 3x)\n", d / c }'
