#!/bin/sh
# The C bridge (examples/c/nm_bridge.c, built by `make c-apps` into target/c) on nmxdp: three
# namespaces A, B, C with veth va (A) <-> vb1 (B) and vb2 (B) <-> vc (C); nm_bridge in B between
# netmap:vb1 and netmap:vb2, nm_lib senders and receivers at the ends (netmap:va, netmap:vc).
# Each case passes when every frame sent arrives intact (received == sent == COUNT, 0 bad) and
# the bridge forwarded exactly the frames sent, stopped on its own (-n) with exit status 0, and
# copied what it should (0 bytes in zero-copy mode, COUNT * LEN with -c).
#
# Cases: A -> C with the linked bridge (zero-copy), with -c (copy), and with nm_bridge-plain
# (linked to the stub libnetmap.so) under LD_PRELOAD; A -> C and C -> A at the same time.
# Also checks that nm_bridge-plain aborts without LD_PRELOAD.
#
# Notes on the setup:
# - The senders are unthrottled. A forwarder that, like netmap's bridge, refills its RX ring only
#   when the ring has been emptied loses frames (AF_XDP "fill_empty" drops on vb1) when a sender
#   outruns it; on a small machine that happens with the sender and the bridge on different CPUs
#   and with 1024-slot rings. So the bridge gets 4096-slot rings (@conf:), every process of a
#   case runs on one CPU (PIN=0 turns the pinning off) and the senders run at nice 19.
# - nmxdp gives a queue to one process, so the bidirectional case cannot run a sender and a
#   receiver on a single-queue va: there va and vc have 2 TX queues and 1 RX queue (their peers
#   vb1 and vb2 1 TX and 2 RX). Receivers use ring 0 (netmap:va-0, which gets everything the
#   bridge sends back since vb1/vb2 have one TX queue), senders ring 1 (netmap:va-1, TX only);
#   the bridge opens all rings of vb1 and vb2.
#
# Usage: c_bridge.sh (as root, from anywhere). Environment: COUNT (20000), BIDI_COUNT (10000 per
# direction), LEN (60), IDLE_MS (3000), PIN (1), VERBOSE=1 (show the apps' output of passing
# cases too).
set -u
cd "$(dirname "$0")/../.." || exit 1

COUNT=${COUNT:-20000}
BIDI_COUNT=${BIDI_COUNT:-10000}
LEN=${LEN:-60}
IDLE_MS=${IDLE_MS:-3000}
PIN=${PIN:-1}
lib=$PWD/target/release/libnetmap.so
bins=target/c
# Bridge ports: 4096-slot rings (see above).
BR_CONF=@conf:rx-slots=4096,tx-slots=4096
# Every process of a case shares one region (docs/architecture.md, "Shared region"): the
# bridge's two 2-ring ports of 4096 + 4096 slots (49152 buffers), the receivers' and the
# senders' ports (up to 24576 more) need more than the default 32768 buffers. A region of this
# run's own, so that other nmxdp processes of the machine neither share nor refuse its size.
export NMXDP_REGION=shared:c-bridge-$$ NMXDP_BUF_NUM=131072

if [ "$(id -u)" != 0 ]; then
    echo "c_bridge: FAIL: must run as root (network namespaces, veth, XDP, AF_XDP)" >&2
    exit 1
fi
for f in "$lib" $bins/nm_lib-linked $bins/nm_bridge-linked $bins/nm_bridge-plain; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "c_bridge: FAIL: $f missing: run 'make c-apps'" >&2; exit 1; }
done

# The CPU every process of a case runs on: the first one this shell may use.
pin=
if [ "$PIN" != 0 ] && command -v taskset >/dev/null 2>&1; then
    cpu=$(taskset -pc $$ 2>/dev/null | sed -n 's/.*: *\([0-9][0-9]*\).*/\1/p')
    [ -n "$cpu" ] && pin="taskset -c $cpu"
fi

out=$(mktemp -d)
pass=0
fail=0
ncase=0
namespaces=
pids=

teardown() {
    for p in $pids; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    pids=
    for ns in $namespaces; do
        ip netns del "$ns" 2>/dev/null
    done
    namespaces=
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
        echo "PASS c-bridge $2 $3"
    else
        fail=$((fail + 1))
        echo "FAIL c-bridge $2 $3"
    fi
}

show() { # file...: indented, for failures
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "   --- $(basename "$f"):"
        grep -v 'poll timeout' "$f" | tail -n 20 | sed 's/^/   | /'
    done
}

# setup uni|bidi: namespaces A, B, C with IPv6 off (no stray frames for the bridge to count),
# va (A) <-> vb1 (B), vb2 (B) <-> vc (C), all up.
setup() {
    ncase=$((ncase + 1))
    ns_a=nmxdp-br$$-$ncase-a
    ns_b=nmxdp-br$$-$ncase-b
    ns_c=nmxdp-br$$-$ncase-c
    for ns in "$ns_a" "$ns_b" "$ns_c"; do
        ip netns add "$ns" || return 1
        namespaces="$namespaces $ns"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1 || return 1
    done
    if [ "$1" = uni ]; then
        outer="numtxqueues 1 numrxqueues 1" inner="numtxqueues 1 numrxqueues 1"
    else
        outer="numtxqueues 2 numrxqueues 1" inner="numtxqueues 1 numrxqueues 2"
    fi
    # shellcheck disable=SC2086 # word splitting of the queue options is intended
    ip link add va netns "$ns_a" $outer type veth peer name vb1 netns "$ns_b" $inner &&
        ip link add vb2 netns "$ns_b" $inner type veth peer name vc netns "$ns_c" $outer ||
        return 1
    ip -n "$ns_a" link set va up && ip -n "$ns_b" link set vb1 up &&
        ip -n "$ns_b" link set vb2 up && ip -n "$ns_c" link set vc up
}

# wait_line FILE PID: until FILE has a line starting with "ready" (or PID died; 10 s at most).
wait_line() {
    i=0
    while ! grep -q '^ready' "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    grep -q '^ready' "$1" 2>/dev/null
}

# run NS NAME ARGS...: a process of a case in namespace NS (pinned, under a time limit),
# stdout to $out/NAME, stderr to $out/NAME.err. It replaces the shell that runs it: call it as
# `run ... &` (then $! is the process: ip netns exec and timeout exec, timeout passes SIGTERM
# on) or `(run ...)`.
run() {
    r_ns=$1 r_name=$2
    shift 2
    # shellcheck disable=SC2086 # $pin is a command prefix
    exec ip netns exec "$r_ns" $pin timeout -k 5 60 "$@" >"$out/$r_name" 2>"$out/$r_name.err"
}

# start_rx NS NAME PORT N: a receiver in the background, waited for until ready.
start_rx() {
    run "$1" "$2" $bins/nm_lib-linked -i "$3@conf:rx-slots=4096" -f rx -n "$4" -W "$IDLE_MS" &
    eval "pid_$2=$!"
    pids="$pids $!"
    wait_line "$out/$2" "$!"
}

# start_bridge HOW N [ARGS...]: the bridge in B in the background (HOW linked|preload), waited
# for until ready.
start_bridge() {
    b_how=$1 b_n=$2
    shift 2
    if [ "$b_how" = linked ]; then
        set -- env "$@" $bins/nm_bridge-linked
    else
        set -- env "$@" LD_PRELOAD="$lib" $bins/nm_bridge-plain
    fi
    run "$ns_b" br "$@" -w 0 $bargs -i "netmap:vb1$BR_CONF" -i "netmap:vb2$BR_CONF" -n "$b_n" &
    pid_br=$!
    pids="$pids $!"
    wait_line "$out/br" "$pid_br"
}

# finish_bridge: the bridge should have stopped by itself (-n); give it 3 s, then save
# `nmxdp status` of B (the sockets' drop counters) and SIGTERM it (it still prints its
# counters). Sets brrc and br_self (1 when it stopped by itself).
finish_bridge() {
    i=0
    while kill -0 "$pid_br" 2>/dev/null && [ $i -lt 30 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    br_self=1
    if kill -0 "$pid_br" 2>/dev/null; then
        br_self=0
        ip netns exec "$ns_b" target/release/nmxdp status >"$out/status" 2>&1
        kill "$pid_br" 2>/dev/null
    fi
    wait "$pid_br"
    brrc=$?
}

# num FILE SED-EXPR: a number from a file.
num() {
    sed -n "$2" "$1" 2>/dev/null | head -n 1
}

bridge_counts() {
    ab=$(num "$out/br" 's/^forwarded a->b \([0-9]*\) .*/\1/p')
    ba=$(num "$out/br" 's/^forwarded .* b->a \([0-9]*\) .*/\1/p')
    copied=$(num "$out/br" 's/^forwarded .* copied \([0-9]*\) bytes.*/\1/p')
    if grep -q '^------- zerocopy supported' "$out/br"; then
        zc=yes
    elif grep -q '^------- NOT supported\|^------- zerocopy NOT supported' "$out/br"; then
        zc=no
    else
        zc=?
    fi
}

# uni_case LABEL linked|preload [BRIDGE ARGS]: COUNT frames A -> C.
uni_case() {
    label=$1 how=$2 bargs=${3:-}
    rm -f "$out"/*
    if ! setup uni >"$out/setup" 2>&1; then
        result fail "$label" "(namespace/veth setup failed)"
        show "$out/setup"
        teardown
        return
    fi
    ok=1
    start_rx "$ns_c" rx netmap:vc "$COUNT" || ok=0
    [ $ok = 1 ] && { start_bridge "$how" "$COUNT" || ok=0; }
    if [ $ok = 1 ]; then
        sleep 0.3
        (run "$ns_a" tx nice -n 19 $bins/nm_lib-linked -i netmap:va -f tx -n "$COUNT" -l "$LEN")
        txrc=$?
    else
        txrc=skipped
    fi
    wait "$pid_rx"
    rxrc=$?
    finish_bridge
    pids=

    sent=$(num "$out/tx" 's/^sent \([0-9][0-9]*\).*/\1/p')
    recv=$(num "$out/rx" 's/^received \([0-9][0-9]*\).*/\1/p')
    bad=$(num "$out/rx" 's/^bytes .* bad \([0-9][0-9]*\) .*/\1/p')
    bridge_counts
    if [ -n "$bargs" ]; then
        want_zc=no want_copied=$((COUNT * LEN))
    else
        want_zc=yes want_copied=0
    fi
    details="sent=${sent:-?} received=${recv:-?} bad=${bad:-?} forwarded=${ab:-?}/${ba:-?}"
    details="$details zerocopy=$zc copied=${copied:-?}"
    [ "$txrc" = 0 ] || details="$details tx-exit=$txrc"
    [ "$rxrc" = 0 ] || details="$details rx-exit=$rxrc"
    [ "$brrc" = 0 ] || details="$details bridge-exit=$brrc"
    [ "$br_self" = 1 ] || details="$details (bridge did not reach -n $COUNT: stopped with SIGTERM)"
    if [ "$txrc" = 0 ] && [ "$rxrc" = 0 ] && [ "$brrc" = 0 ] && [ "$br_self" = 1 ] &&
        [ "$sent" = "$COUNT" ] && [ "$recv" = "$COUNT" ] && [ "$bad" = 0 ] &&
        [ "$ab" = "$COUNT" ] && [ "$ba" = 0 ] && [ "$zc" = "$want_zc" ] &&
        [ "$copied" = "$want_copied" ]; then
        result ok "$label" "$details"
        [ -n "${VERBOSE:-}" ] && show "$out/tx" "$out/tx.err" "$out/br" "$out/br.err" \
            "$out/rx" "$out/rx.err"
    else
        result fail "$label" "$details (want zerocopy=$want_zc copied=$want_copied)"
        show "$out/setup" "$out/tx" "$out/tx.err" "$out/br" "$out/br.err" "$out/rx" \
            "$out/rx.err" "$out/status"
    fi
    teardown
}

# bidi_case LABEL: BIDI_COUNT frames A -> C and C -> A at the same time, linked bridge.
bidi_case() {
    label=$1 bargs=
    n=$BIDI_COUNT
    rm -f "$out"/*
    if ! setup bidi >"$out/setup" 2>&1; then
        result fail "$label" "(namespace/veth setup failed)"
        show "$out/setup"
        teardown
        return
    fi
    ok=1
    start_rx "$ns_c" rxc netmap:vc-0 "$n" || ok=0
    [ $ok = 1 ] && { start_rx "$ns_a" rxa netmap:va-0 "$n" || ok=0; }
    [ $ok = 1 ] && { start_bridge linked $((2 * n)) || ok=0; }
    if [ $ok = 1 ]; then
        sleep 0.3
        run "$ns_a" txa nice -n 19 $bins/nm_lib-linked -i netmap:va-1 -f tx -n "$n" -l "$LEN" &
        pid_txa=$!
        run "$ns_c" txc nice -n 19 $bins/nm_lib-linked -i netmap:vc-1 -f tx -n "$n" -l "$LEN" &
        pid_txc=$!
        pids="$pids $pid_txa $pid_txc"
        wait "$pid_txa"
        txarc=$?
        wait "$pid_txc"
        txcrc=$?
    else
        txarc=skipped txcrc=skipped
    fi
    wait "$pid_rxa"
    rxarc=$?
    wait "$pid_rxc"
    rxcrc=$?
    finish_bridge
    pids=

    senta=$(num "$out/txa" 's/^sent \([0-9][0-9]*\).*/\1/p')
    sentc=$(num "$out/txc" 's/^sent \([0-9][0-9]*\).*/\1/p')
    recva=$(num "$out/rxa" 's/^received \([0-9][0-9]*\).*/\1/p')
    recvc=$(num "$out/rxc" 's/^received \([0-9][0-9]*\).*/\1/p')
    bada=$(num "$out/rxa" 's/^bytes .* bad \([0-9][0-9]*\) .*/\1/p')
    badc=$(num "$out/rxc" 's/^bytes .* bad \([0-9][0-9]*\) .*/\1/p')
    bridge_counts
    details="A->C sent=${senta:-?} received=${recvc:-?} bad=${badc:-?}"
    details="$details C->A sent=${sentc:-?} received=${recva:-?} bad=${bada:-?}"
    details="$details forwarded=${ab:-?}/${ba:-?} zerocopy=$zc copied=${copied:-?}"
    for v in "tx-a:$txarc" "tx-c:$txcrc" "rx-a:$rxarc" "rx-c:$rxcrc" "bridge:$brrc"; do
        [ "${v#*:}" = 0 ] || details="$details ${v%%:*}-exit=${v#*:}"
    done
    [ "$br_self" = 1 ] || details="$details (bridge did not reach -n $((2 * n)): stopped with SIGTERM)"
    if [ "$txarc" = 0 ] && [ "$txcrc" = 0 ] && [ "$rxarc" = 0 ] && [ "$rxcrc" = 0 ] &&
        [ "$brrc" = 0 ] && [ "$br_self" = 1 ] && [ "$senta" = "$n" ] && [ "$sentc" = "$n" ] &&
        [ "$recva" = "$n" ] && [ "$recvc" = "$n" ] && [ "$bada" = 0 ] && [ "$badc" = 0 ] &&
        [ "$ab" = "$n" ] && [ "$ba" = "$n" ] && [ "$zc" = yes ] && [ "$copied" = 0 ]; then
        result ok "$label" "$details"
        [ -n "${VERBOSE:-}" ] && show "$out/txa" "$out/txc" "$out/br" "$out/br.err" \
            "$out/rxa" "$out/rxc"
    else
        result fail "$label" "$details"
        show "$out/setup" "$out/txa" "$out/txa.err" "$out/txc" "$out/txc.err" "$out/br" \
            "$out/br.err" "$out/rxa" "$out/rxa.err" "$out/rxc" "$out/rxc.err" "$out/status"
    fi
    teardown
}

# The stub: without LD_PRELOAD the "unmodified" bridge must not work.
sh -c 'ulimit -c 0; "$@"; exit $?' sh $bins/nm_bridge-plain -w 0 -i netmap:lo -i netmap:lo2 \
    >"$out/stub" 2>&1
rc=$?
if [ "$rc" != 0 ] && grep -q 'stub libnetmap' "$out/stub"; then
    result ok "plain stub-without-preload" "exit=$rc"
else
    result fail "plain stub-without-preload" "exit=$rc (expected the stub to abort)"
    show "$out/stub"
fi

uni_case "linked zero-copy A->C" linked
uni_case "linked copy (-c) A->C" linked -c
uni_case "plain+LD_PRELOAD zero-copy A->C" preload
bidi_case "linked zero-copy A->C+C->A"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ] || exit 1
exit 0
