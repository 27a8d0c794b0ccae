/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libnetmap.h -- the libnetmap API (nmport_*, nmreq_*, nmctx_*), API 14.
 *
 * Written for nmxdp from the documented netmap ABI (see docs/netmap-compat.md);
 * it contains no upstream netmap code.  The
 * functions are implemented by nmxdp's libnetmap.so.
 *
 * Typical use:
 *
 *	struct nmport_d *d = nmport_open("netmap:eth0-1/x");
 *	if (d == NULL) ...errno...
 *	struct netmap_ring *r = NETMAP_RXRING(d->nifp, d->first_rx_ring);
 *	...
 *	nmport_close(d);
 *
 * Port names: PREFIX ":" NAME [MODE] [/FLAGS] [@MEMID] [@OPTION...], with
 * PREFIX "netmap" (removed from nr_name) or "vale[ID]" (kept), MODE one of
 * ^ ^N * -N, FLAGS among x z t r R T, and options @share=PORT,
 * @conf:key=val,..., @extmem:file=F,... and @offset=N (the latter disabled
 * until nmport_enable_option("offset")).
 */
#ifndef LIBNETMAP_H_
#define LIBNETMAP_H_

#include <stdint.h>
#include <stddef.h>
#include <net/netmap_user.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nmctx;
struct nmem_d;
struct nmport_cleanup_d;

/* ------------------------------------------------------------------ */
/* Ports                                                               */
/* ------------------------------------------------------------------ */

/* A port: 216 bytes. */
struct nmport_d {
	struct nmreq_header      hdr;    /* NETMAP_REQ_REGISTER header (nr_name, options) */
	struct nmreq_register    reg;    /* its body */
	struct nmem_d           *mem;    /* mapped region, shared by ports with the same nr_mem_id */
	struct nmctx            *ctx;
	int                      register_done;
	int                      mmap_done;
	struct nmreq_opt_extmem *extmem; /* set by @extmem / nmport_extmem() */
	int                      fd;     /* /dev/netmap file descriptor */
	struct netmap_if        *nifp;
	/* bound rings, and the current ones for nmport_inject() */
	uint16_t                 first_tx_ring;
	uint16_t                 last_tx_ring;
	uint16_t                 first_rx_ring;
	uint16_t                 last_rx_ring;
	uint16_t                 cur_tx_ring;
	uint16_t                 cur_rx_ring;
	struct nmport_cleanup_d *clist;  /* undo actions of the parser */
};

/* An undo action queued on a port by an option parser. */
struct nmport_cleanup_d {
	struct nmport_cleanup_d *next;
	void (*cleanup)(struct nmport_cleanup_d *, struct nmport_d *);
};

/* A mapped region: 48 bytes. */
struct nmem_d {
	uint16_t       mem_id;
	int            refcount;   /* ports using it */
	void          *mem;
	size_t         size;
	int            is_extmem;  /* user memory, not an mmap of /dev/netmap */
	struct nmem_d *next;
	struct nmem_d *prev;
};

/* nmport_prepare() + nmport_open_desc().  NULL + errno on failure. */
struct nmport_d *nmport_open(const char *portspec);

/* nmport_new() + nmport_parse(): a parsed, unregistered port. */
struct nmport_d *nmport_prepare(const char *portspec);

/* nmport_register() + nmport_mmap().  0, or -1 + errno. */
int nmport_open_desc(struct nmport_d *d);

/* Undo everything and free the port. */
void nmport_close(struct nmport_d *d);

void nmport_undo_prepare(struct nmport_d *d);
void nmport_undo_open_desc(struct nmport_d *d);

/* An empty port (default context). */
struct nmport_d *nmport_new(void);

/* Parse portspec into d->hdr, d->reg and options.  0, or -1 + errno. */
int nmport_parse(struct nmport_d *d, const char *portspec);
void nmport_undo_parse(struct nmport_d *d);

/* open("/dev/netmap") + NIOCCTRL NETMAP_REQ_REGISTER.  0, or -1 + errno. */
int nmport_register(struct nmport_d *d);
void nmport_undo_register(struct nmport_d *d);

/* Map the region (or reuse a mapping of the same nr_mem_id) and compute
 * nifp and the ring ranges.  0, or -1 + errno. */
int nmport_mmap(struct nmport_d *d);
void nmport_undo_mmap(struct nmport_d *d);

/* Free a port that is neither registered nor mapped. */
void nmport_delete(struct nmport_d *d);

/* Unregistered copy of hdr and reg (without options), same context. */
struct nmport_d *nmport_clone(struct nmport_d *d);

/* Queue one packet on the TX rings (no sync).  size, or 0 if no room. */
int nmport_inject(struct nmport_d *d, const void *buf, size_t size);

/* Build the region inside user memory (NETMAP_REQ_OPT_EXTMEM). */
int nmport_extmem(struct nmport_d *d, void *base, size_t size);
int nmport_extmem_from_file(struct nmport_d *d, const char *fname);
struct nmreq_pools_info *nmport_extmem_getinfo(struct nmport_d *d);

/* Ask for per-slot offsets (NETMAP_REQ_OPT_OFFSETS). */
int nmport_offset(struct nmport_d *d, uint64_t initial, uint64_t maxoff,
    uint64_t bits, uint64_t mingap);

/* Enable / disable a port-name option by name ("offset", ...).  Enabling
 * returns 0, or -1 + errno; disabling returns nothing, as upstream's. */
int nmport_enable_option(const char *opt);
void nmport_disable_option(const char *opt);

/* Exported for the library's own use. */
void nmport_do_cleanup(struct nmport_d *d);
void nmport_extmem_cleanup(struct nmport_cleanup_d *c, struct nmport_d *d);
void nmport_extmem_from_file_cleanup(struct nmport_cleanup_d *c,
    struct nmport_d *d);

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* Zero h, then set nr_version = NETMAP_API, nr_reqtype and nr_body. */
void nmreq_header_init(struct nmreq_header *h, uint16_t reqtype, void *body);

/* Parse the PREFIX:NAME part of *ppspec into hdr->nr_name and advance
 * *ppspec past it.  0, or -1 + errno. */
int nmreq_header_decode(const char **ppspec, struct nmreq_header *hdr,
    struct nmctx *ctx);

/* Parse MODE, /FLAGS and @MEMID of *pmode into reg and advance *pmode to
 * the options.  0, or -1 + errno. */
int nmreq_register_decode(const char **pmode, struct nmreq_register *reg,
    struct nmctx *ctx);

struct nmreq_parse_ctx;

/* Callback of an option parser: 0, or -1 + errno. */
typedef int (*nmreq_opt_parser_cb)(struct nmreq_parse_ctx *);

/* One key of an option. */
struct nmreq_opt_key {
	const char *key;
	int id;              /* index in nmreq_parse_ctx.keys[] */
	unsigned int flags;  /* NMREQ_OPTK_* */
};

#define NMREQ_OPTK_ALLOWEMPTY  (1U << 0)  /* the key may have an empty value */
#define NMREQ_OPTK_MUSTSET     (1U << 1)  /* the key is mandatory */
#define NMREQ_OPTK_DEFAULT     (1U << 2)  /* the key of "@name=value" */

#define NMREQ_OPT_MAXKEYS  16

/* A parser of "@prefix..." options. */
struct nmreq_opt_parser {
	const char *prefix;
	nmreq_opt_parser_cb parse;
	int default_key;   /* id of the default key, or -1 */
	int nr_keys;
	unsigned int flags;  /* NMREQ_OPTF_* */
	struct nmreq_opt_parser *next;
	struct nmreq_opt_key keys[NMREQ_OPT_MAXKEYS];
} __attribute__((__aligned__(16)));

#define NMREQ_OPTF_DISABLED    (1U << 0)  /* the option is rejected (EOPNOTSUPP) */
#define NMREQ_OPTF_ALLOWEMPTY  (1U << 1)  /* "@prefix" alone is accepted */

/* What a parser's parse() receives. */
struct nmreq_parse_ctx {
	struct nmctx *ctx;
	void *token;                             /* from nmreq_options_decode() */
	const char *keys[NMREQ_OPT_MAXKEYS];     /* values, by key id (NULL = unset) */
};

/* Parse the @OPTION list in opt with the given parsers.  0, or -1 + errno. */
int nmreq_options_decode(const char *opt, struct nmreq_opt_parser *parsers,
    void *token, struct nmctx *ctx);

/* Parse a leading "@N" or "@share=PORT" of *portspec: the memory id (> 0),
 * 0 if none, -1 + errno on error; advances *portspec. */
int32_t nmreq_get_mem_id(const char **portspec, struct nmctx *ctx);

/* Option list of a request (hdr->nr_options). */
void nmreq_push_option(struct nmreq_header *h, struct nmreq_option *o);
void nmreq_remove_option(struct nmreq_header *h, struct nmreq_option *o);
struct nmreq_option *nmreq_find_option(struct nmreq_header *h, uint32_t t);
void nmreq_free_options(struct nmreq_header *h);
const char *nmreq_option_name(uint32_t nro_reqtype);

#define nmreq_foreach_option(h_, o_)					\
	for ((o_) = (struct nmreq_option *)(uintptr_t)((h_)->nr_options); \
	     (o_) != NULL;						\
	     (o_) = (struct nmreq_option *)(uintptr_t)((o_)->nro_next))

/* ------------------------------------------------------------------ */
/* Context                                                             */
/* ------------------------------------------------------------------ */

typedef void (*nmctx_error_cb)(struct nmctx *, const char *);
typedef void *(*nmctx_malloc_cb)(struct nmctx *, size_t);
typedef void (*nmctx_free_cb)(struct nmctx *, void *);
typedef void (*nmctx_lock_cb)(struct nmctx *, int);

/* Error reporting, allocation and locking used by the library: 48 bytes.
 * The default context is verbose and prints errors on stderr. */
struct nmctx {
	int              verbose;
	nmctx_error_cb   error;
	nmctx_malloc_cb  malloc;
	nmctx_free_cb    free;
	nmctx_lock_cb    lock;      /* lock(ctx, 1) / lock(ctx, 0) */
	struct nmem_d   *mem_descs; /* mapped regions */
};

struct nmctx *nmctx_get(void);
struct nmctx *nmctx_set_default(struct nmctx *ctx);
void nmctx_set_threadsafe(void);
void nmctx_ferror(struct nmctx *ctx, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((__format__(__printf__, 2, 3)))
#endif
    ;
void *nmctx_malloc(struct nmctx *ctx, size_t sz);
void nmctx_free(struct nmctx *ctx, void *p);
void nmctx_lock(struct nmctx *ctx);
void nmctx_unlock(struct nmctx *ctx);

/* Non-zero once the context is thread safe. */
extern int nmctx_threadsafe;

#ifdef __cplusplus
}
#endif

/*
 * Every program including this header references nmctx_threadsafe, so that
 * linking it pulls in the library's thread-safe context (define
 * LIBNETMAP_NOTHREADSAFE to opt out).  The function is never called.
 */
#ifndef LIBNETMAP_NOTHREADSAFE
static __attribute__((__used__)) void
libnetmap_init(void)
{
	nmctx_threadsafe = 1;
}
#endif

#endif /* LIBNETMAP_H_ */
