#!/bin/sh
# End-to-end: a local cluster through the command line, as a lab user runs
# it: up, status, inject (a partition, measured with real pings), kill -9
# of faultline while the fault holds, heal without agents, down — and
# nothing left behind. Needs root and a kernel with prio/u32/gact (the test
# micro-VM). Prints "ok N - what" / "not ok N - what".
FL=${FAULTLINE:-build/faultline}
export FAULTLINE_STATE=$(mktemp -d)
T=$(mktemp -d)
n=0 failed=0
cleanup() {
	"$FL" down >/dev/null 2>&1
	rm -rf "$T" "$FAULTLINE_STATE"
}
trap cleanup EXIT

. "$(dirname "$0")/lib/common.sh"
skip_all() {
	echo "skip 1 - $1"
	echo "cluster: skipped ($1)"
	exit 0
}
[ "$(id -u)" = 0 ] || skip_all "needs root"
command -v ping >/dev/null || skip_all "needs ping (iputils-ping)"

snapshot() { { ls /run/netns 2>/dev/null; ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//'; } | sort; }
ns() { echo "fl-$id-$1"; }
reach() { # reach FROM TO_ADDR: one ping within 1 s
	ip netns exec "$(ns "$1")" ping -n -q -c 2 -i 0.2 -W 1 "$2" >/dev/null 2>&1
}
addr() { "$FL" status --json | python3 -c "import json,sys; print([n['addr'] for n in json.load(sys.stdin)['nodes'] if n['name']=='$1'][0])"; }

cat >"$T/lab.yaml" <<'YAML'
name: e2e-lab
duration: 10m
cluster: {nodes: 3}
system: {type: etcd}
workload: {type: none}
YAML

snapshot >"$T/before"
check "up brings the cluster up" "$FL" up "$T/lab.yaml"
id=$(ls "$FAULTLINE_STATE")
check "status shows every agent ready" sh -c "$FL status | grep -c 'agent ready' | grep -qx 3"
a2=$(addr n2)
a3=$(addr n3)
check "n1 reaches n2 before any fault" reach n1 "$a2"

# a one-way partition held by `inject` in the background
"$FL" inject partition --mode isolate --targets n2 --direction to --for 30s >"$T/inject.out" 2>&1 &
inj=$!
for i in $(seq 50); do grep -q applied "$T/inject.out" && break; sleep 0.1; done
check "inject reports the fault applied" grep -q "partition applied on" "$T/inject.out"
check "status shows the fault held" sh -c "$FL status | grep -q '[1-9] fault undo entr'"
check "status reads back the drop filters the kernel holds" sh -c "$FL status | grep -q 'kernel holds [0-9]* qdiscs\{0,1\} and [1-9][0-9]* filter'"
check "nothing reaches n2 while isolated ('to')" sh -c "! ip netns exec $(ns n1) ping -n -q -c 3 -i 0.2 -W 1 $a2"
check "n1 still reaches n3" reach n1 "$a3"

# kill -9 of faultline while the partition holds: the agents heal (the
# connection closes at once; the dead-man switch would within 5 s)
start=$(date +%s%N)
kill -9 "$inj"
wait "$inj" 2>/dev/null
healed=""
for i in $(seq 60); do
	if reach n1 "$a2"; then healed=$(( ($(date +%s%N) - start) / 1000000 )); break; fi
done
check "after kill -9 of faultline the partition heals within 6 s" test -n "$healed" -a "${healed:-99999}" -lt 6000
echo "# healed ${healed:-never} ms after kill -9 of faultline inject"

# latency toward one peer only, through the command line
rtt() { # median RTT in ms of 5 pings FROM -> ADDR
	ip netns exec "$(ns "$1")" ping -n -c 5 -i 0.2 -W 2 "$2" 2>/dev/null |
		sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -n | sed -n 3p
}
"$FL" inject latency --targets n1 --peers '[n2]' --latency 100ms --for 30s >"$T/inject3.out" 2>&1 &
inj=$!
for i in $(seq 50); do grep -q applied "$T/inject3.out" && break; sleep 0.1; done
r2=$(rtt n1 "$a2")
r3=$(rtt n1 "$a3")
# timing on an emulated machine: a miss is measured once more
if ! awk -v r="${r2:-0}" -v q="${r3:-999}" 'BEGIN { exit !(r >= 90 && r <= 110 && q < 20) }'; then
	echo "# first measurement ${r2:-none} / ${r3:-none} ms: measuring again"
	r2=$(rtt n1 "$a2")
	r3=$(rtt n1 "$a3")
fi
echo "# median RTT n1->n2 ${r2:-none} ms (latency 100ms toward n2), n1->n3 ${r3:-none} ms"
check "latency 100ms toward n2: RTT within 10%" awk -v r="${r2:-0}" 'BEGIN { exit !(r >= 90 && r <= 110) }'
check "n3 is not a peer: no added delay" awk -v r="${r3:-999}" 'BEGIN { exit !(r < 20) }'
kill -INT "$inj"
wait "$inj"
check "Ctrl-C ends inject and heals" sh -c "grep -q 'latency healed' '$T/inject3.out' && [ \$(printf '%.0f' \$(ip netns exec $(ns n1) ping -n -c 3 -i 0.2 -W 2 $a2 | sed -n 's/.*time=\\([0-9.]*\\) ms/\\1/p' | sort -n | sed -n 2p)) -lt 20 ]"

agent_pids() { python3 -c "import json; print(' '.join(str(n['agent_pid']) for n in json.load(open('$FAULTLINE_STATE/$id/cluster.json'))['nodes']))"; }
pids=$(agent_pids)
check "down removes the cluster" "$FL" down
alive=""
for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
check "down stops every agent" test -z "$alive"
snapshot >"$T/after"
check "no namespace or link is left behind" diff "$T/before" "$T/after"

# agents gone too: `faultline heal` works from their journals
check "up again" "$FL" up "$T/lab.yaml"
"$FL" inject partition --mode isolate --targets n3 --for 30s >"$T/inject2.out" 2>&1 &
inj=$!
for i in $(seq 50); do grep -q applied "$T/inject2.out" && break; sleep 0.1; done
for p in $(agent_pids); do kill -9 "$p"; done
kill -9 "$inj"
wait "$inj" 2>/dev/null
check "with the agents killed the partition still holds" sh -c "! ip netns exec $(ns n1) ping -n -q -c 2 -i 0.2 -W 1 $a3"
check "faultline heal works without agents" "$FL" heal
check "after heal n1 reaches n3 again" reach n1 "$a3"
check "down works without agents" "$FL" down
snapshot >"$T/after"
check "again nothing is left behind" diff "$T/before" "$T/after"

echo "cluster: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
