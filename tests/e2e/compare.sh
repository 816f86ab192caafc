#!/bin/sh
# End-to-end: `faultline compare` on real runs. Two runs of one healthy
# etcd scenario compare as no regression; a third with 300 ms of latency on
# every node is flagged (exit 1). The thresholds are wide on purpose: the
# test micro-VM is an emulated machine whose latencies wander, while the
# added latency multiplies the median. Needs root and etcd (the micro-VM).
. "$(dirname "$0")/lib/common.sh"
e2e_begin
need_root_etcd

cat >"$T/cmp.yaml" <<'YAML'
name: cmp
seed: 1
duration: 15s
cluster: {nodes: 3}
system: {type: etcd, ready_timeout: 90s}
workload: {type: register, clients: 3, rate: "30/s", keys: 3, timeout: 3s}
checks: {converge: true}
YAML
sed 's/^checks:/nemesis:\n  - {fault: latency, targets: all, latency: 300ms, at: 0s}\nchecks:/' \
	"$T/cmp.yaml" >"$T/cmp-slow.yaml"

for f in cmp cmp cmp-slow; do
	"$FL" run --runs "$T/runs-$f" "$T/$f.yaml" >"$T/$f.out" 2>&1 ||
		{ echo "# run of $f.yaml failed:"; sed 's/^/# /' "$T/$f.out" | tail -5; }
	sleep 1 # distinct run directory names
done
set -- $(ls -d "$T"/runs-cmp/cmp-* 2>/dev/null)
slow=$(ls -d "$T"/runs-cmp-slow/cmp-* 2>/dev/null | head -1)
check "two healthy runs and a slow one exist" test -n "$2" -a -n "$slow"
"$FL" compare --threshold 100% --min-delta 200ms "$1" "$2" >"$T/same.out" 2>&1
st=$?
sed 's/^/# /' "$T/same.out" | tail -6
check "two healthy runs: no regression (exit 0)" test "$st" -eq 0
"$FL" compare --threshold 100% --min-delta 200ms "$1" "$slow" >"$T/slow.out" 2>&1
st=$?
sed 's/^/# /' "$T/slow.out" | tail -6
check "the run slowed by 300 ms per node: a regression (exit 1)" test "$st" -eq 1
check "and a phase says why" grep -q '^[a-z0-9.]* .*REGRESSION: [a-z0-9, ]*$' "$T/slow.out"
"$FL" compare "$1" "$T/nothing" >/dev/null 2>&1
check "a directory that is no run: exit 2" test $? -eq 2
echo "compare: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
