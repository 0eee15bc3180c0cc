# fieldrelay - plain Makefile.  `make help` lists the targets.
#
#   make            build fieldrelayd and fieldrelay into $(BUILD)/
#   make deps       install the Debian packages we need (idempotent)
#   make check      -Werror build, ASan+UBSan build, unit + integration tests
#   make bench      benchmarks, each printed against a reference from the same run
#   make fuzz       build and briefly run the libFuzzer targets
#   make soak       A - B - C under link flaps, kills and a full disk (SOAK_MINUTES=10; root)
#   make demo       a small simulated deployment on this machine
#   make install    honours DESTDIR and PREFIX
#
# BUILD=dir puts objects elsewhere (parallel builds); SAN=1 adds ASan+UBSan;
# V=1 shows the commands.

BUILD	?= build
# `make` alone builds everything (the agents' generated rules come before `all`).
.DEFAULT_GOAL := all
PREFIX	?= /usr/local
DESTDIR	?=
CC	?= cc
PKG_CONFIG ?= pkg-config

PKGS	:= sqlite3 inih jansson libsodium libsystemd libnl-3.0 libnl-route-3.0 libnl-genl-3.0 libpcap
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

WARN	:= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	   -Wno-unused-parameter
CFLAGS	?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP
LDLIBS	:= $(PKG_LIBS) -lpthread -lm
ifeq ($(WERROR),1)
ALL_CFLAGS += -Werror
endif
ifeq ($(SAN),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Folders are layers, lowest first (DESIGN.md section 3).  Each layer's code is
# compiled with the include paths of its own and the lower layers only, so an
# upward #include fails to compile.  Tests, tools and the CLI see everything.
LAYERS	:= relay/base relay/bundle relay/store radio radio/drivers relay/daemon relay/ctl
INC_relay/base	  := -Irelay/base
INC_relay/bundle  := $(INC_relay/base) -Irelay/bundle
INC_relay/store	  := $(INC_relay/bundle) -Irelay/store
INC_radio	  := $(INC_relay/bundle) -Iradio
INC_radio/drivers := $(INC_radio) -Iradio/drivers
INC_relay/daemon  := $(INC_relay/store) -Iradio -Iradio/drivers -Irelay/daemon
INC_relay/ctl	  := $(INC_relay/daemon) -Irelay/ctl
INC_relay/app	  := -Irelay/app
INC_ALL		  := $(INC_relay/ctl) -Irelay/app -Irelay/cli
# The include flags for source file $(1): its folder's layer, or all of them.
inc = $(or $(INC_$(patsubst %/,%,$(dir $(1)))),$(INC_ALL))

# Agents (fieldrelay-NAME, DESIGN.md section 1): one line each, the agent's folder.
# Agent NAME in folder DIR describes its [NAME] section in DIR/NAME_config.c, which
# exports `const struct config_section NAME_config_section` (relay/base/config_section.h):
# the daemon and the CLI link that file in, so that fieldrelayd -n and fieldrelay
# config-check check the section, while the daemon itself skips it when it starts.
AGENTS	:=
# Test-only, until a real agent's section is checked the same way: [testagent] in
# tests/unit/test_config.c and tests/integration/test_config_check.py.
AGENTS	+= tests/agent/testagent
AGENTS	+= relay/echo
AGENTS	+= relay/track
AGENTS	+= voice
AGENT_NAMES := $(foreach a,$(AGENTS),$(notdir $(a)))
AGENT_CONFIG_SRCS := $(foreach a,$(AGENTS),$(a)/$(notdir $(a))_config.c)
AGENT_TABLE := $(BUILD)/gen/config_agents.c

LIB_SRCS  := $(filter-out relay/main.c,$(foreach d,$(LAYERS),$(wildcard $(d)/*.c))) $(AGENT_CONFIG_SRCS)
CLI_SRCS  := $(wildcard relay/cli/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_SUPPORT := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(AGENT_TABLE:.c=.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/%.o)
UNIT_SUPPORT_OBJS := $(UNIT_SUPPORT:%.c=$(BUILD)/%.o)
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)
FUZZ_BINS := $(FUZZ_SRCS:%.c=$(BUILD)/%)
LIB	  := $(BUILD)/libfieldrelay-core.a

# libfieldrelay, the application API (relay/app): what agents link, static and
# shared.  Its objects are position-independent so that both come from them.
APP_SRCS  := $(wildcard relay/app/*.c)
APP_OBJS  := $(APP_SRCS:%.c=$(BUILD)/%.o)
APP_A	  := $(BUILD)/libfieldrelay.a
APP_SONAME := libfieldrelay.so.1
APP_SO	  := $(BUILD)/$(APP_SONAME)
APP_LIBS  := $(shell $(PKG_CONFIG) --libs jansson inih 2>/dev/null)

# An agent with a program (DIR/NAME.c holds its main) is built as build/fieldrelay-NAME
# from its folder's .c files and libfieldrelay alone: it sees the daemon only through
# the application API.  DIR/agent.mk may name more commands the program answers to by
# argv[0] (AGENT_ALIASES_NAME := ping: build/fieldrelay-ping, a link to it, which
# `fieldrelay ping` runs) and libraries it needs (AGENT_LIBS_NAME).
-include $(foreach a,$(AGENTS),$(wildcard $(a)/agent.mk))
AGENT_PROGS := $(foreach a,$(AGENTS),$(if $(wildcard $(a)/$(notdir $(a)).c),$(a)))
AGENT_BINS := $(foreach a,$(AGENT_PROGS),$(BUILD)/fieldrelay-$(notdir $(a)))
AGENT_ALIASES := $(foreach a,$(AGENT_PROGS),$(AGENT_ALIASES_$(notdir $(a))))
AGENT_LINKS := $(AGENT_ALIASES:%=$(BUILD)/fieldrelay-%)
$(foreach a,$(AGENTS),$(eval INC_$(a) := -Irelay/base -Irelay/app -I$(a)))
# An agent's modules (its .c files but the one with main and its section, which
# the core library already holds) also make $(BUILD)/agents/libNAME.a, so that
# unit tests, benchmarks and fuzz targets test them: tests see the agents' folders.
AGENT_MOD_SRCS := $(foreach a,$(AGENTS),$(filter-out $(a)/$(notdir $(a)).c $(a)/$(notdir $(a))_config.c,\
	$(wildcard $(a)/*.c)))
AGENT_ARCHIVES := $(foreach a,$(AGENTS),$(BUILD)/agents/lib$(notdir $(a)).a)
AGENT_TEST_LIBS := $(sort $(foreach a,$(AGENTS),$(AGENT_LIBS_$(notdir $(a)))))
INC_TESTS := $(INC_ALL) $(foreach a,$(AGENTS),-I$(a))
INC_tests/unit := $(INC_TESTS)
INC_tests/bench := $(INC_TESTS)
INC_tests/fuzz := $(INC_TESTS)
define agent_archive
$(BUILD)/agents/lib$(notdir $(1)).a: $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(1)/$(notdir $(1)).c \
    $(1)/$(notdir $(1))_config.c,$(wildcard $(1)/*.c)))
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  AR      $$@")
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach a,$(AGENTS),$(eval $(call agent_archive,$(a))))

define agent_prog
$(BUILD)/fieldrelay-$(notdir $(1)): $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(1)/*.c)) $(APP_A)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(APP_LIBS) $$(AGENT_LIBS_$(notdir $(1)))
endef
define agent_alias
$(BUILD)/fieldrelay-$(2): $(BUILD)/fieldrelay-$(1)
	$$(Q)ln -sf fieldrelay-$(1) $$@
endef
$(foreach a,$(AGENT_PROGS),$(eval $(call agent_prog,$(a))))
$(foreach a,$(AGENT_PROGS),$(foreach x,$(AGENT_ALIASES_$(notdir $(a))),$(eval $(call agent_alias,$(notdir $(a)),$(x)))))

DAEMON	:= $(BUILD)/fieldrelayd
CLI	:= $(BUILD)/fieldrelay

.PHONY: all deps check bench fuzz fuzz-build demo install clean help tests sims soak FORCE
all: $(DAEMON) $(CLI) $(APP_A) $(APP_SO) $(AGENT_BINS) $(AGENT_LINKS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(call inc,$<) -c -o $@ $<

$(APP_OBJS): ALL_CFLAGS += -fPIC

$(APP_A): $(APP_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(APP_SO): $(APP_OBJS) relay/app/libfieldrelay.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,$(APP_SONAME) -Wl,--version-script,relay/app/libfieldrelay.map \
	    -o $@ $(APP_OBJS) $(APP_LIBS)
	$(Q)ln -sf $(APP_SONAME) $(BUILD)/libfieldrelay.so

# The table of the agents' sections, config_agent_sections[]: rewritten only when
# AGENTS changes, so that nothing is rebuilt otherwise.
$(AGENT_TABLE): FORCE
	@mkdir -p $(dir $@)
	$(Q){ echo '/* Generated by the Makefile from AGENTS: the config section of each agent. */'; \
	  echo '#include "config_section.h"'; \
	  for n in $(AGENT_NAMES); do echo "extern const struct config_section $${n}_config_section;"; done; \
	  echo 'const struct config_section *const config_agent_sections[] = {'; \
	  for n in $(AGENT_NAMES); do echo "	&$${n}_config_section,"; done; \
	  echo '	NULL,'; echo '};'; } > $@.tmp
	$(Q)cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp

$(AGENT_TABLE:.c=.o): $(AGENT_TABLE)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_relay/base) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(DAEMON): $(BUILD)/relay/main.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(CLI): $(CLI_OBJS) $(APP_A) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(UNIT_SUPPORT_OBJS) $(AGENT_ARCHIVES) $(LIB) $(APP_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(AGENT_TEST_LIBS) -lcmocka

$(BUILD)/tests/bench/%: $(BUILD)/tests/bench/%.o $(AGENT_ARCHIVES) $(LIB) $(APP_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(AGENT_TEST_LIBS)

# Helper programs the integration tests drive.
HELPER_BINS := $(BUILD)/tests/integration/helpers/bundletool
$(BUILD)/tests/integration/helpers/bundletool: $(BUILD)/tests/integration/helpers/bundletool.o \
    $(BUILD)/relay/cli/dump.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
HELPER_BINS += $(BUILD)/tests/integration/helpers/admintool
$(BUILD)/tests/integration/helpers/admintool: $(BUILD)/tests/integration/helpers/admintool.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
HELPER_BINS += $(BUILD)/tests/integration/helpers/linkwatch
$(BUILD)/tests/integration/helpers/linkwatch: $(BUILD)/tests/integration/helpers/linkwatch.o \
    $(BUILD)/radio/drivers/netlink.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The emulators (tests/sim): standalone, libc and libm only.
SIM_BINS := $(BUILD)/tests/sim/linkemu $(BUILD)/tests/sim/seremu
$(BUILD)/tests/sim/%: $(BUILD)/tests/sim/%.o $(BUILD)/tests/sim/emu.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lm
.SECONDARY: $(SIM_BINS:%=%.o) $(BUILD)/tests/sim/emu.o

# The audio pacer between two Direwolf TNCs (tests/harness/direwolf.py).
SIM_BINS += $(BUILD)/tests/sim/audio_pacer
$(BUILD)/tests/sim/audio_pacer: $(BUILD)/tests/sim/audio_pacer.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

# Iridium SBD: the modem and gateway simulator (tests/sim; libc and the DirectIP
# codec), and the helper that drives radio/drivers/sbd.c from the integration tests.
SIM_BINS += $(BUILD)/tests/sim/sbdsim
$(BUILD)/tests/sim/sbdsim: $(BUILD)/tests/sim/sbdsim.o $(BUILD)/radio/drivers/directip.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^
HELPER_BINS += $(BUILD)/tests/integration/helpers/sbdtool
$(BUILD)/tests/integration/helpers/sbdtool: $(BUILD)/tests/integration/helpers/sbdtool.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Our MAVLink code on the command line, held against node-mavlink
# (tests/integration/test_mavlink_interop.py): it sees the track agent's folder.
HELPER_BINS += $(BUILD)/tests/integration/helpers/mavdump
INC_tests/integration/helpers := $(INC_TESTS)
$(BUILD)/tests/integration/helpers/mavdump: $(BUILD)/tests/integration/helpers/mavdump.o \
    $(BUILD)/agents/libtrack.a $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(AGENT_LIBS_track)

# libFuzzer targets need clang.  The library is compiled once, instrumented
# (fuzzer-no-link), into $(BUILD)/fuzz/libfieldrelay-fuzz.a; each target is
# its own object linked against it with the fuzzer's main.
FUZZ_DIR  := $(BUILD)/fuzz
FUZZ_LIB  := $(FUZZ_DIR)/libfieldrelay-fuzz.a
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	   $(PKG_CFLAGS) -MMD -MP
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_DIR)/%.o) $(AGENT_MOD_SRCS:%.c=$(FUZZ_DIR)/%.o) \
	$(FUZZ_DIR)/gen/config_agents.o

$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)clang $(FUZZ_CFLAGS) $(call inc,$<) -c -o $@ $<

$(FUZZ_DIR)/gen/config_agents.o: $(AGENT_TABLE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)clang $(FUZZ_CFLAGS) $(INC_relay/base) -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/fuzz/%: $(FUZZ_DIR)/tests/fuzz/%.o $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)clang $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS) $(AGENT_TEST_LIBS)
.SECONDARY: $(FUZZ_SRCS:%.c=$(FUZZ_DIR)/%.o)

tests: all $(UNIT_BINS) $(BENCH_BINS) $(HELPER_BINS) $(SIM_BINS)

# The emulators and simulators (tests/sim) alone, for the benchmarks.
sims: $(SIM_BINS)

deps:
	$(Q)sh tests/deps.sh install

check:
	$(Q)sh tests/deps.sh ensure
	$(Q)sh tests/run-tests.sh

bench:
	$(Q)sh tests/deps.sh ensure
	$(Q)sh tests/bench/run.sh

fuzz-build: $(FUZZ_BINS)

fuzz:
	$(Q)sh tests/deps.sh ensure
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)
	$(Q)sh tests/fuzz/run.sh $(BUILD) $${FUZZ_SECONDS:-20}

demo:
	$(Q)sh tests/deps.sh ensure
	$(Q)$(MAKE) --no-print-directory all $(SIM_BINS)
	$(Q)bash tests/demo.sh $(BUILD)

# Not in make check: SOAK_MINUTES of faults, then delivery judged (tests/soak/soak.py).
SOAK_MINUTES ?= 10
soak:
	$(Q)sh tests/deps.sh ensure
	$(Q)$(MAKE) --no-print-directory all $(SIM_BINS)
	$(Q)SOAK_MINUTES=$(SOAK_MINUTES) FIELDRELAY_BUILD=$(BUILD) /usr/bin/python3 tests/soak/soak.py

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/fieldrelay/configs
	install -m 755 $(DAEMON) $(DESTDIR)$(PREFIX)/sbin/fieldrelayd
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/fieldrelay
	$(foreach b,$(AGENT_BINS),install -m 755 $(b) $(DESTDIR)$(PREFIX)/bin/;)
	$(foreach a,$(AGENT_PROGS),$(foreach x,$(AGENT_ALIASES_$(notdir $(a))),\
	    ln -sf fieldrelay-$(notdir $(a)) $(DESTDIR)$(PREFIX)/bin/fieldrelay-$(x);))
	install -m 644 configs/*.conf $(DESTDIR)$(PREFIX)/share/fieldrelay/configs/
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 644 $(APP_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(APP_SO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(APP_SONAME) $(DESTDIR)$(PREFIX)/lib/libfieldrelay.so
	install -m 644 relay/app/fieldrelay.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/.*VERSION "\(.*\)"/\1/p' relay/base/version.h)|' \
	    relay/app/fieldrelay.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/fieldrelay.pc

clean:
	rm -rf build build-* .pytest_cache tests/integration/__pycache__ tests/harness/__pycache__

help:
	@sed -n '1,/^$$/p' Makefile

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
