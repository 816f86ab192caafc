#!/bin/sh
# Runs on the host (not in the test VM): `faultline up` of a libvirt
# cluster (mode create) boots three micro-VMs, each agent answers over its
# virtio-serial channel, the host reaches every node on the bridge, a
# partition applied through the channels cuts a node off and heals, and
# `down` leaves no domain, link or file. Needs root and libvirtd
# (qemu:///system): started here when it is not running, and stopped again.
# Prints "ok N - what" / "not ok N - what".
FL=${FAULTLINE:-build/faultline}
T=$(mktemp -d)
n=0 failed=0
. "$(dirname "$0")/lib/common.sh"
skip_unless_root "libvirt cluster"
if ! libvirtd_ensure; then
	echo "not ok 1 - libvirtd could not be started (make deps installs it; see 'faultline doctor')"
	libvirtd_release
	rm -rf "$T"
	exit 1
fi
export FAULTLINE_STATE=$(mktemp -d)
trap '"$FL" down >/dev/null 2>&1; libvirtd_release; rm -rf "$T" "$FAULTLINE_STATE"' EXIT
before=$(leftovers)
cat >"$T/lv.yaml" <<'YAML'
name: e2e-libvirt
duration: 10m
cluster:
  provider: libvirt
  nodes: 3
  libvirt: {mode: create, memory: 512MiB, vcpus: 1, accel: auto}
system: {type: etcd}
workload: {type: none}
YAML
start=$(date +%s%N)
check "up boots three domains and every agent answers over its channel" "$FL" up "$T/lv.yaml"
echo "# up took $(( ($(date +%s%N) - start) / 1000000 )) ms"
if [ "$failed" -ne 0 ]; then
	# never probe addresses of a cluster that is not there: they are routed
	# off this machine
	echo "libvirt: up failed; the other checks are not run"
	exit 1
fi
dir=$(ls -d "$FAULTLINE_STATE"/*/ | head -1)
id=$(basename "$dir")
check "status: 3 agents ready" sh -c "$FL status | grep -c 'agent ready' | grep -qx 3"
check "status names the provider and the accelerator" \
	sh -c "$FL status --json | grep -Eq '\"accel\": \"(kvm|tcg)\"'"
echo "# $("$FL" status --json | grep -E '"(accel|accel_why|boot_ms)"' | head -3 | tr -s ' ' | tr '\n' ' ')"
check "three transient domains named after the cluster" \
	sh -c "virsh -c qemu:///system list --name | grep -c '^fl-$id-n[123]\$' | grep -qx 3"
for i in 2 3 4; do
	# (five tries: on a loaded machine a guest answered ARP only later)
	check "the host reaches node 10.213.0.$i on the bridge" \
		sh -c "for t in 1 2 3 4 5; do ping -c 1 -W 2 10.213.0.$i && exit 0; done; exit 1"
done
"$FL" inject partition --mode isolate --targets n1 >"$T/inj.out" 2>&1 &
inj=$!
for i in $(seq 300); do grep -q '^cut:' "$T/inj.out" && break; sleep 0.1; done
check "inject through the channels reports the cuts" grep -q '^cut: ' "$T/inj.out"
check "status shows the fault held, over the channels the partition spares" \
	sh -c "$FL status | grep -q '[1-9] fault undo entr'"
kill -INT "$inj"
wait "$inj"
check "Ctrl-C heals the partition" grep -q 'partition healed' "$T/inj.out"
check "down" "$FL" down
check "no domain of the cluster is left" \
	sh -c "! virsh -c qemu:///system list --all --name | grep -q '^fl-$id-'"
after=$(leftovers)
check "no link is left" [ "$before" = "$after" ]
check "the state directory is gone" sh -c "[ -z \"\$(ls $FAULTLINE_STATE)\" ]"
check "libvirt's logs of the domains are gone" sh -c "! ls /var/log/libvirt/qemu/fl-$id-* 2>/dev/null"
echo "libvirt: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
