# nmxdp: netmap's API and ABI over AF_XDP.
#   make            build everything (debug)
#   make demo       pkt-gen tx -> rx through nmxdp on a veth pair in two private namespaces
#   make test       every test (needs root: namespaces, veth, XDP, AF_XDP)
#   make bpf        rebuild the committed XDP object from bpf/xsk_redirect.c
#   make lint       cargo fmt --check and clippy -D warnings
#   make install    libnetmap.so, headers, netmap.pc, nmxdp, pkt-gen under PREFIX (/usr/local)
#   make fuzz       longer hostile-input runs
#   make bench      nmxdp vs raw AF_XDP vs AF_PACKET, side by side (target/bench/results.md)

CARGO ?= cargo
RELEASE_DIR := target/release

.PHONY: all build release bpf check-bpf test lint demo fuzz bench bench-smoke clean

all: build

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --workspace --release

bpf:
	sh bpf/build.sh

check-bpf:
	sh bpf/check.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p nmxdp --no-deps

# The integration tests share interfaces and XDP state per process, so they run one at a time.
test: check-bpf lint
	@if [ "$$(id -u)" != 0 ]; then echo "make test: the tests create network namespaces, veth pairs and attach XDP: run as root" >&2; exit 1; fi
	$(CARGO) build --workspace --release
	$(MAKE) target/c/nm_lib-plain target/c/nm_bridge-linked target/c/nm_bridge-plain target/c/nm_legacy-linked target/c/nm_legacy-plain
	$(CARGO) test --workspace --release -- --test-threads=1
	sh tests/scripts/demo.sh 20000 60
	$(MAKE) test-c
	$(MAKE) bench-smoke

demo: release
	@if [ "$$(id -u)" != 0 ]; then echo "make demo: creating namespaces and attaching XDP needs root" >&2; exit 1; fi
	sh tests/scripts/demo.sh $${N:-1000000} $${LEN:-60}

# nmxdp against raw AF_XDP and AF_PACKET on a veth pair (root): target/bench/results.{md,json}.
bench: release
	@if [ "$$(id -u)" != 0 ]; then echo "make bench: creating namespaces and attaching XDP needs root" >&2; exit 1; fi
	-$(MAKE) target/c/nm_lib-plain
	$(RELEASE_DIR)/bench-harness
	sh bench/bridge.sh 1000000 target/bench/results.md

# The same harness with 2000 packets and one repetition: fails if a row does not run or receives nothing.
bench-smoke: release
	@if [ "$$(id -u)" != 0 ]; then echo "make bench-smoke: creating namespaces and attaching XDP needs root" >&2; exit 1; fi
	$(MAKE) target/c/nm_lib-plain
	$(RELEASE_DIR)/bench-harness --smoke --require-c

# Longer runs of the hostile-input tests (port names, ring scribbling with a pool audit).
fuzz:
	PROPTEST_CASES=$${CASES:-20000} $(CARGO) test --release -p nmxdp --test fuzz_names
	PROPTEST_CASES=$${CASES:-20000} $(CARGO) test --release -p netmap-ffi ctl_fuzz
	NMXDP_FUZZ_STEPS=$${STEPS:-20000} $(CARGO) test --release -p nmxdp-tests --test hostile -- --nocapture

clean:
	$(CARGO) clean

# The C side: headers tests, C apps linked and under LD_PRELOAD, install/uninstall.
include mk/c.mk
