# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
# Both install what is missing (Debian packages), configure and build first.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: deps build test demo bench fuzz package install clean

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j$(JOBS)

# The fuzzers first (20 s each, for a 2-core CI run's budget; `make fuzz` runs them for 10 minutes),
# so that ctest's summary closes the output.
test: build
	BUILD=$(BUILD) ./scripts/fuzz.sh 20
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

fuzz: build
	BUILD=$(BUILD) ./scripts/fuzz.sh 600

demo: build
	$(BUILD)/repux info /usr/share/mricron/templates/ch2better.nii.gz
	$(BUILD)/repux demo -o demo-out

bench: build
	cmake --build $(BUILD) -j$(JOBS) --target benchmarks
	$(BUILD)/bench/bench_lk_dwconv

# The Debian packages repux, librepux-dev and python3-repux, written to $(BUILD)/ (CPack).
package: build
	cd $(BUILD) && cpack -G DEB

# Into PREFIX (default /usr/local): the program, man page, library, headers, CMake package, Python module.
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)
