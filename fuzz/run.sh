#!/usr/bin/env bash
# Runs one fuzz target for a number of executions, without sanitizer (the parsers are safe
# Rust: the search is for panics, hangs and runaway memory), at the lowest CPU priority.
# Seeds come from fuzz/seed.sh; finds go to fuzz/artifacts/<target>/.
#
# usage: fuzz/run.sh <target> [executions]     e.g. fuzz/run.sh ese_check 1000000
set -euo pipefail
cd "$(dirname "$0")"
target=$1
runs=${2:-1000000}
# Inputs the size of the seeds: whole small logs, one evtx chunk, leading ESE slices.
case $target in
  evt) max_len=65536 ;;
  evtx_templates | evtx_xml) max_len=69632 ;;
  ese_check | ese_dump) max_len=262144 ;;
  ese_open) max_len=65536 ;;
  ese_page | event_xml | text) max_len=32768 ;;
  *) max_len=4096 ;;
esac
[ -d "corpus/$target" ] || ./seed.sh
mkdir -p "artifacts/$target"
RUSTC_BOOTSTRAP=1 nice -n 19 cargo fuzz run -s none "$target" "corpus/$target" -- \
  -runs="$runs" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="artifacts/$target/" -print_final_stats=1
