# SPDX-License-Identifier: GPL-2.0-or-later
# Thin wrapper over meson. Every target does its own prerequisites, so on a
# fresh Debian 12 machine `make demo` and `make check` alone set everything up.
#
#   make deps     install the Debian packages the build and tests need (root)
#   make          build (build/)
#   make check    all default suites: unit, sim, fuzz (corpus replay), style
#   make asan     the same suites built with clang, ASan+UBSan (build-asan/)
#   make demo     the simulated guest driving the real ioreqd on the fake Xen
#   make bench    benchmarks, printing `BENCH name value unit` lines
#   make fuzz     clang libFuzzer builds, each target for FUZZ_SECONDS
#   make e2e      real Xen end-to-end (see tests/e2e/)

BUILD        ?= build
ASAN_BUILD   ?= build-asan
FUZZ_BUILD   ?= build-fuzz
WERROR       ?= false
FUZZ_SECONDS ?= 30
MESON_OPTS   ?=
SUITES       ?= unit sim fuzz style

DEB_PACKAGES = build-essential meson ninja-build pkg-config libxen-dev \
	libcmocka-dev liburing-dev clang lld llvm libclang-rt-14-dev \
	clang-format qemu-system-common dpdk-dev

.PHONY: all deps check asan demo bench fuzz e2e clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Installs only what is missing. Needs root when anything is missing.
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
			grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "make deps: missing packages:$$missing (run as root)"; \
			exit 1; \
		fi; \
		echo "make deps: installing$$missing"; \
		apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) -Dwerror=$(WERROR) $(MESON_OPTS)

check: all
	meson test -C $(BUILD) --print-errorlogs $(addprefix --suite ,$(SUITES))

$(ASAN_BUILD)/build.ninja: | deps
	CC=clang meson setup $(ASAN_BUILD) -Dwerror=$(WERROR) \
		-Db_sanitize=address,undefined -Db_lundef=false $(MESON_OPTS)

asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(ASAN_BUILD) --print-errorlogs \
		$(addprefix --suite ,$(SUITES))

demo: all
	$(BUILD)/tests/demo/iq-demo

bench: all
	meson test -C $(BUILD) --benchmark --suite bench --verbose 2>&1 | \
		grep -E '^BENCH ' || { echo "make bench: no BENCH output"; exit 1; }

$(FUZZ_BUILD)/build.ninja: | deps
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true \
		-Db_sanitize=address,undefined -Db_lundef=false $(MESON_OPTS)

fuzz: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	@set -e; for f in $$(find $(FUZZ_BUILD)/tests/fuzz -type f \
			-name 'fuzz-*' -perm -u+x ! -name '*-replay'); do \
		name=$$(basename $$f); \
		dir=$$(dirname $$f | sed 's|^$(FUZZ_BUILD)/||'); \
		corpus=$$dir/corpus; \
		[ -d $$corpus ] || corpus=$$dir/corpus-$${name##*-}; \
		mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
		echo "== $$name ($(FUZZ_SECONDS) s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			$(FUZZ_BUILD)/corpus/$$name $$corpus; \
	done

e2e: all
	@if [ -x tests/e2e/run.sh ]; then tests/e2e/run.sh; \
	else echo "make e2e: tests/e2e not written yet"; \
		echo "0 passed, 1 failed"; exit 1; fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
