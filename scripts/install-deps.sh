#!/bin/bash
# Installs what ringtap needs to build, test and benchmark on Debian 12.
# Safe to run again; installs only what is missing.
set -eu
pkgs=(
	build-essential pkg-config
	libtracefs-dev libtraceevent-dev libinih-dev libcmocka-dev
	# TLS for tcp outputs and ringtap collect (the tests make their
	# certificates with the openssl command)
	libssl-dev openssl
	trace-cmd bc
	# the service (issue 7): sd_notify/journal, a real systemd in a
	# container for the tests, and the Debian package tools for make deb
	libsystemd-dev systemd-container
	debhelper dpkg-dev fakeroot lintian
	# tests/fuzz: clang with its libFuzzer and sanitizer runtimes,
	# llvm-symbolizer for the stacks, python3 for rtap.py
	clang libclang-rt-14-dev llvm python3
	# BPF programs (issue 6): libbpf, bpftool for vmlinux.h and skeletons
	libbpf-dev bpftool
	# NATS JetStream output and collector (issue 8): the C client, and a
	# real server for the tests and the benchmark
	libnats-dev nats-server
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "installing: ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# tracefs is not mounted at boot on every machine.
if [ ! -e /sys/kernel/tracing/instances ] && [ "$(id -u)" = 0 ]; then
	mount -t tracefs nodev /sys/kernel/tracing
fi
