# The human commands. Each one installs what is missing first, so a bare
# Debian 12 machine needs nothing but `make run` or `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
HOST ?= 127.0.0.1
PORT ?= 8080
RUN_ARGS ?= --synthetic 3 --source synthetic:image=tests/fixtures/face-astronaut.png,detect
# WebRTC through Janus (make run prints how): --janus URL --janus-admin-key K
JANUS_ARGS ?=

.PHONY: all deps build run test sanitize fuzz bench clean format format-check

all: build

deps:
	@scripts/install-deps
	@scripts/fetch-models

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@echo "framecast: viewer at http://$(HOST):$(PORT)/  (streams: ws://$(HOST):$(PORT)/ws/streams/cam0 ...)"
	@echo "WebRTC: scripts/run-janus start (prints the API URL and admin key), then"
	@echo "        make run JANUS_ARGS=\"--janus http://127.0.0.1:8088/janus --janus-admin-key \$$(cat build/janus/admin-key)\""
	@echo "        (the viewer's codec 'webrtc', the demo's transport WebRTC; docs/webrtc.md)"
	exec $(BUILD)/framecast serve --host $(HOST) --port $(PORT) $(RUN_ARGS) $(JANUS_ARGS)

test: build format-check
	@scripts/run-tests $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

sanitize: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	@FC_SANITIZE=1 scripts/run-tests $(ASAN_BUILD)

# libFuzzer harnesses (tests/fuzz), built by clang with ASan + UBSan, each run
# for FUZZ_SECONDS at nice 19; see docs/fuzzing.md.
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined \
	  -Db_lundef=false -Dbuildtype=debugoptimized -Dc_args=-fsanitize=fuzzer-no-link

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) $$(sed -n "s/^fuzz_harnesses = \[\(.*\)\]/\1/p" tests/fuzz/meson.build \
	  | tr -d "'" | tr ',' ' ' | sed 's|[a-z_][a-z_]*|tests/fuzz/fuzz_&|g')
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/run-fuzz $(FUZZ_BUILD)

bench: build
	bench/run-all

# Every C file follows .clang-format: those git tracks and new ones it does not ignore,
# so a file not added yet is formatted and checked too.
FORMAT_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h')

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@command -v clang-format >/dev/null || { echo "format-check: clang-format is missing (scripts/install-deps)" >&2; exit 1; }
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: $(words $(FORMAT_FILES)) files follow .clang-format"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
