#!/bin/sh
# netmap pipes from C (tests/c/pipes.c) through nmxdp's libnetmap.so, within one process: the
# legacy API (nm_open) and libnetmap (nmport_open), each linked with -lnetmap. No privileges or
# interfaces needed. PASS when both pass COUNT frames in order.
#
# Usage: c_pipes.sh (after cargo build --release -p netmap-ffi). Environment: COUNT (1000000),
# CARGO_TARGET_DIR (target).
set -u
cd "$(dirname "$0")/../.." || exit 1
COUNT=${COUNT:-1000000}
lib=${CARGO_TARGET_DIR:-$PWD/target}/release
[ -f "$lib/libnetmap.so" ] || { echo "c_pipes: FAIL: $lib/libnetmap.so missing: cargo build --release -p netmap-ffi" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
for v in legacy libnetmap; do
    def=; [ $v = libnetmap ] && def=-DLIBNETMAP
    if ! cc -O2 -Wall -Werror $def -I ffi/include -o "$out/pipes-$v" tests/c/pipes.c \
        -L"$lib" -lnetmap -lpthread; then
        echo "c_pipes: $v: FAIL (build)"; fail=1; continue
    fi
    if LD_LIBRARY_PATH=$lib timeout 60 "$out/pipes-$v" "$COUNT"; then
        echo "c_pipes: $v: PASS"
    else
        echo "c_pipes: $v: FAIL"; fail=1
    fi
done
exit $fail
