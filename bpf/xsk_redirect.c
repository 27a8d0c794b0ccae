// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * nmxdp XDP program: hand every frame received on queue q to the AF_XDP
 * socket stored at key q of `xsks_map`, or let it continue to the kernel
 * stack (XDP_PASS) when no socket is registered for that queue.
 *
 * Selective steering (NMXDP_STEER): a queue whose `steer_sel` entry is not 0
 * has a rule set, and only the frames it matches go to the socket; the others
 * are passed to the stack untouched. Rule sets are data (compiled by
 * shim/src/steer/, whose layout.rs mirrors this file), so changing a rule
 * never reloads or swaps the program.
 *
 * Two programs: the one attached (nmxdp_redirect) is the redirect and one
 * `steer_sel` lookup, a few instructions for the verifier, so that opening an
 * interface costs no rule evaluator; a queue with a rule tail-calls the rule
 * evaluator (nmxdp_steer) in slot 0 of `steer_progs`. The evaluator (~50,000
 * verified instructions, tens of milliseconds of BPF_PROG_LOAD) is loaded
 * only when the first rule is installed on the interface, and with it the
 * maps only it uses (`steer_rules`, `steer_stats`). An empty slot (no rule
 * was ever installed) makes the tail call fall through: every frame to the
 * socket, as without a rule.
 *
 * Loops, all bounded for the verifier (no bpf_loop, which needs 5.17; bounded
 * loops need 5.3): at most MAX_VLAN VLAN tags, MAX_EXT IPv6 extension headers,
 * MAX_TERMS alternatives of MAX_PREDS conditions each.
 *
 * Built with Debian's clang only (no libbpf headers, which Debian 12 does not
 * install by default): the handful of libbpf macros needed are defined below.
 * Rebuild with `make bpf` (bpf/build.sh); the object is committed.
 */

/* Only uapi headers: struct xdp_md, map types, XDP_PASS. */
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

/* Helpers: the call instruction carries the helper id as its immediate, which
 * is what these casts produce. */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_tail_call)(void *ctx, void *prog_array, __u32 index) = (void *)12;
static long (*bpf_redirect_map)(void *map, __u32 key, __u64 flags) = (void *)51;

#define ntohs(x) __builtin_bswap16(x)

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

/* ---- Steering: the layout of shim/src/steer/layout.rs ---- */

#define MAX_TERMS 32
#define MAX_PREDS 8
#define KEY_WORDS 16
#define MAX_VLAN 2
#define MAX_EXT 4
#define TEXT_BYTES 256

/* Key words. */
#define W_FLAGS 0
#define W_ETYPE 1
#define W_VLAN 2
#define W_PROTO 3
#define W_SPORT 4
#define W_DPORT 5
#define W_SRC 8
#define W_DST 12

#define F_VLAN 1
#define F_IP4 2
#define F_IP6 4
#define F_IP 8
#define F_PORTS 16

#define OP_MASKED 1
#define OP_RANGE 2

struct pred {
	__u8 op;
	__u8 word;
	__u8 neg;
	__u8 pad;
	__u32 mask[4];
	__u32 val[4]; /* OP_RANGE: lo = val[0], hi = val[1] */
};

struct term {
	__u32 npreds;
	struct pred p[MAX_PREDS];
};

struct ruleset {
	__u32 nterms;
	__u32 pid;
	char text[TEXT_BYTES];
	struct term t[MAX_TERMS];
};

struct qstats {
	__u64 hits[MAX_TERMS];
	__u64 passed;
	__u32 key[KEY_WORDS]; /* scratch: the frame's key */
};

/* Per queue: 0 = no rule (every frame to the socket), 1 + slot = the rule set
 * at key queue * 2 + slot of steer_rules. Userspace writes the spare slot and
 * then switches this word. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, 4);
	__uint(max_entries, 256);
} steer_sel SEC(".maps");

/* Slot 0: the rule evaluator (nmxdp_steer), once a rule was installed. A
 * program array's entries must be programs of its owner's type: XDP. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, 4);
	__uint(max_entries, 1);
} steer_progs SEC(".maps");

/* Rule sets, two slots per queue; allocated only for queues with a rule. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(key_size, 4);
	__uint(value_size, sizeof(struct ruleset));
	__uint(max_entries, 512);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} steer_rules SEC(".maps");

/* Per queue and CPU: counters and the key scratch (a map value, not the stack,
 * so that the key can be indexed by a word number read from the rule set on
 * 5.10, which refuses variable-offset stack reads). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, sizeof(struct qstats));
	__uint(max_entries, 256);
} steer_stats SEC(".maps");

/* The frame's key: flags, EtherType after the VLAN tags, outer VLAN id, IP
 * protocol, ports, addresses. Every read is checked against data_end first. */
static __attribute__((always_inline)) void parse_key(struct xdp_md *ctx, __u32 *k)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	__u16 etype;
	__u8 proto;
	int first = 1;
	int i;

	for (i = 0; i < KEY_WORDS; i++)
		k[i] = 0;
	if (p + 14 > (__u8 *)end)
		return;
	etype = ntohs(*(__u16 *)(p + 12));
	p += 14;
	for (i = 0; i < MAX_VLAN; i++) {
		if (etype != 0x8100 && etype != 0x88a8)
			break;
		if (p + 4 > (__u8 *)end)
			break;
		if (i == 0) {
			k[W_FLAGS] |= F_VLAN;
			k[W_VLAN] = ntohs(*(__u16 *)p) & 0xfff;
		}
		etype = ntohs(*(__u16 *)(p + 2));
		p += 4;
	}
	k[W_ETYPE] = etype;
	if (etype == 0x0800) {
		__u8 vihl;
		if (p + 20 > (__u8 *)end)
			return;
		vihl = p[0];
		if ((vihl >> 4) != 4 || (vihl & 0xf) < 5)
			return;
		k[W_FLAGS] |= F_IP4 | F_IP;
		proto = p[9];
		k[W_PROTO] = proto;
		k[W_SRC] = *(__u32 *)(p + 12);
		k[W_DST] = *(__u32 *)(p + 16);
		first = (ntohs(*(__u16 *)(p + 6)) & 0x1fff) == 0;
		p += (vihl & 0xf) * 4;
	} else if (etype == 0x86dd) {
		if (p + 40 > (__u8 *)end)
			return;
		if ((p[0] >> 4) != 6)
			return;
		k[W_FLAGS] |= F_IP6 | F_IP;
		for (i = 0; i < 4; i++) {
			k[W_SRC + i] = *(__u32 *)(p + 8 + 4 * i);
			k[W_DST + i] = *(__u32 *)(p + 24 + 4 * i);
		}
		proto = p[6];
		p += 40;
		for (i = 0; i < MAX_EXT; i++) {
			if (proto == 0 || proto == 43 || proto == 60) {
				if (p + 2 > (__u8 *)end)
					break;
				proto = p[0];
				p += (p[1] + 1) * 8;
			} else if (proto == 44) {
				if (p + 8 > (__u8 *)end)
					break;
				proto = p[0];
				if (ntohs(*(__u16 *)(p + 2)) & 0xfff8)
					first = 0;
				p += 8;
			} else {
				break;
			}
		}
		k[W_PROTO] = proto;
	} else {
		return;
	}
	if (first && (proto == 6 || proto == 17 || proto == 132)) {
		if (p + 4 > (__u8 *)end)
			return;
		k[W_FLAGS] |= F_PORTS;
		k[W_SPORT] = ntohs(*(__u16 *)p);
		k[W_DPORT] = ntohs(*(__u16 *)(p + 2));
	}
}

static __attribute__((always_inline)) int pred_match(const struct pred *p, const __u32 *key)
{
	__u32 w = p->word;
	int j;

	if (w > KEY_WORDS - 4)
		return 0;
	if (p->op == OP_MASKED) {
		for (j = 0; j < 4; j++)
			if ((key[w + j] & p->mask[j]) != p->val[j])
				return 0;
		return 1;
	}
	if (p->op == OP_RANGE)
		return key[w] >= p->val[0] && key[w] <= p->val[1];
	return 0;
}

static __attribute__((always_inline)) int term_match(const struct term *t, const __u32 *key)
{
	__u32 n = t->npreds;
	int j;

	for (j = 0; j < MAX_PREDS; j++) {
		if (j >= n)
			break;
		if (pred_match(&t->p[j], key) == t->p[j].neg)
			return 0;
	}
	return 1;
}

static __attribute__((always_inline)) int steer(struct xdp_md *ctx, __u32 q, __u32 sel)
{
	__u32 rk = q * 2 + ((sel - 1) & 1);
	struct ruleset *rs;
	struct qstats *st;
	__u32 n;
	int i;

	st = bpf_map_lookup_elem(&steer_stats, &q);
	rs = bpf_map_lookup_elem(&steer_rules, &rk);
	if (!st || !rs)
		return XDP_PASS;
	parse_key(ctx, st->key);
	n = rs->nterms;
	for (i = 0; i < MAX_TERMS; i++) {
		if (i >= n)
			break;
		if (term_match(&rs->t[i], st->key)) {
			st->hits[i]++;
			return bpf_redirect_map(&xsks_map, q, XDP_PASS);
		}
	}
	st->passed++;
	return XDP_PASS;
}

/* The program attached to the interface. */
SEC("xdp")
int nmxdp_redirect(struct xdp_md *ctx)
{
	__u32 q = ctx->rx_queue_index;
	__u32 *sel = bpf_map_lookup_elem(&steer_sel, &q);

	/* A queue with a rule: the evaluator takes over (a successful tail call
	 * does not return). Without one, or with an empty slot, the frame goes
	 * to the socket. */
	if (sel && *sel != 0)
		bpf_tail_call(ctx, &steer_progs, 0);
	/* Since kernel 5.3 the low bits of flags are the action returned when
	 * the key has no entry: queues without a netmap port keep working as
	 * normal network interfaces. (An entry whose socket is bound to another
	 * device or queue still drops, as the kernel requires.) */
	return bpf_redirect_map(&xsks_map, q, XDP_PASS);
}

/* The rule evaluator, entered only by the tail call above. The selector is
 * read again: the tail call passes the context only. */
SEC("xdp")
int nmxdp_steer(struct xdp_md *ctx)
{
	__u32 q = ctx->rx_queue_index;
	__u32 *sel = bpf_map_lookup_elem(&steer_sel, &q);

	if (!sel || *sel == 0)
		return bpf_redirect_map(&xsks_map, q, XDP_PASS);
	return steer(ctx, q, *sel);
}

/* bpf_redirect_map is not GPL-only, so any license string works; the dual
 * license keeps GPL-only helpers available should the program grow. */
char _license[] SEC("license") = "Dual BSD/GPL";
