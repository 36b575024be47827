# Fuzzing with libFuzzer (clang), included at the end of the top Makefile.
#
#   make fuzz-build            build/fuzz/fuzz_capture, build/fuzz/fuzz_frames
#   make fuzz                  run each target FUZZ_SECONDS (default 600)
#   make fuzz FUZZ_TARGETS=fuzz_capture FUZZ_SECONDS=3600 FUZZ_JOBS=4
#   make check                 also builds them; tests/integration/test_fuzz.sh
#                              runs them FUZZ_CHECK_SECONDS in all (default 60)
#
# The corpus grows in build/fuzz/corpus/TARGET, seeded read-only from
# tests/fuzz/seeds; crashes land in build/fuzz/artifacts.  See
# tests/fuzz/README.md.
#
CLANG ?= clang
F := $(B)/fuzz
FUZZ_TARGETS ?= fuzz_capture fuzz_frames
FUZZ_SECONDS ?= 600
FUZZ_MAX_LEN ?= 300000
FUZZ_TIMEOUT ?= 10
FUZZ_JOBS ?= 1
FUZZ_OPTS ?=

FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_CFLAGS := $(CFLAGS) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_ALL_BINS := $(F)/fuzz_capture $(F)/fuzz_frames
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(F)/%.o)
FUZZ_COMMON_OBJS := $(F)/tests/fuzz/frame_mutator.o
FUZZ_LDLIBS := $(LDLIBS)


$(F)/%.o: %.c
	@mkdir -p $(@D)
	$(call msg,CC-FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

# fuzz_capture runs cmd_report() too
$(F)/fuzz_capture: $(F)/cli/report.o $(F)/cli/report_bpf.o

$(F)/fuzz_%: $(F)/tests/fuzz/fuzz_%.o $(FUZZ_COMMON_OBJS) $(FUZZ_LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CLANG) $(FUZZ_SAN) -fsanitize=fuzzer $(LDFLAGS) -o $@ $^ $(FUZZ_LDLIBS)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_ALL_BINS)

fuzz: $(FUZZ_TARGETS:%=$(F)/%)
	$(Q)for t in $(FUZZ_TARGETS); do \
		FUZZ_MAX_LEN=$(FUZZ_MAX_LEN) FUZZ_TIMEOUT=$(FUZZ_TIMEOUT) \
		FUZZ_JOBS=$(FUZZ_JOBS) FUZZ_MERGE=1 \
		tests/fuzz/run-fuzz.sh $(F) $$t $(FUZZ_SECONDS) $(FUZZ_OPTS) || exit 1; \
	done

# make check builds the targets too, where clang has its fuzzer runtime
# (test_fuzz.sh skips otherwise); asked only when check is a goal.
ifneq ($(filter check,$(MAKECMDGOALS)),)
FUZZ_HAVE_RUNTIME := $(shell printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' | \
	$(CLANG) -x c -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null && echo yes)
ifeq ($(FUZZ_HAVE_RUNTIME),yes)
check: $(FUZZ_ALL_BINS)
endif
endif
