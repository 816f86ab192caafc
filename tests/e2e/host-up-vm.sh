#!/bin/sh
# Runs on the host (not in the test VM): `faultline up --vm` boots a micro-VM
# holding the whole cluster, and status/inject/heal/down are forwarded to it
# from the host, Ctrl-C included. Prints "ok N - what" / "not ok N - what".
. "$(dirname "$0")/lib/common.sh"
e2e_begin '"$FL" down >/dev/null 2>&1'
cat >"$T/vm.yaml" <<'YAML'
name: e2e-vm
duration: 10m
cluster: {nodes: 4}
system: {type: etcd}
workload: {type: none}
YAML
start=$(date +%s%N)
check "up --vm brings the cluster up inside a micro-VM" "$FL" up --vm "$T/vm.yaml"
echo "# up --vm took $(( ($(date +%s%N) - start) / 1000000 )) ms"
check "status is forwarded: 4 agents ready" sh -c "$FL status | grep -c 'agent ready' | grep -qx 4"
"$FL" inject partition --mode majorities-ring --seed 3 >"$T/inj.out" 2>&1 &
inj=$!
for i in $(seq 100); do grep -q '^cut:' "$T/inj.out" && break; sleep 0.1; done
check "inject is forwarded and reports the cuts" grep -q '^cut: ' "$T/inj.out"
check "status shows the fault held" sh -c "$FL status | grep -q '[1-9] fault undo entr'"
kill -INT "$inj"
wait "$inj"
check "Ctrl-C reaches the VM: the fault is healed" grep -q 'partition healed' "$T/inj.out"
check "status shows no fault" sh -c "! $FL status | grep -q '[1-9] fault undo entr'"
pid=$(python3 -c "import json,glob; print(json.load(open(glob.glob('$FAULTLINE_STATE/*/vm.json')[0]))['pid'])")
check "down is forwarded" "$FL" down
check "the VM is gone" sh -c "! kill -0 $pid 2>/dev/null"
check "the state directory is gone" sh -c "[ -z \"\$(ls $FAULTLINE_STATE)\" ]"
echo "up-vm: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
