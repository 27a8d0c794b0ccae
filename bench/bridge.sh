#!/bin/sh
# Forwarding rate of the Rust bridge with and without zero-copy (-c), in one run:
# pkt-gen tx (A) -> va | vb1 -> bridge (B) -> vb2 | vc -> pkt-gen rx (C), 60-byte frames.
# Usage: bench/bridge.sh [PACKETS] [OUT.md]. Appends its lines to OUT.md when given.
set -eu
n=${1:-1000000}
out=${2:-}
bin=${BIN:-target/release}
for b in pkt-gen bridge; do
    [ -x "$bin/$b" ] || { echo "bench/bridge.sh: $bin/$b missing: run 'make release'" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/bridge.sh: needs root (namespaces, XDP)" >&2; exit 1; }

a=nmxbr-$$-a; b=nmxbr-$$-b; c=nmxbr-$$-c
tmp=$(mktemp -d)
cleanup() {
    for ns in "$a" "$b" "$c"; do ip netns del "$ns" 2>/dev/null || true; done
    kill "$(cat "$tmp/bridge.pid" 2>/dev/null)" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
for ns in "$a" "$b" "$c"; do
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
q="numtxqueues 1 numrxqueues 1"
# shellcheck disable=SC2086
ip link add va netns "$a" $q type veth peer name vb1 netns "$b" $q
# shellcheck disable=SC2086
ip link add vb2 netns "$b" $q type veth peer name vc netns "$c" $q
ip -n "$a" link set va up; ip -n "$b" link set vb1 up; ip -n "$b" link set vb2 up; ip -n "$c" link set vc up

run() { # run LABEL [bridge options]: prints the receiver's rate
    label=$1; shift
    ip netns exec "$c" "$bin/pkt-gen" -i 'netmap:vc@conf:rx-slots=4096' -f rx -n "$n" -W -w 1 >"$tmp/rx" 2>/dev/null &
    rx=$!
    ip netns exec "$b" "$bin/bridge" -w 0 "$@" -i netmap:vb1 -i netmap:vb2 >"$tmp/br" 2>&1 &
    echo $! >"$tmp/bridge.pid"
    sleep 1.5
    ip netns exec "$a" "$bin/pkt-gen" -i netmap:va -f tx -n "$n" -l 60 -w 1 >"$tmp/tx" 2>/dev/null
    wait "$rx" || true
    kill "$(cat "$tmp/bridge.pid")" 2>/dev/null || true
    wait "$(cat "$tmp/bridge.pid")" 2>/dev/null || true
    sent=$(sed -n 's/^Sent \([0-9]*\) packets.*/\1/p' "$tmp/tx")
    recv=$(sed -n 's/^Received \([0-9]*\) packets.*/\1/p' "$tmp/rx")
    speed=$(sed -n 's/^Speed: \([0-9.]* [KMG]*pps\).*/\1/p' "$tmp/rx")
    banner=$(grep -o 'zerocopy[ A-Za-z]*' "$tmp/br" | head -n 1)
    echo "bridge $label: ${speed:-?} received ${recv:-0} of ${sent:-?} (60-byte frames; $banner)"
}
{
    echo
    echo "Bridge forwarding, A -> bridge -> C, $n packets of 60 bytes, one run:"
    echo
    echo "- $(run 'zero-copy (buffer swap)')"
    echo "- $(run 'copy (-c)' -c)"
} | tee -a "${out:-/dev/null}"
