#!/bin/bash
# The main job on the default config: a short real capture, then what was
# captured.  Uses config/ringtap.conf with the output in a fresh directory.
#   scripts/demo.sh [SECONDS]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-3}
out=${RINGTAP_DEMO_DIR:-/tmp/ringtap-demo}
rm -rf "$out"
mkdir -p "$out"
sed "s|^path = .*|path = $out/capture|" "$root/config/ringtap.conf" >"$out/ringtap.conf"
echo "== ringtapd -c $out/ringtap.conf --duration $secs"
"$root/build/ringtapd" -c "$out/ringtap.conf" --duration "$secs"
echo
echo "== ringtap report --stats $out/capture"
"$root/build/ringtap" report --stats "$out/capture"
echo
echo "== ringtap report $out/capture | head -25"
"$root/build/ringtap" report "$out/capture" | head -25 || true
echo
echo "(full report: build/ringtap report $out/capture)"
