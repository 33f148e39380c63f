#!/usr/bin/env bash
# Runs the README's test command as a newcomer would: in a fresh clone of HEAD in an empty
# folder (no ../shared/corpus beside it), with the independent readers (libyal tools, python3,
# evtx_dump) off PATH. It must pass; the tests that need what is missing print `skipped:` lines.
# Reuses this checkout's target folder so dependencies are not built twice.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone -q "$repo" "$work/evtdoctor"
mkdir "$work/bin"
for dir in /usr/local/bin /usr/bin /bin; do
  for tool in "$dir"/*; do
    name=$(basename "$tool")
    case "$name" in
      evt* | esedb* | python* | pip* | evtx_dump) ;; # the readers: left out
      *) [ -e "$work/bin/$name" ] || ln -s "$tool" "$work/bin/$name" ;;
    esac
  done
done
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"

cd "$work/evtdoctor"
env -u EVTDOCTOR_CORPUS -u EVTDOCTOR_REQUIRE_CORPUS \
  PATH="$work/bin:$cargo_bin" EVTDOCTOR_EVTX_DUMP=none \
  CARGO_TARGET_DIR="$repo/target" \
  cargo test --workspace --locked 2>&1 | tee "$work/log"
echo "fresh clone: $(grep -c '^skipped: ' "$work/log") test(s) or checks skipped for want of the corpus or a reader"
