#!/bin/sh
# Runs on the host (not in the test VM): libvirt mode attach. `faultline up`
# of a create-mode cluster makes three domains (the template); an attach
# scenario names them (one over qemu+tcp://127.0.0.1/system when this test
# started libvirtd itself, listening on 127.0.0.1 only) and runs etcd with
# a leader partition and a leader suspend: every check passes, the agents
# are reached through virDomainOpenChannel, and `down` of the attach
# cluster leaves every domain running and unchanged; `down` of the create
# cluster then removes them. Needs root. Prints "ok N - what".
FL=${FAULTLINE:-build/faultline}
T=$(mktemp -d)
n=0 failed=0
. "$(dirname "$0")/lib/common.sh"
skip_unless_root "libvirt attach"
# libvirtd: when none runs, one of ours that also listens on 127.0.0.1:16509
# (no auth: loopback only), so a node can be reached over a remote URI
remote=""
cat >"$T/libvirtd.conf" <<'CONF'
listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
auth_tcp = "none"
CONF
if ! libvirtd_ensure -l -f "$T/libvirtd.conf"; then
	echo "not ok 1 - libvirtd could not be reached or started (make deps installs it)"
	libvirtd_release
	rm -rf "$T"
	exit 1
fi
virsh -c qemu+tcp://127.0.0.1/system version >/dev/null 2>&1 && remote="qemu+tcp://127.0.0.1/system"
export FAULTLINE_STATE=$(mktemp -d)
trap '"$FL" down --cluster e2e-attach >/dev/null 2>&1; "$FL" down --cluster e2e-attach-create >/dev/null 2>&1; libvirtd_release; rm -rf "$T" "$FAULTLINE_STATE"' EXIT
before=$(leftovers)
cat >"$T/create.yaml" <<'YAML'
name: e2e-attach-create
duration: 10m
cluster:
  provider: libvirt
  nodes: 3
  libvirt: {mode: create, memory: 512MiB, vcpus: 1, accel: auto}
system: {type: etcd}
workload: {type: none}
YAML
check "up of the create-mode cluster (the domains to attach to)" "$FL" up "$T/create.yaml"
"$FL" status --cluster e2e-attach-create --json >"$T/create.json"
id=$(sed -n 's/^  "id": "\(.*\)",/\1/p' "$T/create.json" | head -1)
subnet=$(grep -o '"subnet": "[^"]*"' "$T/create.json" | head -1 | cut -d'"' -f4)
addr() { grep -o '"addr": "[^"]*"' "$T/create.json" | sed -n "${1}p" | cut -d'"' -f4; }
virsh -c qemu:///system dumpxml "fl-$id-n1" >"$T/n1.before.xml"
uri2=${remote:-qemu:///system}
echo "# node n2 reached over $uri2"
cat >"$T/attach.yaml" <<YAML
name: e2e-attach
seed: 5
duration: 75s
cluster:
  provider: libvirt
  nodes: 3
  subnet: $subnet
  libvirt:
    mode: attach
    domains:
      - {name: fl-$id-n1, address: $(addr 1)}
      - {name: fl-$id-n2, uri: "$uri2", address: $(addr 2)}
      - {name: fl-$id-n3, address: $(addr 3)}
system: {type: etcd, ready_timeout: 4m}
workload: {type: register, clients: 3, rate: "20/s", keys: 5, timeout: 3s}
nemesis:
  - {fault: partition, name: isolate the leader, mode: isolate, targets: leader, at: 10s, for: 12s}
  - {fault: suspend, name: suspend the leader, targets: leader, at: 35s, for: 12s}
checks:
  linearizable: {timeout: 60s}
  failover: {within: 25s}
  no_lost_writes: true
  converge: {within: 90s}
  leader_per_term: true
YAML
"$FL" run --runs "$T/runs" "$T/attach.yaml" >"$T/run.out" 2>&1
rc=$?
sed 's/^/# /' "$T/run.out" | grep -E 'applied|healed|ready|PASS|FAIL|UNKNOWN|ops:|error'
check "the attach run passes every check (exit 0)" [ "$rc" = 0 ]
dir=$(ls -d "$T"/runs/e2e-attach-*/ 2>/dev/null | head -1)
check "the partition and the suspend were applied and healed" \
	sh -c "grep -c '\"event\":\"heal\"' $dir/faults.jsonl | grep -qx 2"
check "the domains are all running after the run" \
	sh -c "[ \$(virsh -c qemu:///system list --state-running --name | grep -c '^fl-$id-') = 3 ]"
# the domains outlive a run: a second one must start on fresh data
"$FL" run --runs "$T/runs2" --seed 6 "$T/attach.yaml" >"$T/run2.out" 2>&1
rc=$?
sed 's/^/# /' "$T/run2.out" | grep -E 'ready|FAIL|UNKNOWN|error'
check "a second attach run on the same domains passes too (the first one's etcd stopped, fresh data)" [ "$rc" = 0 ]
check "up of the attach cluster" "$FL" up "$T/attach.yaml"
"$FL" inject suspend --cluster e2e-attach --targets n2 --for 4s >"$T/susp.out" 2>&1 &
inj=$!
for i in $(seq 100); do virsh -c qemu:///system domstate "fl-$id-n2" | grep -qx paused && break; sleep 0.1; done
check "a VM fault on the node reached over $uri2: suspended" \
	sh -c "virsh -c qemu:///system domstate fl-$id-n2 | grep -qx paused"
wait "$inj"
check "and resumed when the fault ends" \
	sh -c "virsh -c qemu:///system domstate fl-$id-n2 | grep -qx running"
check "status of the attach cluster: 3 agents ready through libvirt" \
	sh -c "$FL status --cluster e2e-attach | grep -c 'agent ready' | grep -qx 3"
check "status says mode attach and where each address came from" \
	sh -c "$FL status --cluster e2e-attach --json | grep -q '\"mode\": \"attach\"' && $FL status --cluster e2e-attach --json | grep -q '\"addr_from\": \"scenario\"'"
virsh -c qemu:///system suspend "fl-$id-n3" >/dev/null
check "down of the attach cluster" "$FL" down --cluster e2e-attach
check "down resumed the domain suspended behind its back (found running)" \
	sh -c "virsh -c qemu:///system domstate fl-$id-n3 | grep -qx running"
check "the domains are still there and running" \
	sh -c "[ \$(virsh -c qemu:///system list --state-running --name | grep -c '^fl-$id-') = 3 ]"
virsh -c qemu:///system dumpxml "fl-$id-n1" >"$T/n1.after.xml"
check "a domain's definition is unchanged" cmp "$T/n1.before.xml" "$T/n1.after.xml"
check "the create cluster still answers" \
	sh -c "$FL status --cluster e2e-attach-create | grep -c 'agent ready' | grep -qx 3"
check "an attach of a missing domain is refused, naming it" \
	sh -c "! $FL up --set cluster.libvirt.domains.0.name=fl-nosuch-n1 $T/attach.yaml 2>$T/miss.err && grep -q \"no domain 'fl-nosuch-n1'\" $T/miss.err"
check "down of the create cluster" "$FL" down --cluster e2e-attach-create
check "no domain is left" sh -c "! virsh -c qemu:///system list --all --name | grep -q '^fl-$id-'"
check "no link is left" [ "$before" = "$(leftovers)" ]
check "the state directory is empty" sh -c "[ -z \"\$(ls $FAULTLINE_STATE)\" ]"
echo "libvirt-attach: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
