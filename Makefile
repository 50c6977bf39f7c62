# Thin wrapper around CMake/ctest. Every target first makes sure the
# Debian packages it needs are installed (scripts/deps.sh).
BUILD      ?= build
SAN_BUILD  ?= build-san
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps check demo bench format clean

all: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh build

# The test build: AddressSanitizer + UndefinedBehaviorSanitizer, all tests.
check: deps
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBP_SANITIZE=ON >/dev/null
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

demo: all
	scripts/demo.sh $(BUILD)

bench: all
	@scripts/deps.sh bench
	bench/run.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
