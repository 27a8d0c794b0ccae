/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A libnetmap.so that does nothing: each function prints its name and
 * aborts.  target/c/nm_lib-plain is linked against it (with an rpath to
 * it) to play the part of an unmodified netmap binary built against some
 * other libnetmap: run as is it aborts, and it works only when nmxdp's
 * libnetmap.so is LD_PRELOADed, because the preloaded definitions win.
 *
 *   gcc -shared -fPIC -I ffi/include tests/c/stub_libnetmap.c \
 *       -o target/c/stub/libnetmap.so
 */
#include <libnetmap.h>

#include <stdio.h>
#include <stdlib.h>

int nmctx_threadsafe;

static void __attribute__((__noreturn__))
stub(const char *fn)
{
	fprintf(stderr, "stub libnetmap: %s() called: this library is a stub "
	    "(LD_PRELOAD nmxdp's libnetmap.so)\n", fn);
	abort();
}

struct nmport_d *nmport_open(const char *s) { (void)s; stub(__func__); }
struct nmport_d *nmport_prepare(const char *s) { (void)s; stub(__func__); }
int nmport_open_desc(struct nmport_d *d) { (void)d; stub(__func__); }
void nmport_close(struct nmport_d *d) { (void)d; stub(__func__); }
void nmport_undo_prepare(struct nmport_d *d) { (void)d; stub(__func__); }
void nmport_undo_open_desc(struct nmport_d *d) { (void)d; stub(__func__); }
struct nmport_d *nmport_clone(struct nmport_d *d) { (void)d; stub(__func__); }
struct nmport_d *nmport_new(void) { stub(__func__); }
int nmport_parse(struct nmport_d *d, const char *s) { (void)d; (void)s; stub(__func__); }
int nmport_register(struct nmport_d *d) { (void)d; stub(__func__); }
int nmport_mmap(struct nmport_d *d) { (void)d; stub(__func__); }
void nmport_delete(struct nmport_d *d) { (void)d; stub(__func__); }
int nmport_inject(struct nmport_d *d, const void *b, size_t n)
{ (void)d; (void)b; (void)n; stub(__func__); }
void nmreq_header_init(struct nmreq_header *h, uint16_t t, void *b)
{ (void)h; (void)t; (void)b; stub(__func__); }
struct nmctx *nmctx_get(void) { stub(__func__); }
void nmctx_set_threadsafe(void) { stub(__func__); }
