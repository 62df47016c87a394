# audiomus build. GNU make + pkg-config; no generated makefiles.
#
#   make            release build: build/release/audiomus
#   make asan       ASan+UBSan build: build/asan/audiomus (+ its unit tests)
#   make hooks      the test build beside it: $(BUILD)/hooks/audiomus{,-xcode}
#                   with the test hooks (AM_TEST_HOOKS), never shipped
#   make check      unit tests (cmocka) and fuzz-corpus replay, release build
#   make test       everything a user's test command runs (scripts/test-all)
#   make test-cluster  the cluster test (tests/cluster/): needs AUDIOMUS_TEST_PG_URL
#                   and the S3 test server (eval "$(scripts/s3-test env)")
#   make fuzz       libFuzzer targets (clang), each run for FUZZ_SECONDS
#   make lint       clang-format check, banned functions, cppcheck, no test
#                   hooks in $(BIN) and $(XCODE_BIN)
#   make bench      benchmarks side by side with the references (bench/run)
#   make screenshots  the README's docs/screenshots/*.png from the browser story
#
# Sources are found by wildcard so that a new file in src/<component>/ needs no
# edit here: src/main/ is the binary, everything else is libaudiomus.a, which the
# binary, the unit tests, the fuzzers and the benchmarks link (h2o's lib/ split).

MODE     ?= release
BUILD    ?= build/$(MODE)
CC       ?= cc
FUZZ_CC  ?= clang
FUZZ_SECONDS ?= 60

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

PKGS := libmicrohttpd gnutls libcrypto libsodium sqlite3 libpq jansson libcurl \
        libavformat libavcodec libswresample libavutil libebur128 libarchive libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
ifeq ($(PKG_LIBS),)
$(error pkg-config could not find the libraries; run ./scripts/dev deps first)
endif

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter -Werror
HARDEN := -fstack-protector-strong -fPIE -fstack-clash-protection
HARDEN_LD := -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack

ifeq ($(MODE),asan)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
else
OPT := -O2 -g -D_FORTIFY_SOURCE=3
LDSAN :=
endif

CPPFLAGS += -D_GNU_SOURCE -Isrc -I$(BUILD)/gen -DAM_VERSION='"$(VERSION)"' -DAM_GIT_REV='"$(GIT_REV)"'
CFLAGS   += -std=c11 $(OPT) $(WARN) $(HARDEN) $(PKG_CFLAGS)
LDFLAGS  += $(HARDEN_LD) $(LDSAN)
LDLIBS   += $(PKG_LIBS) -lpthread -lm

LIB_SRC  := $(sort $(filter-out src/main/%,$(wildcard src/*/*.c)))
MAIN_SRC := $(sort $(wildcard src/main/*.c))
# The second binary, audiomus-xcode: the sandboxed transcoding child, the only
# program that links FFmpeg (docs/transcoding.md "Two binaries"). Both link
# with --as-needed, so `audiomus` does not even load FFmpeg's libraries.
XCODE_SRC := $(sort $(wildcard src/main/xcode/*.c))
# Sources generated at build time: the web assets and the common-password list.
GEN_SRC  := $(BUILD)/gen/assets.c $(BUILD)/gen/api_pwlist.c
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(GEN_SRC:%.c=%.o)
MAIN_OBJ := $(MAIN_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libaudiomus.a
BIN      := $(BUILD)/audiomus
XCODE_BIN := $(BUILD)/audiomus-xcode

# Test hooks (docs/development.md "Test hooks"), as SQLite's SQLITE_TEST: the
# library files that test AM_TEST_HOOKS (src/util/test_hooks.c,
# src/xcode/xcode_hooks.c; never a header or src/main/, `make lint` checks)
# are compiled a second time with it into $(BUILD)/hooks/, and
# $(BUILD)/hooks/libaudiomus.a is the library with those objects swapped in.
# The unit tests and the test binaries $(BUILD)/hooks/audiomus{,-xcode} link
# it; $(BIN) and $(XCODE_BIN) never do. A test build of a MODE therefore costs
# two small compiles, one archive and two links, not a second build.
HOOK_SRC := $(sort $(shell grep -lE '^[[:space:]]*\#[[:space:]]*if.*AM_TEST_HOOKS' $(LIB_SRC)))
HOOK_OBJ := $(HOOK_SRC:%.c=$(BUILD)/hooks/%.o)
HOOK_LIB := $(BUILD)/hooks/libaudiomus.a
HOOK_BIN := $(BUILD)/hooks/audiomus
HOOK_XCODE_BIN := $(BUILD)/hooks/audiomus-xcode

# tests/unit/<component>/test_<name>.c -> $(BUILD)/tests/<component>_test_<name>
UNIT_SRC := $(sort $(wildcard tests/unit/*/test_*.c))
UNIT_BIN := $(foreach f,$(UNIT_SRC),$(BUILD)/tests/$(word 3,$(subst /, ,$(f)))_$(basename $(notdir $(f))))
UNIT_HELPERS := $(sort $(wildcard tests/unit/*/helper_*.c))

# fuzz/<target>.c with fuzz/corpus/<target>/; the replay driver lets gcc builds
# replay the corpora in make check, clang builds fuzz for real in make fuzz.
FUZZ_SRC := $(sort $(filter-out fuzz/replay_main.c,$(wildcard fuzz/*.c)))
FUZZ_REPLAY := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%-replay)

BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

# Static web assets embedded at build time (DESIGN §9), plus front-end
# libraries from npm (package-lock.json; `npm ci`) served at /static/vendor/.
ASSETS := $(sort $(shell find web -type f 2>/dev/null))
VENDOR := node_modules/wavesurfer.js/dist/wavesurfer.esm.js \
          node_modules/wavesurfer.js/dist/plugins/regions.esm.js

.PHONY: unit-bins all asan hooks check unit fuzz-replay test test-cluster fuzz lint bench clean run security format screenshots
all: $(BIN) $(XCODE_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/hooks/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DAM_TEST_HOOKS $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/gen/assets.c: $(BUILD)/tools/embed $(ASSETS) $(VENDOR)
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed web $@ $(ASSETS) $(foreach f,$(VENDOR),$(f)=/static/vendor/$(notdir $(f)))

node_modules/%:
	@echo "error: $@ is missing: run 'npm ci' in the repository root (./scripts/dev deps does)" >&2; exit 1

# The common-password list (docs/api.md) from its plain-text source.
$(BUILD)/gen/api_pwlist.c: tools/gen_pwlist.sh tools/data/common-passwords.txt
	@mkdir -p $(dir $@)
	sh tools/gen_pwlist.sh tools/data/common-passwords.txt > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(MAIN_OBJ) $(LIB) -Wl,--as-needed $(LDLIBS)

$(XCODE_BIN): $(XCODE_SRC:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(XCODE_SRC:%.c=$(BUILD)/%.o) $(LIB) -Wl,--as-needed $(LDLIBS)

$(HOOK_LIB): $(filter-out $(HOOK_SRC:%.c=$(BUILD)/%.o),$(LIB_OBJ)) $(HOOK_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(HOOK_BIN): $(MAIN_OBJ) $(HOOK_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(MAIN_OBJ) $(HOOK_LIB) -Wl,--as-needed $(LDLIBS)

$(HOOK_XCODE_BIN): $(XCODE_SRC:%.c=$(BUILD)/%.o) $(HOOK_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(XCODE_SRC:%.c=$(BUILD)/%.o) $(HOOK_LIB) -Wl,--as-needed $(LDLIBS)

hooks: $(HOOK_BIN) $(HOOK_XCODE_BIN)

define unit_rule
$(BUILD)/tests/$(word 3,$(subst /, ,$(1)))_$(basename $(notdir $(1))): $(1) $(HOOK_LIB) $(UNIT_HELPERS) $(wildcard $(dir $(1))*.inc)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) -Itests/unit $$(CFLAGS) -Wno-missing-prototypes $$(LDFLAGS) -o $$@ $(1) $(UNIT_HELPERS) $$(HOOK_LIB) $$(LDLIBS) -lcmocka
endef
$(foreach f,$(UNIT_SRC),$(eval $(call unit_rule,$(f))))

$(BUILD)/fuzz/%-replay: fuzz/%.c fuzz/replay_main.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< fuzz/replay_main.c $(LIB) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

asan:
	$(MAKE) MODE=asan all unit-bins

# Everything the suite runs besides the binaries: unit tests (linked with
# the test hooks), corpus replays, benchmarks, and the test build.
unit-bins: $(UNIT_BIN) $(FUZZ_REPLAY) $(BENCH_BIN) $(HOOK_BIN) $(HOOK_XCODE_BIN)

# Unit tests and fuzz-corpus replay of this MODE; scripts/run-unit prints the
# per-binary results and a "N passed, N failed" line.
check: $(BIN) $(XCODE_BIN) $(UNIT_BIN) $(FUZZ_REPLAY)
	scripts/run-unit $(BUILD) $(UNIT_BIN) -- $(FUZZ_REPLAY)

test:
	scripts/test-all

# 2 web + 2 media + 2 workers on PostgreSQL and Swift s3api, with kill -9 (the
# servers: scripts/pg-test start, scripts/s3-test start); and the systemd units.
# The workers run the test build (a short job lease): $(HOOK_BIN).
test-cluster: $(BIN) $(XCODE_BIN) $(HOOK_BIN) $(HOOK_XCODE_BIN)
	eval "$$(scripts/s3-test env)" && AUDIOMUS_BIN=$(CURDIR)/$(BIN) node --test tests/cluster/

FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
build/fuzz/libaudiomus.a: $(LIB_SRC) $(GEN_SRC)
	@mkdir -p build/fuzz/obj
	cd build/fuzz/obj && for f in $(LIB_SRC:%=$(CURDIR)/%) $(GEN_SRC:%=$(CURDIR)/%); do \
	  $(FUZZ_CC) $(CPPFLAGS:-Isrc=-I$(CURDIR)/src) -I$(CURDIR)/$(BUILD)/gen -std=c11 -O1 -g \
	    -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS) -c -o $$(basename $$f .c).o $$f || exit 1; done
	rm -f $@ && $(AR) rcs $@ build/fuzz/obj/*.o
build/fuzz/%: fuzz/%.c build/fuzz/libaudiomus.a
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) \
	  -o $@ $< build/fuzz/libaudiomus.a $(LDLIBS)
fuzz: $(FUZZ_BIN)
	scripts/run-fuzz $(FUZZ_SECONDS) $(FUZZ_BIN)

# Checks the sources and, for the test hooks, this build's binaries.
lint: $(BIN) $(XCODE_BIN) $(HOOK_BIN) $(HOOK_XCODE_BIN)
	BUILD=$(BUILD) scripts/lint

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'fuzz/*.c' 'bench/*.c' 'tools/*.c')

bench: all $(BENCH_BIN)
	BUILD=$(BUILD) bench/run

security: all
	scripts/security

# Regenerate the README's screenshots (docs/screenshots/*.png) with the
# browser story; a normal test run writes them to a temporary directory.
screenshots: all
	AUDIOMUS_BIN=$(CURDIR)/$(BIN) AUDIOMUS_SCREENSHOTS=docs/screenshots node --test tests/browser/story.test.mjs

run: all
	scripts/dev run --no-deps

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
