# Thin wrapper around CMake/ctest. Every target first makes sure the
# Debian packages it needs are installed (scripts/deps.sh).
BUILD      ?= build
SAN_BUILD  ?= build-san
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps check demo bench format clean fuzz memcheck soak

all: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh build

# The test build: AddressSanitizer + UndefinedBehaviorSanitizer, all tests.
check:
	@scripts/deps.sh check
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBP_SANITIZE=ON >/dev/null
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

demo: all
	scripts/demo.sh $(BUILD)

bench: all
	@scripts/deps.sh bench
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
memcheck: all
	@scripts/deps.sh memcheck
	scripts/memcheck.sh $(BUILD)

# 10 minutes of mixed traffic with faults on (SOAK_SECONDS to change).
soak: all
	scripts/soak.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
