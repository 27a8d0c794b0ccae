#!/bin/sh
# Checks that the committed bpf/xsk_redirect.o is what bpf/build.sh makes from bpf/xsk_redirect.c.
# Exit 0: up to date. Exit 1: stale, or clang/llvm-strip missing (set NMXDP_SKIP_BPF_CHECK=1 to
# skip the check on machines without them; the committed object is then trusted as is).
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
obj=$here/xsk_redirect.o

have() { command -v "$1" >/dev/null 2>&1; }
missing=
if [ -n "${CLANG:-}" ]; then have "$CLANG" || missing="$CLANG"; elif ! have clang && ! have clang-14; then missing=clang; fi
if [ -n "${LLVM_STRIP:-}" ]; then have "$LLVM_STRIP" || missing="$missing $LLVM_STRIP"; elif ! have llvm-strip && ! have llvm-strip-14; then missing="$missing llvm-strip"; fi
if [ -n "$missing" ]; then
	if [ "${NMXDP_SKIP_BPF_CHECK:-0}" = 1 ]; then
		echo "bpf/check.sh: skipped (NMXDP_SKIP_BPF_CHECK=1; not found:$missing)" >&2
		exit 0
	fi
	echo "bpf/check.sh: cannot check bpf/xsk_redirect.o: not found:$missing." >&2
	echo "  Install them (Debian: apt-get install clang llvm), or set NMXDP_SKIP_BPF_CHECK=1 to skip this check." >&2
	exit 1
fi

if [ ! -f "$obj" ]; then
	echo "bpf/xsk_redirect.o is missing: run \`make bpf\` and commit it" >&2
	exit 1
fi

tmp=$(mktemp "${TMPDIR:-/tmp}/nmxdp-bpf-check.XXXXXX")
trap 'rm -f "$tmp"' EXIT
"$here/build.sh" "$tmp"

if ! cmp -s "$tmp" "$obj"; then
	echo "bpf/xsk_redirect.o is stale: run \`make bpf\` and commit it" >&2
	exit 1
fi
echo "bpf/xsk_redirect.o is up to date"
