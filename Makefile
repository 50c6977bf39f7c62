# Thin wrapper around CMake/ctest. `make` (all) only checks that the Debian
# packages it needs are there and says how to install them if not (make
# deps); the targets that run something (demo, check, bench, memcheck,
# fuzz, soak and the CI pieces) install what they need (scripts/deps.sh).
BUILD      ?= build
SAN_BUILD  ?= build-san
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps check check-release demo bench format clean fuzz memcheck soak \
	werror lint-shell ci-extra deb

# The shipped build: RelWithDebInfo into $(BUILD).
define build_release
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
endef

all:
	@scripts/deps.sh --check build
	$(build_release)

deps:
	@scripts/deps.sh build

# The test build: AddressSanitizer + UndefinedBehaviorSanitizer, all tests.
check:
	@scripts/deps.sh check
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBP_SANITIZE=ON >/dev/null
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# The same tests against the shipped build (no sanitizers, optimized): what
# only shows without ASan's allocator and at -O2 (timing, uninitialized
# memory the sanitizers' layout hides).
check-release:
	@scripts/deps.sh check
	$(build_release)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# Every C file (programs, tests, fuzz replays) with -Werror, once with gcc
# and once with clang, at the shipped build's optimization (some warnings
# only show at -O2).
WERROR_BUILD ?= build-werror
werror:
	@scripts/deps.sh werror
	@for cc in gcc clang; do \
	    echo "werror: $$cc" && \
	    CC=$$cc cmake -S . -B $(WERROR_BUILD)-$$cc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	        -DBP_WERROR=ON >/dev/null && \
	    cmake --build $(WERROR_BUILD)-$$cc -j $(JOBS) || exit 1; \
	done

# shellcheck on every shell script (scripts/, bench/, .ci/run).
lint-shell:
	@scripts/deps.sh lint
	scripts/lint-shell.sh

# The Debian package (debian/): batchproxy_VERSION_ARCH.deb in this
# directory, built from a copy in $(DEB_BUILD) and checked by lintian.
# Install it with: apt-get install ./batchproxy_*.deb (docs/service.md).
DEB_BUILD ?= build-deb
deb:
	@scripts/deps.sh deb
	scripts/deb.sh $(DEB_BUILD)

demo:
	@scripts/deps.sh build
	$(build_release)
	scripts/demo.sh $(BUILD)

bench:
	@scripts/deps.sh bench
	$(build_release)
	bench/run.sh $(BUILD)

# libFuzzer targets (clang), each run FUZZ_SECONDS (default 60) on a scratch
# copy of its corpus; new inputs land in $(FUZZ_BUILD)/corpus, crashes in
# $(FUZZ_BUILD)/artifacts (add them to fuzz/corpus/ once fixed).
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := request results headers http1
fuzz:
	@scripts/deps.sh fuzz
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DBP_FUZZ=ON -DBP_TESTS=OFF \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts && \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s" && \
	    $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- \
	        $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t 2>$(FUZZ_BUILD)/fuzz_$$t.log || \
	        { tail -40 $(FUZZ_BUILD)/fuzz_$$t.log; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_BUILD)/fuzz_$$t.log; \
	done

# A short end-to-end scenario with both servers under valgrind's memcheck.
memcheck:
	@scripts/deps.sh memcheck
	$(build_release)
	scripts/memcheck.sh $(BUILD)

# 10 minutes of mixed traffic with faults on (SOAK_SECONDS to change).
soak:
	@scripts/deps.sh build
	$(build_release)
	scripts/soak.sh $(BUILD)

# What CI runs besides make check and make memcheck (.ci/run): the tests on
# the shipped build, -Werror with both compilers, shellcheck, and every fuzz
# target for CI_FUZZ_SECONDS.
CI_FUZZ_SECONDS ?= 25
ci-extra:
	$(MAKE) check-release
	$(MAKE) werror
	$(MAKE) lint-shell
	$(MAKE) fuzz FUZZ_SECONDS=$(CI_FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD) $(WERROR_BUILD)-gcc $(WERROR_BUILD)-clang $(DEB_BUILD)
