# Makefile - build, test, benchmark and demo xlmig (GNU make).
#
#   make            build the library, xlmig, xlmigd, tests and benches
#   make demo       install what is missing, build, run the demo
#   make check      install what is missing, build, run every test
#   make bench      two sim hosts on a shaped veth link, xlmig against the
#                   xl-equivalent (bench/netns.sh, under 20 minutes): JSON
#                   in bench/results/, table and plot in the README
#   make bench-inproc  the codec and in-process migration benches
#   make fuzz       run each fuzz harness for FUZZ_SECONDS (default 300)
#   make faults     run the whole fault matrix (tests/faults/)
#   make xenlab     run every Xen lab scenario (real Xen under QEMU)
#   make install    install into $(PREFIX) (default /usr/local)
#   make include-graph  the include graph between modules, and its cycles
#
# Sources are found by directory: every libxlmig/*.c and backup/*.c goes
# into libxlmig.a (libxlmig/xen_*.c only when configure found libxen-dev),
# tools/<prog>/*.c builds <prog>, tests/unit/*.c the unit-test runner
# (with the command-line parsing of UNIT_TOOL_SRCS),
# tests/fuzz/fuzz_*.c one fuzzer each, bench/*.c one bench each; hooks/*
# (example hooks, if any) are installed into $(PREFIX)/lib/xlmig/hooks.
# Optional folders are only named when they exist.

-include config.mk

B        := build
CC       ?= cc
CLANG    ?= clang
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
LIB_DIRS := libxlmig $(wildcard backup)
BASEFLAGS := -std=gnu11 -g -D_GNU_SOURCE -pthread $(LIB_DIRS:%=-I%) $(DEP_CFLAGS)
ifeq ($(HAVE_XEN),1)
BASEFLAGS += -DXLMIG_HAVE_XEN=1 $(XEN_CFLAGS)
LIBS     := $(XEN_LIBS) $(DEP_LIBS)
else
LIBS     := $(DEP_LIBS)
endif
CFLAGS   ?= -O2
ALLFLAGS := $(WARN) $(BASEFLAGS) $(CFLAGS)
ASANFLAGS := $(WARN) $(BASEFLAGS) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

LIB_SRCS := $(wildcard $(LIB_DIRS:%=%/*.c))
ifneq ($(HAVE_XEN),1)
LIB_SRCS := $(filter-out libxlmig/xen_%.c,$(LIB_SRCS))
endif
HDRS      := $(wildcard $(LIB_DIRS:%=%/*.h) tests/unit/*.h tools/*/*.h)
HOOKS     := $(wildcard hooks/*)
TOOLS     := $(sort $(patsubst tools/%/,%,$(dir $(wildcard tools/*/*.c))))
UNIT_SRCS := $(wildcard tests/unit/*.c)
# The command-line parsing the unit tests check besides the library's.
UNIT_TOOL_SRCS := tools/xlmig/migrate_args.c
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRCS := $(wildcard bench/*.c)

LIB_OBJS  := $(LIB_SRCS:%.c=$(B)/obj/%.o)
ASAN_OBJS := $(LIB_SRCS:%.c=$(B)/asan/%.o)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(B)/fuzzobj/%.o)

PROGS := $(TOOLS:%=$(B)/%) $(B)/unit $(BENCH_SRCS:bench/%.c=$(B)/bench/%)

.PHONY: all build tools deps setup check demo bench bench-inproc fuzz fuzz-build faults faults-build xenlab install clean asan deb-check include-graph
all: build
build: config.mk $(B)/libxlmig.a $(PROGS)
tools: config.mk $(TOOLS:%=$(B)/%)

config.mk: configure
	./configure --quiet

deps:
	sh tools/install-deps.sh

# setup: everything a bare Debian 12 machine lacks, then a fresh config.mk.
setup: deps
	./configure --quiet

$(B)/obj/%.o: %.c $(HDRS) config.mk
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -c $< -o $@

$(B)/asan/%.o: %.c $(HDRS) config.mk
	@mkdir -p $(dir $@)
	$(CC) $(ASANFLAGS) -c $< -o $@

$(B)/libxlmig.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/libxlmig-asan.a: $(ASAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

define tool_rule
$(B)/$(1): $(patsubst %.c,$(B)/obj/%.o,$(wildcard tools/$(1)/*.c)) $(B)/libxlmig.a
	$$(CC) $$(ALLFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

$(B)/unit: $(UNIT_SRCS:%.c=$(B)/obj/%.o) $(UNIT_TOOL_SRCS:%.c=$(B)/obj/%.o) $(B)/libxlmig.a
	$(CC) $(ALLFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/unit-asan: $(UNIT_SRCS:%.c=$(B)/asan/%.o) $(UNIT_TOOL_SRCS:%.c=$(B)/asan/%.o) $(B)/libxlmig-asan.a
	$(CC) $(ASANFLAGS) -o $@ $^ $(LIBS)

asan: config.mk $(B)/unit-asan

$(B)/bench/%: $(B)/obj/bench/%.o $(B)/libxlmig.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# Fuzzers: clang with libFuzzer, ASan and UBSan (undefined behaviour is a
# crash, as in the ASan build), over the library sources.
$(B)/fuzzobj/%.o: %.c $(HDRS) config.mk
	@mkdir -p $(dir $@)
	$(CLANG) $(WARN) $(BASEFLAGS) -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined $(FUZZ_OBJ_FLAGS) -c $< -o $@
# The codec's XOR and run scan compare every word of a page: traced, those
# compares cost the codec fuzzer half its time and guide nothing (the
# words are page contents, not input structure).  Edge coverage stays.
$(B)/fuzzobj/libxlmig/xorrle.o: FUZZ_OBJ_FLAGS := -fno-sanitize-coverage=trace-cmp

$(B)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS) $(HDRS) $(wildcard tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(WARN) $(BASEFLAGS) -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Itests/fuzz -o $@ $< $(FUZZ_LIB_OBJS) $(LIBS)

fuzz-build: config.mk $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)
# Keep the fuzz objects: as prerequisites of a pattern rule only, make
# would delete them after each build and rebuild the library every time.
.SECONDARY: $(FUZZ_LIB_OBJS)

# The fault-injection build (libxlmig/fault.h): xlmigd and the fault
# module's unit tests with the injection points compiled in, in
# $(B)/faults/.  Nothing else is built with them.
FAULTFLAGS := $(ALLFLAGS) -DXLMIG_FAULT_INJECTION
FAULT_OBJS := $(LIB_SRCS:%.c=$(B)/faults/obj/%.o)

$(B)/faults/obj/%.o: %.c $(HDRS) config.mk
	@mkdir -p $(dir $@)
	$(CC) $(FAULTFLAGS) -c $< -o $@

$(B)/faults/libxlmig.a: $(FAULT_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/faults/xlmigd: $(patsubst %.c,$(B)/faults/obj/%.o,$(wildcard tools/xlmigd/*.c)) $(B)/faults/libxlmig.a
	$(CC) $(FAULTFLAGS) -o $@ $^ $(LIBS)

$(B)/faults/unit: $(B)/faults/obj/tests/unit/main.o $(B)/faults/obj/tests/unit/test_fault.o $(B)/faults/libxlmig.a
	$(CC) $(FAULTFLAGS) -o $@ $^ $(LIBS)

faults-build: config.mk $(B)/faults/xlmigd $(B)/faults/unit

faults: build faults-build
	tests/faults/run.sh full

FUZZ_SECONDS ?= 300
fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS)

check: setup
	$(MAKE) build asan fuzz-build faults-build
	tests/run.sh

demo: setup
	$(MAKE) build
	tools/demo.sh

bench: build
	B=$(B) bench/netns.sh --out bench/results/netns-latest.json.tmp
	mv bench/results/netns-latest.json.tmp bench/results/netns-$$(date -u +%Y%m%dT%H%M%SZ).json
	bench/report.py --svg bench/results/netns.svg --readme README.md

bench-inproc: build
	B=$(B) bench/run.sh

xenlab: setup
	$(MAKE) build
	tests/xenlab/run.sh all

# The systemd unit names the installed xlmigd; the configuration file is
# generated from xlmigd's settings table and never replaces one that an
# administrator already has.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(PREFIX)/share/man
# Pacemaker looks for agents here whatever the prefix.
OCFDIR ?= /usr/lib/ocf/resource.d
install: tools
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/xlmig $(foreach s,1 5 7 8,$(DESTDIR)$(MANDIR)/man$(s))
	install -m 0755 $(TOOLS:%=$(B)/%) $(DESTDIR)$(PREFIX)/sbin/
	for s in 1 5 7 8; do install -m 0644 man/*.$$s $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; done
	install -D -m 0755 ocf/guest $(DESTDIR)$(OCFDIR)/xlmig/guest
	install -D -m 0644 completion/xlmig.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/xlmig
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' systemd/xlmigd.service.in >$(DESTDIR)$(SYSTEMDUNITDIR)/xlmigd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/xlmigd.service
	test -e $(DESTDIR)$(SYSCONFDIR)/xlmig/xlmigd.conf || \
		$(B)/xlmigd --print-config >$(DESTDIR)$(SYSCONFDIR)/xlmig/xlmigd.conf
ifneq ($(HOOKS),)
	install -d $(DESTDIR)$(PREFIX)/lib/xlmig/hooks
	# run-parts directories of symlinks: copied as they are (install(1)
	# takes no directories)
	cp -RP --no-preserve=ownership $(HOOKS) $(DESTDIR)$(PREFIX)/lib/xlmig/hooks/
endif

# The Debian package: build, lintian, install, start and purge under
# systemd in a container (tools/deb-check.sh); about 2 minutes.
deb-check: setup
	tools/deb-check.sh

# The direct includes between modules, from the compiler (-MM -MG on
# each file alone); tools/include-graph.sh --files lists them by file.
include-graph: config.mk
	@CC=$(CC) tools/include-graph.sh --modules
	@CC=$(CC) tools/include-graph.sh --cycles

clean:
	rm -rf $(B)
