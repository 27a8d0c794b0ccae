// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * nmxdp XDP program: hand every frame received on queue q to the AF_XDP
 * socket stored at key q of `xsks_map`, or let it continue to the kernel
 * stack (XDP_PASS) when no socket is registered for that queue.
 *
 * Built with Debian's clang only (no libbpf headers, which Debian 12 does not
 * install by default): the handful of libbpf macros needed are defined below.
 * Rebuild with `make bpf` (bpf/build.sh); the object is committed.
 */

/* Only uapi headers: struct xdp_md, BPF_MAP_TYPE_XSKMAP, XDP_PASS. */
#include <linux/bpf.h>

/* libbpf's SEC(): put a symbol in a named ELF section. The loader (aya)
 * recognises the program type from the section name ("xdp") and the maps
 * from the ".maps" section. */
#define SEC(name) __attribute__((section(name), used))

/* libbpf's BTF-defined map macros. The map's attributes are encoded in the
 * *type* of each member (an array dimension), so they reach the loader via
 * BTF, not via the data of the variable. This is why the object must be built
 * with -g: without BTF the ".maps" section cannot be parsed. */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

/* Helper BPF_FUNC_redirect_map (id 51): the call instruction carries the
 * helper id as its immediate, which is what this cast produces. */
static long (*bpf_redirect_map)(void *map, __u32 key, __u64 flags) = (void *)51;

/* One slot per RX queue, key = queue index, value = AF_XDP socket fd (set
 * from userspace). XSKMAP keys and values must both be 4 bytes. aya 0.14
 * cannot resize a map before loading, so max_entries is a fixed 256: more
 * queues than any NIC the project targets exposes; a queue index >= 256
 * simply misses the map and gets the XDP_PASS fallback. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(key_size, 4);
	__uint(value_size, 4);
	__uint(max_entries, 256);
} xsks_map SEC(".maps");

SEC("xdp")
int nmxdp_redirect(struct xdp_md *ctx)
{
	/* Since kernel 5.3 the low bits of flags are the action returned when
	 * the key has no entry: queues without a netmap port keep working as
	 * normal network interfaces. (An entry whose socket is bound to another
	 * device or queue still drops, as the kernel requires.) */
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

/* bpf_redirect_map is not GPL-only, so any license string works; the dual
 * license keeps GPL-only helpers available should the program grow. */
char _license[] SEC("license") = "Dual BSD/GPL";
