#!/usr/bin/env bash
# The HTML report at fleet scale: N machines (hard links to the shipped fixture machines, in
# turn), one `scan --html`, then headless Chromium opening the page as it is, filtered and
# sorted. Prints the file size, the scan time, Chromium's wall time for --dump-dom and the
# times the page measured itself (data-ready-ms: from navigation start to the end of the
# script, i.e. reading and parsing the file, the data and the first page; data-load-ms: the
# script alone; data-render-ms: the last filter + sort + render). Chromium's wall time also
# holds its own start and the dump of the whole DOM (the embedded data included).
#
#   benches/html/fleet.sh [N]      (default 10000; needs target/release/rebootscan and chromium)
set -euo pipefail
cd "$(dirname "$0")/../.."
machines=${1:-10000}
bin=target/release/rebootscan
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fixtures=(fixtures/machines/*/)
for ((i = 0; i < machines; i++)); do
  source=${fixtures[i % ${#fixtures[@]}]}
  target=$(printf '%s/fleet/m%05d-%s' "$work" "$i" "$(basename "$source")")
  mkdir -p "$target"
  for hive in "$source"/*; do
    case $hive in *.txt) ;; *) ln "$hive" "$target/" ;; esac
  done
done
started=$(date +%s.%N)
"$bin" scan "$work/fleet" -q >/dev/null 2>&1 || true
plain=$(date +%s.%N)
"$bin" scan "$work/fleet" --html "$work/report.html" -q >/dev/null 2>&1 || true
scanned=$(date +%s.%N)
echo "scan -q without --html: $(echo "$plain - $started" | bc) s"
started=$plain
size=$(stat -c %s "$work/report.html")
echo "machines: $machines; scan --html: $(echo "$scanned - $started" | bc) s; file: $size bytes ($(echo "scale=1; $size / 1048576" | bc) MiB)"
for fragment in "" "#verdict=pending" "#q=WKS-0142&sort=days&order=desc" "#sort=m&order=desc" "#open=1"; do
  t0=$(date +%s.%N)
  dom=$(chromium --headless --disable-gpu --no-sandbox --no-first-run --user-data-dir="$work/profile" \
    --dump-dom "file://$work/report.html$fragment" 2>/dev/null)
  t1=$(date +%s.%N)
  load=$(grep -o 'data-load-ms="[0-9.]*"' <<<"$dom" | head -1 | cut -d'"' -f2)
  ready=$(grep -o 'data-ready-ms="[0-9.]*"' <<<"$dom" | head -1 | cut -d'"' -f2)
  render=$(grep -o 'data-render-ms="[0-9.]*"' <<<"$dom" | head -1 | cut -d'"' -f2)
  rows=$(grep -o '<tr class="machine"' <<<"$dom" | wc -l)
  shown=$(grep -o 'data-shown="[0-9]*"' <<<"$dom" | head -1 | cut -d'"' -f2)
  echo "chromium ${fragment:-(no fragment)}: wall $(echo "$t1 - $t0" | bc) s; page ready ${ready} ms after navigation start (script: ${load} ms), last render ${render} ms; ${shown} machines match, ${rows} rows on the page"
done
