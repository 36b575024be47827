# BPF programs (bpf/*.bpf.c): compiled with clang -target bpf against a
# vmlinux.h generated from the running kernel's BTF, turned into libbpf
# skeletons with bpftool, all under build/bpf/; linked into ringtapd with
# libbpf.  Included by the Makefile.
CLANG ?= clang
BPFTOOL ?= bpftool
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPF_B := $(B)/bpf
BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' \
	-e 's/ppc64le/powerpc/' -e 's/s390x/s390/' -e 's/riscv64/riscv/')
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:bpf/%.bpf.c=$(BPF_B)/%.bpf.o)
BPF_SKELS := $(BPF_SRCS:bpf/%.bpf.c=$(BPF_B)/%.skel.h)
LIBBPF_CFLAGS := $(shell $(PKG_CONFIG) --cflags libbpf)
LIBBPF_LIBS := $(shell $(PKG_CONFIG) --libs libbpf)
# clang's own system headers for -target bpf (asm/types.h and friends)
BPF_SYS_INCS := $(shell $(CLANG) -v -E - </dev/null 2>&1 | \
	sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

$(BPF_B)/vmlinux.h:
	@mkdir -p $(@D)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c >$@

$(BPF_B)/%.bpf.o: bpf/%.bpf.c bpf/ringtap.bpf.h include/ringtap/bpf_events.h $(BPF_B)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(BPF_ARCH) \
		-I$(BPF_B) -Ibpf -Iinclude $(LIBBPF_CFLAGS) $(BPF_SYS_INCS) -c $< -o $@

$(BPF_B)/%.skel.h: $(BPF_B)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf >$@

# Syscall names of this architecture, for syscall_latency's metadata.
$(BPF_B)/syscall_names.h:
	@mkdir -p $(@D)
	$(call msg,GEN,$@)
	$(Q)echo '#include <asm/unistd.h>' | $(CC) -dM -E - | \
		sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9][0-9]*\)$$/\t[\2] = "\1",/p' >$@

# daemon/bpf*.c include the skeletons; ringtapd links libbpf.
BPF_DAEMON_OBJS := $(patsubst %.c,$(B)/%.o,$(wildcard daemon/bpf*.c)) \
	$(patsubst %.c,$(A)/%.o,$(wildcard daemon/bpf*.c))
$(BPF_DAEMON_OBJS): $(BPF_SKELS) $(BPF_B)/syscall_names.h
$(BPF_DAEMON_OBJS): override CFLAGS += -I$(BPF_B) $(LIBBPF_CFLAGS)
$(B)/ringtapd $(A)/ringtapd: LDLIBS += $(LIBBPF_LIBS)

.PHONY: bpf
bpf: $(BPF_SKELS)
all: bpf

# make bench also measures the BPF emission routes (bench/run-bpf-bench.sh).
.PHONY: bench-bpf
bench: bench-bpf
bench-bpf: all
	$(Q)bench/run-bpf-bench.sh $(B)
