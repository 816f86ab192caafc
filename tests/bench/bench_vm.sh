#!/bin/sh
# Bring-up of libvirt micro-VM clusters (mode create): for 1, 3 and 5 nodes
# (BENCH_VM_NODES), BENCH_VM_REPEAT times each (default 3), the wall time of
# `faultline up` (every VM booted, every agent answering over its channel)
# and of `faultline down`, as medians; and the memory per VM: the resident
# size of each domain's qemu process once it is up. Needs root; starts
# libvirtd when it is not running (and stops it again). Prints figures; it
# asserts nothing about speed.
FL=${FAULTLINE:-build/faultline}
NODES=${BENCH_VM_NODES:-1 3 5}
REPEAT=${BENCH_VM_REPEAT:-3}
T=$(mktemp -d)
n=0 failed=0
. "$(dirname "$0")/../e2e/lib/common.sh"
[ "$(id -u)" = 0 ] || { echo "bench_vm: needs root"; exit 2; }
libvirtd_ensure || { echo "bench_vm: libvirtd cannot be started"; exit 2; }
export FAULTLINE_STATE="$T/state"
mkdir -p "$FAULTLINE_STATE"
trap '"$FL" down >/dev/null 2>&1; libvirtd_release; rm -rf "$T"' EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : int((v[NR/2]+v[NR/2+1])/2)}'; }
echo "bench_vm: $(nproc) cores, accel $(grep -Eq 'vmx|svm' /proc/cpuinfo && echo 'kvm?' || echo tcg), $REPEAT runs each"
printf '%-6s %12s %12s %14s\n' nodes "up median" "down median" "RSS per VM"
for k in $NODES; do
	cat >"$T/b.yaml" <<YAML
name: bench-vm
duration: 10m
cluster:
  provider: libvirt
  nodes: $k
  libvirt: {mode: create, memory: 512MiB, vcpus: 1, accel: auto}
system: {type: etcd}
workload: {type: none}
YAML
	: >"$T/up"; : >"$T/down"; : >"$T/rss"
	for r in $(seq "$REPEAT"); do
		t=$(ms)
		if ! "$FL" up "$T/b.yaml" >"$T/up.out" 2>&1; then
			echo "bench_vm: up of $k nodes failed:"; sed 's/^/  /' "$T/up.out"; exit 1
		fi
		echo $(( $(ms) - t )) >>"$T/up"
		for p in $(pgrep -f 'guest=fl-.*-n[0-9]'); do
			awk '/^VmRSS/ {print $2}' "/proc/$p/status" >>"$T/rss"
		done
		t=$(ms)
		"$FL" down >/dev/null 2>&1 || { echo "bench_vm: down failed"; exit 1; }
		echo $(( $(ms) - t )) >>"$T/down"
	done
	printf '%-6s %10s ms %10s ms %11s MiB\n' "$k" "$(median <"$T/up")" "$(median <"$T/down")" \
		"$(( $(median <"$T/rss") / 1024 ))"
done
