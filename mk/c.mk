# mk/c.mk -- the C side of nmxdp, included from the top Makefile (paths are relative to the
# repository root; it also works alone: make -f mk/c.mk TARGET).
#
#   make c-apps      examples/c/*.c built against ffi/include into target/c/:
#                    X-linked (-lnetmap, rpath to target/release) and X-plain (no nmxdp library:
#                    for LD_PRELOAD; nm_lib-plain and nm_bridge-plain are linked to a stub
#                    libnetmap.so that aborts), plus the header tests of tests/c
#   make test-c      header tests, tests/scripts/c_apps.sh and c_bridge.sh (root),
#                    tests/scripts/install_check.sh
#   make install     PREFIX (/usr/local) and DESTDIR: libnetmap.so, headers, netmap.pc, nmxdp, pkt-gen
#   make uninstall   removes exactly the files install put there

CARGO      ?= cargo
ifeq ($(origin CC),default)
CC         := gcc
endif
PREFIX     ?= /usr/local
DESTDIR    ?=

C_OUT      := target/c
C_REL      := target/release
C_LIB      := $(C_REL)/libnetmap.so
C_INC      := ffi/include
C_CFLAGS   := -std=c11 -O2 -g -Wall -Wextra -Werror
C_HDRS     := $(C_INC)/net/netmap.h $(C_INC)/net/netmap_user.h $(C_INC)/net/netmap_legacy.h \
              $(C_INC)/libnetmap.h
C_APPS     := nm_legacy nm_raw nm_lib nm_bridge nm_openclose
C_BINS     := $(foreach a,$(C_APPS),$(C_OUT)/$(a)-linked $(C_OUT)/$(a)-plain)
C_STUB     := $(C_OUT)/stub/libnetmap.so
C_HDR_TESTS := $(patsubst tests/c/%.c,$(C_OUT)/tests/%,$(wildcard tests/c/layout.c tests/c/legacy_parse.c)) \
               $(C_OUT)/tests/names-c $(C_OUT)/tests/names-cxx
# Everything cargo's release build of the library and the tools depends on.
C_RUST_SRCS := $(shell find shim ffi/src cli examples/pkt-gen -name '*.rs' 2>/dev/null) \
               $(wildcard Cargo.toml Cargo.lock */Cargo.toml examples/pkt-gen/Cargo.toml bpf/*.o)

.PHONY: c-apps test-c install uninstall

c-apps: $(C_BINS) $(C_STUB) $(C_HDR_TESTS)

$(C_LIB): $(C_RUST_SRCS)
	$(CARGO) build --release -p netmap-ffi

$(C_REL)/nmxdp $(C_REL)/pkt-gen &: $(C_RUST_SRCS)
	$(CARGO) build --release -p nmxdp-cli -p pkt-gen

# Linked against nmxdp's libnetmap.so (--no-as-needed: the legacy and raw apps call nothing of
# it, yet the library must be loaded to answer their /dev/netmap calls).
$(C_OUT)/%-linked: examples/c/%.c examples/c/nm_frame.h $(C_HDRS) $(C_LIB)
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) -I $(C_INC) $< -o $@ -L $(C_REL) -Wl,--no-as-needed -lnetmap \
	    -Wl,--as-needed -lpthread -Wl,-rpath,$(abspath $(C_REL))

# No netmap library at all: only the inline code of the headers.
$(C_OUT)/nm_legacy-plain $(C_OUT)/nm_raw-plain $(C_OUT)/nm_openclose-plain: $(C_OUT)/%-plain: \
    examples/c/%.c examples/c/nm_frame.h $(C_HDRS)
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) -I $(C_INC) $< -o $@

# make bench and bench-smoke build only target/c/nm_lib-plain; the bench's open-latency section
# also runs nm_openclose-plain under LD_PRELOAD, so it comes along (order-only: it does not make
# nm_lib-plain out of date).
$(C_OUT)/nm_lib-plain: | $(C_OUT)/nm_openclose-plain

# "Unmodified binaries": linked against a stub libnetmap.so found through their rpath.
$(C_OUT)/nm_lib-plain $(C_OUT)/nm_bridge-plain: $(C_OUT)/%-plain: examples/c/%.c \
    examples/c/nm_frame.h $(C_HDRS) $(C_STUB)
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) -I $(C_INC) $< -o $@ -L $(C_OUT)/stub -lnetmap -lpthread \
	    -Wl,-rpath,$(abspath $(C_OUT)/stub)

$(C_STUB): tests/c/stub_libnetmap.c $(C_HDRS)
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) -shared -fPIC -Wl,-soname,libnetmap.so -I $(C_INC) $< -o $@

# Header tests (owned by the header work): compile-time layout checks + a few run-time checks.
$(C_OUT)/tests/%: tests/c/%.c $(C_HDRS)
	@mkdir -p $(@D)
	$(CC) $(C_CFLAGS) -pedantic -I $(C_INC) $< -o $@

# Header names test: each list of tests/c/names/ (the names upstream's headers provide) becomes
# a unit that includes one header and uses every name (tests/c/names_gen.sh); the units are
# built as C11 and as C++17 and linked with libnetmap.so.  Entries are LIST:HEADER[:DEFINE].
C_NAMES_LISTS := netmap:net/netmap.h netmap_legacy:net/netmap_legacy.h \
                 netmap_user:net/netmap_user.h netmap_user_libs:net/netmap_user.h:NETMAP_WITH_LIBS \
                 libnetmap:libnetmap.h
C_NAMES_SRCS  := $(foreach l,$(C_NAMES_LISTS),$(C_OUT)/tests/names/$(firstword $(subst :, ,$(l))).c)
C_NAMES_FLAGS := -O0 -Wall -Wextra -Werror -pedantic -I $(C_INC)
C_NAMES_LINK  := -L $(C_REL) -lnetmap -Wl,-rpath,$(abspath $(C_REL))

$(C_OUT)/tests/names/%.c: tests/c/names/%.txt tests/c/names/omitted.txt tests/c/names_gen.sh \
    $(C_HDRS)
	@mkdir -p $(@D)
	sh tests/c/names_gen.sh $(C_INC) $< \
	    $(wordlist 2,3,$(subst :, ,$(filter $*:%,$(C_NAMES_LISTS)))) >$@.tmp
	mv $@.tmp $@

$(C_OUT)/tests/names-c: tests/c/names_main.c $(C_NAMES_SRCS) $(C_LIB)
	$(CC) -std=c11 $(C_NAMES_FLAGS) tests/c/names_main.c $(C_NAMES_SRCS) -o $@ $(C_NAMES_LINK)

$(C_OUT)/tests/names-cxx: tests/c/names_main.c $(C_NAMES_SRCS) $(C_LIB)
	$(CXX) -std=c++17 $(C_NAMES_FLAGS) -x c++ tests/c/names_main.c $(C_NAMES_SRCS) -x none \
	    -o $@ $(C_NAMES_LINK)

# install_check.sh runs `make install` itself, with the makefile that included this one.
C_SUBMAKE = $(MAKE) -f $(firstword $(MAKEFILE_LIST))

test-c: c-apps
	@set -e; for t in $(C_HDR_TESTS); do echo "== $$t"; $$t; done
	sh tests/scripts/c_apps.sh
	sh tests/scripts/c_bridge.sh
	MAKE="$(C_SUBMAKE)" sh tests/scripts/install_check.sh

C_INSTALLED := lib/libnetmap.so lib/pkgconfig/netmap.pc include/libnetmap.h \
               include/net/netmap.h include/net/netmap_user.h include/net/netmap_legacy.h \
               bin/nmxdp bin/pkt-gen

install: $(C_LIB) $(C_REL)/nmxdp $(C_REL)/pkt-gen ffi/netmap.pc.in $(C_HDRS)
	install -D -m 0755 $(C_LIB) $(DESTDIR)$(PREFIX)/lib/libnetmap.so
	install -D -m 0644 $(C_INC)/libnetmap.h $(DESTDIR)$(PREFIX)/include/libnetmap.h
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/include/net $(C_INC)/net/netmap.h \
	    $(C_INC)/net/netmap_user.h $(C_INC)/net/netmap_legacy.h
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig
	sed 's|@PREFIX@|$(PREFIX)|g' ffi/netmap.pc.in >$(DESTDIR)$(PREFIX)/lib/pkgconfig/netmap.pc
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/netmap.pc
	install -D -m 0755 -t $(DESTDIR)$(PREFIX)/bin $(C_REL)/nmxdp $(C_REL)/pkt-gen

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(C_INSTALLED))
