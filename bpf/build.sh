#!/bin/sh
# Builds the XDP program: bpf/xsk_redirect.c -> bpf/xsk_redirect.o (or the path given as $1).
#
# The output is byte-for-byte reproducible and does not depend on where the checkout lives,
# so bpf/check.sh can rebuild it and compare it with the committed object:
#   - clang runs inside bpf/ on the relative name "xsk_redirect.c", with the compilation
#     directory recorded as "." and the absolute bpf/ path mapped to "." (BTF line info
#     and DWARF otherwise embed the absolute source path and the build directory);
#   - the DWARF sections are then stripped (llvm-strip -g): they hold the compiler's
#     version string and header paths, and nothing loads them. .BTF and .BTF.ext are not
#     debug sections and survive; aya needs .BTF to read the BTF-defined map in ".maps".
#   - -mcpu is pinned so a newer clang's default does not change the instructions.
#
# Tools: clang (any version with -target bpf; the committed object comes from Debian 12's
# clang 14) and llvm-strip. Override with CLANG=... and LLVM_STRIP=... .
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
out=${1:-$here/xsk_redirect.o}
case $out in
/*) ;;
*) out=$PWD/$out ;;
esac

find_tool() { # find_tool name...: prints the first name found on PATH
	for t in "$@"; do
		if command -v "$t" >/dev/null 2>&1; then
			echo "$t"
			return 0
		fi
	done
	return 1
}

clang=${CLANG:-$(find_tool clang clang-14 || true)}
if [ -z "$clang" ] || ! command -v "$clang" >/dev/null 2>&1; then
	echo "bpf/build.sh: clang not found: install clang (Debian: apt-get install clang llvm)" >&2
	exit 127
fi
strip=${LLVM_STRIP:-$(find_tool llvm-strip llvm-strip-14 || true)}
if [ -z "$strip" ] || ! command -v "$strip" >/dev/null 2>&1; then
	echo "bpf/build.sh: llvm-strip not found: install llvm (Debian: apt-get install llvm)" >&2
	exit 127
fi

# <linux/bpf.h> includes <asm/types.h>, which lives under the multiarch include directory
# on Debian. It is the same asm-generic definition on every 64-bit architecture.
multiarch=$("$clang" -print-multiarch 2>/dev/null || true)
inc=
if [ -n "$multiarch" ] && [ -d "/usr/include/$multiarch" ]; then
	inc="-I/usr/include/$multiarch"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nmxdp-bpf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cd "$here"
# -g: makes clang emit BTF (.BTF, .BTF.ext) for the bpf target; BTF-defined maps need it.
# -O2: the verifier-friendly code the kernel expects (unoptimised BPF is often rejected).
# shellcheck disable=SC2086
"$clang" -O2 -g -target bpf -mcpu=v3 -Wall -Werror \
	-fdebug-prefix-map="$here"=. -fdebug-compilation-dir=. \
	$inc -c xsk_redirect.c -o "$tmp/full.o"
"$strip" -g "$tmp/full.o" -o "$tmp/stripped.o"
mv -f "$tmp/stripped.o" "$out"
