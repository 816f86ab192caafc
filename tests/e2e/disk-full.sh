#!/bin/sh
# End-to-end: the disk under the run directory fills up while a partition
# holds. The run must say so (history.jsonl: No space left on device),
# stop the workload, heal the partition, take the cluster down, and keep
# every whole line it wrote: `faultline check` reads the history back.
# Needs root and etcd (the test micro-VM). Prints "ok N - what".
. "$(dirname "$0")/lib/common.sh"
e2e_begin 'umount "$T/full" 2>/dev/null'
need_root_etcd
mkdir -p "$T/full"
# 160 KiB: plan, run.json and the nodes' logs take some; the history
# (about 300 bytes an op at 100 ops/s) fills the rest within seconds
mount -t tmpfs -o size=160k,mode=0755 faultline-full "$T/full" ||
	{ echo "not ok 1 - cannot mount a small tmpfs"; exit 1; }

before=$(leftovers)
"$FL" run --runs "$T/full" --set duration=60s --set nemesis.0.at=3s --set nemesis.0.for=50s \
	--set nemesis.1.at=55s --set nemesis.1.for=2s scenarios/quickstart.yaml >"$T/run.out" 2>&1
st=$?
sed 's/^/# /' "$T/run.out" | grep -v '^# $' | tail -8
check "the run ends with an error (exit 2), not a verdict" test "$st" -eq 2
check "it names the history and the full disk" \
	grep -q 'history.jsonl: No space left on device: the workload stopped' "$T/run.out"
check "it stopped well before the planned 60 s" \
	sh -c "! grep -q 'healed f1.0' '$T/run.out'"
check "the partition held at that moment was healed" grep -q 'healed  f0.0 partition (end of run)$' "$T/run.out"
dir=$(ls -d "$T"/full/quickstart-*-42 2>/dev/null | head -1)
cp "$dir/history.jsonl" "$T/history.jsonl" 2>/dev/null
check "history.jsonl holds only whole lines, every one an op" python3 -c "
import json
data = open('$T/history.jsonl').read()
assert data.endswith('\n'), 'torn last line'
ops = [json.loads(l) for l in data.splitlines()]
assert len(ops) > 100, len(ops)
assert all(o['type'] in ('invoke', 'ok', 'fail', 'info') for o in ops)
"
"$FL" check "$T/history.jsonl" >"$T/check.out" 2>&1
cst=$?
sed 's/^/# check: /' "$T/check.out" | tail -3
check "faultline check reads what was written (exit 0, 1 or 3, not 2)" \
	sh -c "[ $cst -eq 0 ] || [ $cst -eq 1 ] || [ $cst -eq 3 ]"
check "nothing left behind: namespaces and links" test "$before" = "$(leftovers)"
check "no etcd left running" sh -c "! pidof etcd"
check "no qdisc of faultline's on any link" sh -c "! tc qdisc show | grep -E 'netem|prio'"
exit $((failed > 0))
