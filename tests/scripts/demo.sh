#!/bin/sh
# pkt-gen tx -> rx through nmxdp on a veth pair between two private network namespaces.
# Usage: demo.sh [PACKETS] [FRAME_LEN]. Exits non-zero unless received == sent.
set -eu
n=${1:-1000000}
len=${2:-60}
bin=${PKTGEN:-target/release/pkt-gen}
[ -x "$bin" ] || { echo "demo: $bin missing: run 'make release' first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces, XDP, AF_XDP)" >&2; exit 1; }

a=nmxdp-demo-a-$$
b=nmxdp-demo-b-$$
out=$(mktemp -d)
cleanup() {
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
    rm -rf "$out"
}
trap cleanup EXIT INT TERM

ip netns add "$a"
ip netns add "$b"
for ns in "$a" "$b"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
# One queue per side keeps every packet on the ring pkt-gen reads (veth's RX queue follows the
# peer's TX queue choice).
ip link add va netns "$a" numtxqueues 1 numrxqueues 1 type veth peer name vb netns "$b" numtxqueues 1 numrxqueues 1
ip -n "$a" link set va up
ip -n "$b" link set vb up

echo "== pkt-gen rx on $b/vb, tx on $a/va: $n packets of $len bytes"
ip netns exec "$b" "$bin" -i "netmap:vb@conf:rx-slots=4096" -f rx -n "$n" -W -w 1 >"$out/rx" 2>"$out/rx.err" &
rx=$!
sleep 1
ip netns exec "$a" "$bin" -i netmap:va -f tx -n "$n" -l "$len" -w 1 >"$out/tx" 2>"$out/tx.err" || {
    cat "$out/tx" "$out/tx.err"; exit 1; }
wait $rx || true
echo "-- tx:"; cat "$out/tx"; grep -E 'nmxdp:|Mpps|Kpps|pps' "$out/tx.err" | tail -n 3 || true
echo "-- rx:"; cat "$out/rx"; grep -E 'nmxdp:' "$out/rx.err" || true
sent=$(sed -n 's/^Sent \([0-9]*\) packets.*/\1/p' "$out/tx")
recv=$(sed -n 's/^Received \([0-9]*\) packets.*/\1/p' "$out/rx")
if [ -z "$sent" ] || [ "$sent" != "$recv" ]; then
    echo "demo: FAILED: sent ${sent:-?} received ${recv:-?}" >&2
    cat "$out/rx.err" >&2
    exit 1
fi
echo "demo: OK: sent $sent, received $recv"
