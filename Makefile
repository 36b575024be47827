# ringtap — one non-recursive Makefile; everything it builds goes to build/.
# make            build ringtapd, ringtap and the test tools
# make check      unit tests (cmocka) + integration tests on the real kernel
# make bench      benchmarks (figures and ratios, not pass/fail)
# make install DESTDIR= PREFIX=
# V=1 shows the commands.

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKG_CONFIG ?= pkg-config
VERSION := 0.1.0

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

B := build
PKGS := libtracefs libtraceevent inih libsystemd openssl libnats
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS))
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka)

CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter \
	-Wformat=2 -Wshadow -fno-strict-aliasing -D_GNU_SOURCE \
	-DRINGTAP_VERSION='"$(VERSION)"' -Iinclude -Ilib $(PKG_CFLAGS) -MMD -MP
LDLIBS := $(PKG_LIBS) -lpthread

LIB_SRCS := $(wildcard lib/*.c)
DAEMON_SRCS := $(wildcard daemon/*.c)
CLI_SRCS := $(wildcard cli/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
TOOL_SRCS := $(wildcard tests/tools/*.c)

LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(B)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(B)/%.o)
LIBRT := $(B)/libringtap.a
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(B)/tools/%)

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all check unit integration bench install install-systemd clean asan

all: $(B)/ringtapd $(B)/ringtap $(TOOL_BINS)

# The sanitizer build: the same sources with ASan+UBSan under build/asan/.
# make check runs the unit tests and the integration tests with these.
A := $(B)/asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
ASAN_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(A)/tests/%)

$(A)/%.o: %.c
	@mkdir -p $(@D)
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(ASAN_FLAGS) -c $< -o $@

$(A)/libringtap.a: $(LIB_SRCS:%.c=$(A)/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^

$(A)/ringtapd: $(DAEMON_SRCS:%.c=$(A)/%.o) $(A)/libringtap.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ASAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(A)/ringtap: $(CLI_SRCS:%.c=$(A)/%.o) $(A)/libringtap.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ASAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(A)/tests/%: $(A)/tests/unit/%.o $(A)/libringtap.a
	@mkdir -p $(@D)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ASAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

asan: $(A)/ringtapd $(A)/ringtap $(ASAN_UNIT_BINS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIBRT): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/ringtapd: $(DAEMON_OBJS) $(LIBRT)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/ringtap: $(CLI_OBJS) $(LIBRT)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(LIBRT)
	@mkdir -p $(@D)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

$(B)/tools/%: $(B)/tests/tools/%.o $(LIBRT)
	@mkdir -p $(@D)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests and integration tests share one runner so that the last line
# is a single "N passed, N failed" summary.
check: all $(UNIT_BINS) asan
	$(Q)tests/run-tests.sh $(B) $(TESTS)

unit: $(UNIT_BINS)
	$(Q)tests/run-tests.sh --unit-only $(B)

bench: all
	$(Q)bench/run-bench.sh $(B)
	$(Q)bench/run-decode-bench.sh $(B)
	$(Q)bench/run-bpf-bench.sh $(B)

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(B)/ringtapd $(DESTDIR)$(PREFIX)/sbin/ringtapd
	install -m 0755 $(B)/ringtap $(DESTDIR)$(PREFIX)/bin/ringtap
	install -d $(DESTDIR)/etc/ringtap
	install -m 0644 config/ringtap.conf $(DESTDIR)/etc/ringtap/ringtap.conf
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 man/ringtap.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 man/ringtap.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 man/ringtapd.8 $(DESTDIR)$(PREFIX)/share/man/man8/

# The unit and tmpfiles for installs outside a package (the Debian package
# installs them with debhelper).  ExecStart= names $(PREFIX)/sbin.
UNITDIR ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
install-systemd:
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(TMPFILESDIR)
	sed 's|/usr/sbin/ringtapd|$(PREFIX)/sbin/ringtapd|' packaging/ringtapd.service \
		>$(DESTDIR)$(UNITDIR)/ringtapd.service
	install -m 0644 packaging/ringtap.tmpfiles $(DESTDIR)$(TMPFILESDIR)/ringtap.conf

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' -type f -not -path '*/deb/*' 2>/dev/null)

# BPF programs and their skeletons (bpf/bpf.mk).
include bpf/bpf.mk

# The Debian package (packaging/deb.mk): make deb.
-include packaging/deb.mk

# Fuzzing (tests/fuzz/fuzz.mk): make fuzz, and a bounded run in make check.
-include tests/fuzz/fuzz.mk
