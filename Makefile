# A thin wrapper over CMake (as Neovim's): make, make run, make test, make bench.
BUILD     ?= build
ASAN_BUILD ?= build-asan
JOBS      ?= $(shell nproc)
DEB_PKGS  := cmake gcc pkg-config liblua5.4-dev lua5.4 libsqlite3-dev libevent-dev \
             libjansson-dev libsodium-dev libreadline-dev lua-busted lua-socket lua-cjson \
             netcat-openbsd sqlite3 prometheus chromium chromium-driver postgresql libpq-dev \
             libssl-dev openssl redis-server redis-tools
LISTEN    ?= 127.0.0.1:7420
HTTP      ?= 127.0.0.1:7421

.PHONY: all deps run test test-asan bench fuzz format format-check clean

all: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

$(BUILD)/CMakeCache.txt:
	@$(MAKE) --no-print-directory deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

# Installs the Debian packages the build needs, only when one is missing.
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && apt-get install -y -qq $$missing; \
	fi

run: all
	rm -f $(BUILD)/demo.db $(BUILD)/demo.db-wal $(BUILD)/demo.db-shm
	$(BUILD)/corder init --db $(BUILD)/demo.db --seed examples/seed.json
	@echo "try:  $(BUILD)/corder call --connect $(LISTEN) --login S001:1001 order.find '{}'   (PIN 1234)"
	@echo "customer orders in a browser:  http://$(HTTP)/   (store S001, staff 1001, PIN 1234)"
	@echo "health and metrics:  http://$(HTTP)/healthz  http://$(HTTP)/metrics"
	$(BUILD)/corder serve --db $(BUILD)/demo.db --policies policies --listen $(LISTEN) \
	  --admin-socket $(BUILD)/admin.sock --http $(HTTP)

test: all
	cd $(BUILD) && ctest --output-on-failure -j2

test-asan:
	@$(MAKE) --no-print-directory deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCORDER_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j2

bench: all
	bash tests/bench/run.sh $(BUILD)

fuzz:
	bash tests/fuzz/run.sh $${FUZZ_SECONDS:-60}

C_SOURCES = engine/*/*.[ch] bindings/*/*.[ch] tests/unit/*.[ch] tests/bench/*.c tests/fuzz/*.c tests/lib/*.c \
            examples/*.c

format:
	clang-format -i $(C_SOURCES)

format-check:
	clang-format --dry-run --Werror $(C_SOURCES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
