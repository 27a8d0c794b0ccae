#!/bin/sh
# `make install` / `make uninstall` into a temporary prefix: the installed headers, libnetmap.so
# and netmap.pc must be enough to build the C examples with pkg-config, the result must start,
# report a missing interface cleanly (ENXIO, non-zero exit), and uninstall must leave no file.
#
# Usage: install_check.sh (from anywhere; MAKE may name the make command, default make).
set -u
cd "$(dirname "$0")/../.." || exit 1
MAKE=${MAKE:-make}
unset MAKEFLAGS MFLAGS # a sub-make of its own, not part of the caller's (-n, -j, ...)
CC=${CC:-gcc}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP
pass=0
fail=0

check() { # ok|fail what [details]
    if [ "$1" = ok ]; then
        pass=$((pass + 1))
        echo "PASS install $2${3:+ $3}"
    else
        fail=$((fail + 1))
        echo "FAIL install $2${3:+ $3}"
    fi
}
show() {
    [ -s "$1" ] && tail -n 20 "$1" | sed 's/^/   | /'
}

prefix=$tmp/prefix
if $MAKE install PREFIX="$prefix" DESTDIR= >"$tmp/install.log" 2>&1; then
    check ok "make-install" "PREFIX=$prefix"
else
    check fail "make-install"
    show "$tmp/install.log"
    echo "$pass passed, $fail failed"
    exit 1
fi

missing=
for f in lib/libnetmap.so lib/pkgconfig/netmap.pc include/libnetmap.h include/net/netmap.h \
    include/net/netmap_user.h include/net/netmap_legacy.h bin/nmxdp bin/pkt-gen; do
    [ -f "$prefix/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then check ok "files"; else check fail "files" "(missing:$missing)"; fi

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
ver=$(pkg-config --modversion netmap 2>&1)
if [ "$ver" = 14.0 ]; then check ok "pkg-config" "version=$ver"; else check fail "pkg-config" "($ver)"; fi
flags=$(pkg-config --cflags --libs netmap)

# Build the three styles of app from the installed files only.
for app in nm_lib nm_legacy nm_raw; do
    # shellcheck disable=SC2086 # pkg-config output is a list of words
    if $CC -std=c11 -O2 -Wall -Wextra -Werror examples/c/$app.c -o "$tmp/$app" $flags \
        -Wl,-rpath,"$prefix/lib" >"$tmp/cc.log" 2>&1; then
        check ok "build-$app" "(pkg-config --cflags --libs netmap)"
    else
        check fail "build-$app"
        show "$tmp/cc.log"
    fi
done

if [ -x "$tmp/nm_lib" ]; then
    # It resolves libnetmap.so in the prefix.
    if ldd "$tmp/nm_lib" | grep -q "libnetmap.so => $prefix/lib/libnetmap.so"; then
        check ok "nm_lib-uses-prefix-lib"
    else
        check fail "nm_lib-uses-prefix-lib"
        ldd "$tmp/nm_lib" | sed 's/^/   | /'
    fi
    # -h: usage on stdout, exit 0.
    "$tmp/nm_lib" -h >"$tmp/h.out" 2>&1
    rc=$?
    if [ $rc = 0 ] && grep -q usage "$tmp/h.out"; then
        check ok "nm_lib-h" "exit=0"
    else
        check fail "nm_lib-h" "exit=$rc"
        show "$tmp/h.out"
    fi
    # No interface: usage, non-zero exit.
    "$tmp/nm_lib" >"$tmp/noif.out" 2>&1
    rc=$?
    if [ $rc != 0 ] && grep -q usage "$tmp/noif.out"; then
        check ok "nm_lib-no-interface" "exit=$rc"
    else
        check fail "nm_lib-no-interface" "exit=$rc"
        show "$tmp/noif.out"
    fi
    # A missing interface: ENXIO, non-zero exit, no crash.
    "$tmp/nm_lib" -i netmap:nmxdpnone0 -f rx -n 1 -W 100 >"$tmp/enxio.out" 2>&1
    rc=$?
    if [ $rc != 0 ] && [ $rc -lt 128 ] && grep -q 'No such device or address' "$tmp/enxio.out"; then
        check ok "nm_lib-missing-interface" "exit=$rc (ENXIO)"
    else
        check fail "nm_lib-missing-interface" "exit=$rc"
        show "$tmp/enxio.out"
    fi
fi

if $MAKE uninstall PREFIX="$prefix" DESTDIR= >"$tmp/uninstall.log" 2>&1; then
    left=$(find "$prefix" ! -type d 2>/dev/null)
    if [ -z "$left" ]; then
        check ok "make-uninstall" "(no file left)"
    else
        check fail "make-uninstall" "(left: $(echo "$left" | tr '\n' ' '))"
    fi
else
    check fail "make-uninstall"
    show "$tmp/uninstall.log"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ] || exit 1
exit 0
