#!/bin/sh
# The C example apps (examples/c, built by `make c-apps` into target/c) through nmxdp's
# libnetmap.so, both linked (-lnetmap) and LD_PRELOADed into binaries built without it: for each
# case a receiver in namespace B (veth end vb) and a sender in namespace A (va), COUNT frames of
# LEN bytes, PASS when sent == received == COUNT and both exit 0. Also checks that the
# "unmodified binary" target/c/nm_lib-plain fails without LD_PRELOAD (it is linked to a stub
# libnetmap.so that aborts).
#
# Usage: c_apps.sh (as root, from anywhere). Environment: COUNT (20000), LEN (60), IDLE_MS (5000),
# VERBOSE=1 (show the apps' output of passing cases too).
set -u
cd "$(dirname "$0")/../.." || exit 1

COUNT=${COUNT:-20000}
LEN=${LEN:-60}
IDLE_MS=${IDLE_MS:-5000}
lib=$PWD/target/release/libnetmap.so
bins=target/c

if [ "$(id -u)" != 0 ]; then
    echo "c_apps: FAIL: must run as root (network namespaces, veth, XDP, AF_XDP)" >&2
    exit 1
fi
for f in "$lib" $bins/nm_legacy-linked $bins/nm_legacy-plain $bins/nm_raw-linked \
    $bins/nm_raw-plain $bins/nm_lib-linked $bins/nm_lib-plain; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "c_apps: FAIL: $f missing: run 'make c-apps'" >&2; exit 1; }
done

out=$(mktemp -d)
pass=0
fail=0
ncase=0
ns_a=
ns_b=
rxpid=

teardown() {
    [ -n "$rxpid" ] && kill "$rxpid" 2>/dev/null && wait "$rxpid" 2>/dev/null
    rxpid=
    for ns in $ns_a $ns_b; do
        ip netns del "$ns" 2>/dev/null
    done
    ns_a=
    ns_b=
}
cleanup() {
    teardown
    rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

result() { # ok|fail "what" "details"
    if [ "$1" = ok ]; then
        pass=$((pass + 1))
        echo "PASS c-app $2 $3"
    else
        fail=$((fail + 1))
        echo "FAIL c-app $2 $3"
    fi
}

show() { # file...: indented, for failures
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "   --- $(basename "$f"):"
        tail -n 20 "$f" | sed 's/^/   | /'
    done
}

# Two namespaces with IPv6 off (no stray traffic) and a veth pair va (A) <-> vb (B).
setup() { # queues
    ncase=$((ncase + 1))
    ns_a=nmxdp-c$$-$ncase-a
    ns_b=nmxdp-c$$-$ncase-b
    ip netns add "$ns_a" && ip netns add "$ns_b" || return 1
    for ns in "$ns_a" "$ns_b"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1 || return 1
    done
    ip link add va netns "$ns_a" numtxqueues "$1" numrxqueues "$1" type veth \
        peer name vb netns "$ns_b" numtxqueues "$1" numrxqueues "$1" || return 1
    ip -n "$ns_a" link set va up && ip -n "$ns_b" link set vb up
}

# run_case LABEL APP linked|preload QUEUES "RX ARGS" "TX ARGS" [TX APP (default APP)]
run_case() {
    label=$1 app=$2 how=$3 queues=$4 rxargs=$5 txargs=$6 txapp=${7:-$2}
    if [ "$how" = linked ]; then
        bin=$bins/$app-linked
        txbin=$bins/$txapp-linked
        pre=
    else
        bin=$bins/$app-plain
        txbin=$bins/$txapp-plain
        pre=LD_PRELOAD=$lib
    fi
    # A big RX ring so that the receiver drops nothing on a small machine. libnetmap names take
    # @conf:, the legacy interfaces get it from the environment.
    if [ "$app" = nm_lib ]; then
        rxname=netmap:vb@conf:rx-slots=4096
        slots=
    else
        rxname=netmap:vb
        slots=NMXDP_SLOTS=4096
    fi
    rm -f "$out"/*
    if ! setup "$queues" >"$out/setup" 2>&1; then
        result fail "$label $how" "(namespace/veth setup failed)"
        show "$out/setup"
        teardown
        return
    fi

    # shellcheck disable=SC2086 # word splitting of the argument lists is intended
    ip netns exec "$ns_b" timeout -k 5 90 env $pre $slots "$bin" -i "$rxname" -n "$COUNT" \
        -W "$IDLE_MS" $rxargs >"$out/rx" 2>"$out/rx.err" &
    rxpid=$!
    i=0
    while ! grep -q '^ready' "$out/rx" 2>/dev/null && kill -0 "$rxpid" 2>/dev/null &&
        [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    sleep 0.5

    # shellcheck disable=SC2086
    ip netns exec "$ns_a" timeout -k 5 90 env $pre "$txbin" -i netmap:va -f tx -n "$COUNT" \
        -l "$LEN" $txargs >"$out/tx" 2>"$out/tx.err"
    txrc=$?
    wait "$rxpid"
    rxrc=$?
    rxpid=

    sent=$(sed -n 's/^sent \([0-9][0-9]*\).*/\1/p' "$out/tx")
    recv=$(sed -n 's/^received \([0-9][0-9]*\).*/\1/p' "$out/rx")
    details="sent=${sent:-?} received=${recv:-?}"
    [ "$txrc" = 0 ] || details="$details tx-exit=$txrc"
    [ "$rxrc" = 0 ] || details="$details rx-exit=$rxrc"
    if [ "$txrc" = 0 ] && [ "$rxrc" = 0 ] && [ "$sent" = "$COUNT" ] && [ "$recv" = "$COUNT" ]; then
        result ok "$label $how" "$details"
        [ -n "${VERBOSE:-}" ] && show "$out/tx" "$out/tx.err" "$out/rx" "$out/rx.err"
    else
        result fail "$label $how" "$details"
        show "$out/tx" "$out/tx.err" "$out/rx" "$out/rx.err"
    fi
    teardown
}

# Which binaries carry a dependency on a libnetmap.so.
needs_libnetmap() {
    LC_ALL=C readelf -d "$1" 2>/dev/null | grep -q 'NEEDED.*\[libnetmap\.so\]'
}
for app in nm_legacy nm_raw nm_lib; do
    if needs_libnetmap $bins/$app-linked; then
        result ok "$app linked-deps" "(NEEDED libnetmap.so)"
    else
        result fail "$app linked-deps" "($bins/$app-linked does not need libnetmap.so)"
    fi
done
for app in nm_legacy nm_raw; do
    if needs_libnetmap $bins/$app-plain; then
        result fail "$app plain-deps" "($bins/$app-plain needs libnetmap.so)"
    else
        result ok "$app plain-deps" "(no netmap library)"
    fi
done

# The stub: without LD_PRELOAD the "unmodified binary" must not work.
# (through a child shell, which also gets the "Aborted" notice into the log)
sh -c 'ulimit -c 0; "$@"; exit $?' sh $bins/nm_lib-plain -i netmap:lo -f rx -n 1 -W 100 \
    >"$out/stub" 2>&1
rc=$?
if [ "$rc" != 0 ] && grep -q 'stub libnetmap' "$out/stub"; then
    result ok "nm_lib stub-without-preload" "exit=$rc"
else
    result fail "nm_lib stub-without-preload" "exit=$rc (expected the stub to abort)"
    show "$out/stub"
fi

for how in linked preload; do
    run_case nm_legacy/rx nm_legacy "$how" 1 "-f rx" ""
    run_case nm_legacy/rx-next nm_legacy "$how" 1 "-f rx-next" ""
    run_case nm_raw nm_raw "$how" 1 "-f rx" ""
    run_case nm_lib/p1 nm_lib "$how" 1 "-f rx" ""
    run_case nm_lib/p2 nm_lib "$how" 2 "-f rx -p 2" "-p 2"
    # All rings of a 2-queue port in one descriptor, fed by two sending threads.
    run_case nm_legacy/2q nm_legacy "$how" 2 "-f rx" "-p 2" nm_lib
    run_case nm_raw/2q nm_raw "$how" 2 "-f rx" "-p 2" nm_lib
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ] || exit 1
exit 0
