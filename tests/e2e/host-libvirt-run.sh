#!/bin/sh
# Runs on the host (not in the test VM): `faultline run` of etcd on three
# libvirt micro-VMs (mode create; TCG without KVM): the leader cut off by a
# partition (netem and u32 inside the guests), later powered off (its VM
# destroyed, then booted again from its disk, etcd started again on it);
# every check passes and nothing is left behind. Then a run killed with
# SIGKILL mid-fault: its reaper removes its domains, bridge, disks and files
# by itself. libvirtd is started when it is not running, and stopped again.
# Prints "ok N - what" / "not ok N - what".
FL=${FAULTLINE:-build/faultline}
T=$(mktemp -d)
n=0 failed=0
. "$(dirname "$0")/lib/common.sh"
skip_unless_root "libvirt runs"
if ! libvirtd_ensure; then
	echo "not ok 1 - libvirtd could not be started (make deps installs it; see 'faultline doctor')"
	libvirtd_release
	rm -rf "$T"
	exit 1
fi
export FAULTLINE_STATE=$(mktemp -d)
trap '"$FL" down >/dev/null 2>&1; libvirtd_release; rm -rf "$T" "$FAULTLINE_STATE"' EXIT
domains() { virsh -c qemu:///system list --all --name | grep -c '^fl-' ; }
before=$(leftovers)
cat >"$T/vm.yaml" <<'YAML'
name: e2e-vm-run
seed: 3
duration: 90s
cluster:
  provider: libvirt
  nodes: 3
  libvirt: {mode: create, memory: 512MiB, vcpus: 1, accel: auto}
system: {type: etcd, ready_timeout: 4m}
workload: {type: register, clients: 3, rate: "20/s", keys: 5, timeout: 3s}
nemesis:
  - fault: partition
    name: isolate the leader
    mode: isolate
    targets: leader
    at: 15s
    for: 15s
  - fault: power-off
    name: power off the leader
    targets: leader
    at: 45s
    for: 15s
checks:
  linearizable: {timeout: 60s}
  failover: {within: 25s}
  no_lost_writes: true
  converge: {within: 90s}
  leader_per_term: true
YAML
"$FL" run --runs "$T/runs" "$T/vm.yaml" >"$T/run.out" 2>&1
rc=$?
sed 's/^/# /' "$T/run.out" | grep -E 'applied|healed|ready|PASS|FAIL|UNKNOWN|ops:' 
check "the run passes every check (exit 0)" [ "$rc" = 0 ]
dir=$(ls -d "$T"/runs/e2e-vm-run-*/ 2>/dev/null | head -1)
check "run.json names the provider and the accelerator" \
	sh -c "grep -q '\"provider\": \"libvirt\"' $dir/run.json && grep -Eq '\"accel\": \"(kvm|tcg)\"' $dir/run.json"
check "the partition and the power-off were applied and healed" \
	sh -c "grep -c '\"event\":\"heal\"' $dir/faults.jsonl | grep -qx 2"
check "failover judged both leader-removing faults" \
	sh -c "grep -q 'failover.*PASS.*2 leader-removing faults' $T/run.out"
check "every node's log came back into the run directory" \
	sh -c "ls $dir/logs/n1.log $dir/logs/n2.log $dir/logs/n3.log"
check "the powered-off node started etcd again (two starts in one log)" \
	sh -c "grep -c 'etcd Version' $dir/logs/n*.log | grep -q ':2\$'"
check "no domain is left" [ "$(domains)" = 0 ]
check "no link is left" [ "$before" = "$(leftovers)" ]
check "the state directory is empty" sh -c "[ -z \"\$(ls $FAULTLINE_STATE)\" ]"

# kill -9 mid-fault: no handler of the run sees it; its reaper takes the
# cluster down as `faultline down` would (domains, bridge, disks, state)
"$FL" run --runs "$T/runs" --set nemesis.1.at=10s "$T/vm.yaml" >"$T/kill.out" 2>&1 &
pid=$!
for i in $(seq 3000); do grep -q 'applied f1.0 power-off' "$T/kill.out" && break; sleep 0.1; done
kill -9 "$pid"
wait "$pid" 2>/dev/null
t0=$(date +%s)
# down_by_itself: within 2 minutes no domain and no state of the run is left
down_by_itself() {
	for i in $(seq 1200); do
		[ "$(domains)" = 0 ] && [ -z "$(ls "$FAULTLINE_STATE")" ] && return 0
		sleep 0.1
	done
	virsh -c qemu:///system list --all --name | grep '^fl-'
	ls -l "$FAULTLINE_STATE"
	return 1
}
check "the killed run had powered the leader off" grep -q 'applied f1.0 power-off' "$T/kill.out"
check "after kill -9, its domains and state are gone without a faultline down" down_by_itself
echo "# gone $(($(date +%s) - t0)) s after the kill"
check "no link is left after the kill" [ "$before" = "$(leftovers)" ]
check "no data directory of the run is left on the host" \
	sh -c "! ls -d /var/tmp/faultline-data-* 2>/dev/null"
check "faultline down afterwards finds no cluster up" \
	sh -c "! '$FL' down 2>&1 && '$FL' down 2>&1 | grep -q 'no cluster is up'"
echo "libvirt-run: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
