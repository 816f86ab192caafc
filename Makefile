# faultline — one non-recursive Makefile (git's is the model).
# `make` builds build/faultline and build/faultline-agent; `make check` runs the
# unit tier on the host and the kernel and e2e tiers inside the test micro-VM.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
DESTDIR ?=
CC      ?= cc
CFLAGS  ?= -O2 -g
LDFLAGS ?=
PKG_CONFIG ?= pkg-config

# Sanitizer builds live in their own tree so objects never mix.
ifdef SANITIZE
BUILD   ?= build/san-$(subst $(comma),-,$(SANITIZE))
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD   ?= build
SAN_FLAGS :=
endif
comma := ,

WARN := -Wall -Wextra -Wmissing-prototypes -Wstrict-prototypes -Wvla -Wformat=2 \
        -Wwrite-strings -fno-common -Wshadow -Wno-unused-parameter \
        -Wno-missing-field-initializers
# CI (and anyone who sets WERROR=1) turns every warning into an error.
ifneq ($(or $(CI),$(WERROR)),)
WARN += -Werror
endif

PKGS      := yaml-0.1 jansson libnl-3.0 libnl-route-3.0 libcurl libvirt liblzma libnats
TEST_PKGS := cmocka

# Debian packages: build, tests, the test micro-VM. `make deps` installs them.
DEB_BUILD := gcc make pkg-config libyaml-dev libjansson-dev libnl-3-dev libnl-route-3-dev \
             libvirt-dev libcurl4-openssl-dev libcmocka-dev liblzma-dev libnats-dev
DEB_TEST  := iproute2 qemu-system-x86 busybox-static linux-image-amd64 kmod cpio \
             libxml2-utils iputils-ping etcd-server etcd-client redis-server redis-sentinel nats-server \
             chromium libvirt-daemon-system libvirt-clients e2fsprogs vagrant vagrant-libvirt \
             clang libclang-rt-14-dev valgrind python3 procps
DEB_ALL   := $(DEB_BUILD) $(DEB_TEST)

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   := $(shell $(PKG_CONFIG) --libs $(TEST_PKGS) 2>/dev/null)

ALL_CFLAGS  = -std=gnu11 $(WARN) $(SAN_FLAGS) -Iinclude -Iharness $(PKG_CFLAGS) \
              -D_GNU_SOURCE -DFL_VERSION='"$(VERSION)"' $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(SAN_FLAGS) -Wl,--as-needed $(LDFLAGS)
LIBS        = $(PKG_LIBS) -lm

VERSION := $(shell git describe --always --dirty 2>/dev/null | sed 's/^/0.1.0-/' || echo 0.1.0)
ifeq ($(VERSION),)
VERSION := 0.1.0
endif

# --- sources ---------------------------------------------------------------
# The engine: everything of the harness except main(), shared with the tests.
LIB_SRC := $(sort $(filter-out harness/cli/main.c,$(wildcard harness/*/*.c)))
CLI_SRC := harness/cli/main.c
# The agent: its main() in agent.c, the injectors beside it (also linked into tests).
AGENT_LIB_SRC := $(sort $(filter-out injectors/agent.c,$(wildcard injectors/*.c)))
AGENT_SRC := injectors/agent.c $(AGENT_LIB_SRC)

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
AGENT_OBJ := $(AGENT_SRC:%.c=$(BUILD)/%.o)
AGENT_LIB_OBJ := $(AGENT_LIB_SRC:%.c=$(BUILD)/%.o)

UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
KERNEL_SRC := $(sort $(wildcard tests/kernel/test_*.c))
KERNEL_BIN := $(KERNEL_SRC:tests/kernel/%.c=$(BUILD)/tests/kernel/%)
# Benchmarks: built and run by `make bench` only, never by `make check`.
BENCH_SRC := $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/tests/bench/%)
# Systems under test that faultline must catch (tests/sut/): standalone
# programs, no library of ours; scenarios name them by their build/ path.
SUT_SRC := $(sort $(wildcard tests/sut/*.c))
SUT_BIN := $(patsubst tests/sut/%.c,$(BUILD)/tests/sut/%,$(subst _,-,$(SUT_SRC)))

ALL_OBJ := $(LIB_OBJ) $(CLI_OBJ) $(AGENT_OBJ) $(UNIT_SRC:%.c=$(BUILD)/%.o) \
           $(KERNEL_SRC:%.c=$(BUILD)/%.o) $(BENCH_SRC:%.c=$(BUILD)/%.o) \
           $(SUT_SRC:%.c=$(BUILD)/%.o)

.PHONY: all bench-vm check-long demo-vm demo-run demo-vm-run check check-lab check-unit check-unit-san check-kernel check-e2e check-nats detect deps check-deps install uninstall \
        clean demo tests bench bench-build FORCE
# the SUTs too: a shipped scenario runs one after a plain `make`
all: $(BUILD)/faultline $(BUILD)/faultline-agent $(SUT_BIN)

# A change of compiler or flags rebuilds everything (git's GIT-CFLAGS stamp).
$(BUILD)/CFLAGS.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(LIBS)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/%.o: %.c $(BUILD)/CFLAGS.stamp | check-deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c $(BUILD)/CFLAGS.stamp | check-deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -c -o $@ $<

$(BUILD)/faultline: $(CLI_OBJ) $(LIB_OBJ) $(AGENT_LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# the agent shares the unit conversions with the harness
$(BUILD)/faultline-agent: $(AGENT_OBJ) $(BUILD)/harness/scenario/units.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIB_OBJ) $(AGENT_LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LIBS)

$(BUILD)/tests/kernel/%: $(BUILD)/tests/kernel/%.o $(LIB_OBJ) $(AGENT_LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LIBS)

$(BUILD)/tests/bench/%: $(BUILD)/tests/bench/%.o $(LIB_OBJ) $(AGENT_LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# tests/sut/broken_register.c -> build/tests/sut/broken-register (names as programs are)
.SECONDEXPANSION:
$(SUT_BIN): $(BUILD)/tests/sut/%: $(BUILD)/tests/sut/$$(subst -,_,%).o
	$(CC) $(ALL_LDFLAGS) -o $@ $^

tests: $(UNIT_BIN) $(KERNEL_BIN) $(SUT_BIN)

# keep test objects between runs (they are intermediate files to make)
.SECONDARY:

# pkg-config must find every library, or the build stops with the apt-get line.
check-deps:
	@for p in $(PKGS) $(TEST_PKGS); do \
	  $(PKG_CONFIG) --exists $$p || { \
	    echo "faultline: missing library '$$p'; run 'make deps' as root, or:" >&2; \
	    echo "  apt-get install $(DEB_BUILD)" >&2; exit 1; }; \
	done

deps:
	@missing=$$(for p in $(DEB_ALL); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "deps: installing $$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $$missing || exit 1; \
	else \
	  echo "deps: missing Debian packages; as root run:" >&2; \
	  echo "  apt-get install $$missing" >&2; exit 1; \
	fi

# --- tests -----------------------------------------------------------------
# FAULTLINE_TEST_HOST=1 runs the kernel and e2e tiers on this host instead of
# inside the micro-VM (tests/vm/run); the unit tier always runs on the host.
VM_RUN = tests/vm/run --share $(CURDIR)/$(BUILD) --
# The e2e tier holds whole scenario runs (scenarios.sh, detect.sh: a quarter
# of an hour under emulation): more than tests/vm/run's default 20 minutes.
E2E_VM_RUN = tests/vm/run --timeout 2700 --share $(CURDIR)/$(BUILD) --
# make detect: about 3.5 minutes per seed; 10 minutes each leaves room.
DETECT_VM_RUN = tests/vm/run --timeout $$(( $(DETECT_SEEDS) * 600 + 600 )) --share $(CURDIR)/$(BUILD) --
# make bench-net: about 10 minutes under TCG.
BENCH_VM_RUN = tests/vm/run --timeout 3000 --share $(CURDIR)/$(BUILD) --
ifdef FAULTLINE_TEST_HOST
VM_RUN =
E2E_VM_RUN =
BENCH_VM_RUN =
DETECT_VM_RUN =
endif

# the builds of make check use every core (CI calls a plain `make check`)
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
# CHECK_DRY=1: build, then say what it would run (tests/e2e/host-fresh-make.sh)
check: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all tests
ifdef CHECK_DRY
	@echo "check: built; would run the tiers unit, unit-san, fuzz, kernel, e2e"
else
	@rc=0; \
	$(MAKE) --no-print-directory check-unit || rc=1; \
	$(MAKE) --no-print-directory check-unit-san || rc=1; \
	$(MAKE) --no-print-directory check-fuzz || rc=1; \
	$(MAKE) --no-print-directory check-kernel || rc=1; \
	$(MAKE) --no-print-directory check-e2e || rc=1; \
	tests/tally $(BUILD)/tests/*.tally; exit $$rc
endif

# The Vagrant lab end to end (vagrant/README.md): builds the box when Vagrant
# has none, boots three Debian guests, runs vagrant/scenarios/lab-etcd.yaml
# and destroys the lab. Not in `make check`: a quarter of an hour under TCG.
check-lab: deps
	@$(MAKE) --no-print-directory all
	@FAULTLINE=$(BUILD)/faultline tests/lab/check-lab

# A night in an hour (tests/long/long-night): faultline's memory sampled
# over FL_LONG_MINUTES (default 60) of etcd under faults, in the micro-VM.
# Not in `make check`.
check-long: all
	@tests/vm/run --timeout $$(( $${FL_LONG_MINUTES:-60} * 60 + 1200 )) --share $(CURDIR)/$(BUILD) -- \
	  tests/long/long-night

check-unit: all $(UNIT_BIN)
	@tests/run-tier unit $(BUILD)/tests/unit.tally $(UNIT_BIN)

# The unit tier again under ASan + UBSan (LeakSanitizer included), in a tree
# of its own with the agent test_agentc spawns. clang: its UBSan also catches
# NULL + 0. -O0: builds in half the CPU time of -O1, and the tier waits more
# than it computes. Every process's report goes to SAN_LOG, so one from a
# child fails the tier too. Warnings are policed by the plain build.
SAN_BUILD := $(BUILD)/san-unit
SAN_UNIT  := $(UNIT_BIN:$(BUILD)/%=$(SAN_BUILD)/%)
check-unit-san:
	@$(MAKE) --no-print-directory -j$(JOBS) CC=clang SANITIZE=address,undefined BUILD=$(SAN_BUILD) \
	  CFLAGS='-O0 -g' CI= WERROR= $(SAN_BUILD)/faultline-agent $(SAN_UNIT)
	@rm -rf $(SAN_BUILD)/log && mkdir -p $(SAN_BUILD)/log && \
	SAN_LOG=$(CURDIR)/$(SAN_BUILD)/log \
	ASAN_OPTIONS=log_path=$(CURDIR)/$(SAN_BUILD)/log/asan:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=log_path=$(CURDIR)/$(SAN_BUILD)/log/ubsan:print_stacktrace=1 \
	  tests/run-tier unit-san $(BUILD)/tests/unit-san.tally $(SAN_UNIT)

check-kernel: all $(KERNEL_BIN)
	@$(VM_RUN) tests/run-tier kernel $(BUILD)/tests/kernel.tally $(KERNEL_BIN)

# tests/e2e/host-*.sh run on the host itself: they start micro-VMs of their own.
E2E_HOST := $(sort $(wildcard tests/e2e/host-*.sh))
E2E_VM   := $(filter-out $(E2E_HOST),$(sort $(wildcard tests/e2e/*.sh)))
# crash.sh: 10 seeded repetitions in make check (FL_CRASH_REPS; 20 by hand)
check-e2e: all
	@rc=0; \
	FL_CRASH_REPS=$${FL_CRASH_REPS:-10} FAULTLINE=$(BUILD)/faultline $(E2E_VM_RUN) tests/run-tier e2e $(BUILD)/tests/e2e.tally \
	  $(E2E_VM) || rc=1; \
	FAULTLINE=$(BUILD)/faultline tests/run-tier e2e-host $(BUILD)/tests/e2e-host.tally \
	  $(E2E_HOST) || rc=1; exit $$rc

# The NATS scenarios of tests/e2e/scenarios.sh, shortened (not part of make
# check, which is near its 30-minute limit; 3.5 minutes under TCG).
check-nats: all
	@FAULTLINE=$(BUILD)/faultline FL_ONLY="nats-leader-kill nats-partitions" $(E2E_VM_RUN) \
	  tests/run-tier e2e-nats $(BUILD)/tests/e2e-nats.tally tests/e2e/scenarios.sh

# Detection rates (not part of make check, which runs tests/e2e/detect.sh
# with one seed): each detection scenario and its control over DETECT_SEEDS
# seeds, in the micro-VM; the "# " lines give the rates (README "What
# faultline has caught"). tests/vm/run passes only FAULTLINE_* and FL_* on,
# so the DETECT_* settings go through env inside it.
DETECT_SEEDS ?= 10
detect: all
	@FAULTLINE=$(BUILD)/faultline $(DETECT_VM_RUN) env DETECT_SEEDS=$(DETECT_SEEDS) \
	  DETECT_CONTROL_SEEDS=$${DETECT_CONTROL_SEEDS:-$(DETECT_SEEDS)} DETECT_KEEP=$${DETECT_KEEP:-} \
	  sh -c 'tests/e2e/detect.sh; a=$$?; tests/e2e/detect-broken-register.sh; b=$$?; exit $$((a | b))'

# Throughput of the register workload against a local 3-node etcd, beside
# etcdctl's own load checks (about 3 minutes; README "Benchmarks"):
#   make bench BENCH_ARGS="--seconds 2 --repeat 1 --no-etcdctl"
BENCH_ARGS ?=
bench-build: $(BENCH_BIN)

bench: $(BENCH_BIN)
	@for b in $(filter-out %/bench_net,$(BENCH_BIN)); do $$b $(BENCH_ARGS) || exit 1; done
	@$(MAKE) --no-print-directory bench-net

# Faults through the agents beside the tc binary run once per rule, netem's
# fidelity, up/down of 5/25/64-node clusters, the harness's cost per op
# (README "Performance"; not part of make check): in the micro-VM, whose
# kernel has netem/prio/u32/gact. Writes $(BUILD)/bench.d/net.md and
# $(BUILD)/bench.md. A short look: make bench-net BENCH_NET_ARGS=--quick
BENCH_NET_ARGS ?=
.PHONY: bench-net
bench-net: all $(BUILD)/tests/bench/bench_net
	@mkdir -p $(BUILD)/bench.d
	@FL_VM_QUIET=1 $(BENCH_VM_RUN) $(BUILD)/tests/bench/bench_net --agent $(BUILD)/faultline-agent \
	  --faultline $(BUILD)/faultline --out $(BUILD)/bench.d/net.md $(BENCH_NET_ARGS)
	@tests/bench/bench_md.sh $(BUILD)

# Bring-up time of 1, 3 and 5 libvirt micro-VMs (median of 3) and memory per
# VM (not part of make check; needs root, starts libvirtd if need be).
bench-vm: all
	@FAULTLINE=$(BUILD)/faultline tests/bench/bench_vm.sh

# Targets that install what they need run deps first and then a make of
# their own: this make read pkg-config (PKG_CFLAGS, PKG_LIBS) before deps
# installed the libraries, a fresh one reads it again.
# DEMO_DRY=1: build, then say what the demo would run instead of running it
# (tests/e2e/host-fresh-make.sh).

# The quickstart on a real 3-node etcd cluster: directly when this kernel has
# the traffic-control pieces (faultline doctor), else inside a micro-VM.
demo: deps
	@$(MAKE) --no-print-directory demo-run
demo-run: all
ifdef DEMO_DRY
	@echo "demo: built; would run $(BUILD)/faultline run [--vm] scenarios/quickstart.yaml"
else
	@$(BUILD)/faultline plan scenarios/quickstart.yaml
	@echo
	@if $(BUILD)/faultline doctor >/dev/null 2>&1; then \
	  $(BUILD)/faultline run scenarios/quickstart.yaml; \
	else \
	  echo "demo: this kernel lacks netem/prio/gact (faultline doctor): running in a micro-VM"; \
	  $(BUILD)/faultline run --vm scenarios/quickstart.yaml; \
	fi
endif

# The VM half: etcd on three libvirt micro-VMs, its leader's VM powered off
# and booted again (root; libvirtd started when it is not running, and
# stopped again).
demo-vm: deps
	@$(MAKE) --no-print-directory demo-vm-run
demo-vm-run: all
	@sh -c '. tests/e2e/lib/common.sh; \
	  libvirtd_ensure || { echo "demo-vm: libvirtd cannot be started (faultline doctor)"; exit 2; }; \
	  $(BUILD)/faultline run scenarios/vm-etcd-power-off.yaml; rc=$$?; libvirtd_release; exit $$rc'

LIBEXECDIR ?= $(PREFIX)/libexec/faultline

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(BUILD)/faultline $(BUILD)/faultline-agent $(DESTDIR)$(BINDIR)/
	install -m 0755 tests/vm/run $(DESTDIR)$(LIBEXECDIR)/vm-run

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/faultline $(DESTDIR)$(BINDIR)/faultline-agent \
	  $(DESTDIR)$(LIBEXECDIR)/vm-run

clean:
	rm -rf build

-include $(ALL_OBJ:.o=.d)

# Linearizability checker benchmark (not part of make check): Porcupine's
# corpora from ../shared/data (or $FAULTLINE_SHARED_DATA) and a generated
# 1,000,000-op history.
.PHONY: bench-check
bench-check: $(BUILD)/faultline $(BUILD)/tests/bench/bench_check
	$(BUILD)/tests/bench/bench_check $(BUILD)/faultline

$(BUILD)/tests/bench/%: $(BUILD)/tests/bench/%.o $(LIB_OBJ) $(AGENT_LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# The checker on generated hard histories (tests/bench/bench_check_hard.c; not
# part of make check; up to HARD_COUNT x HARD_TIMEOUT s per build), beside
# the build of BENCH_BASE (default 91c2d53, the checker before issue 15's
# work, exported by git archive into $(BUILD)/bench-base and built there);
# writes $(BUILD)/bench.d/hard.md and joins build/bench.md (bench_md.sh).
#   make bench-check-hard HARD_COUNT=8 HARD_TIMEOUT=10 BENCH_BASE=
BENCH_BASE ?= 91c2d53
HARD_COUNT ?= 24
HARD_TIMEOUT ?= 60
.PHONY: bench-check-hard
bench-check-hard: $(BUILD)/faultline $(BUILD)/tests/bench/bench_check_hard
	@if [ -n "$(BENCH_BASE)" ]; then \
	  rm -rf $(BUILD)/bench-base && mkdir -p $(BUILD)/bench-base && \
	  git archive $(BENCH_BASE) | tar -x -C $(BUILD)/bench-base && \
	  $(MAKE) --no-print-directory -C $(BUILD)/bench-base BUILD=build build/faultline >/dev/null; fi
	@mkdir -p $(BUILD)/bench.d
	$(BUILD)/tests/bench/bench_check_hard --count $(HARD_COUNT) --timeout $(HARD_TIMEOUT) \
	  --dir $(BUILD)/bench-hard --md $(BUILD)/bench.d/hard.md \
	  $(if $(BENCH_BASE),--before $(BUILD)/bench-base/build/faultline) $(BUILD)/faultline
	@tests/bench/bench_md.sh $(BUILD)

# Coverage-guided fuzzing (clang + libFuzzer): one target per parser of
# outside input, tests/fuzz/fuzz_*.c. The engine is compiled once into
# $(FUZZ_BUILD)/obj and linked into each target. tests/fuzz/run runs each
# FUZZ_SECONDS on its seeds (tests/fuzz/corpus/TARGET, the tests' inputs,
# ../shared/data when there) and replays tests/fuzz/regress/TARGET:
#   make fuzz FUZZ_SECONDS=60     (make check runs check-fuzz: 5 s each)
FUZZ_SECONDS ?= 30
FUZZ_SHORT_SECONDS ?= 5
FUZZ_CC    ?= clang
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_CFLAGS = -std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=all -Iinclude -Iharness $(PKG_CFLAGS) -D_GNU_SOURCE \
              -DFL_VERSION='"$(VERSION)"' -MMD -MP
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BIN   := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_OBJ   := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRC) $(AGENT_LIB_SRC))
.PHONY: fuzz fuzz-build check-fuzz
$(FUZZ_BUILD)/obj/%.o: %.c | check-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_OBJ)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS) -lm
fuzz-build: $(FUZZ_BIN)
fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run $(FUZZ_NAMES)
# a build failure (no clang) is not ok lines from tests/fuzz/run, not a skip
check-fuzz:
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz-build; \
	FUZZ_SECONDS=$(FUZZ_SHORT_SECONDS) FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_NAMES="$(FUZZ_NAMES)" \
	  tests/run-tier fuzz $(BUILD)/tests/fuzz.tally tests/fuzz/run
-include $(FUZZ_OBJ:.o=.d) $(FUZZ_NAMES:%=$(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.d)
