#!/bin/sh
# End-to-end: `faultline run` with a real 3-node etcd cluster — the leader
# isolated, latency on one link — then the run directory checked: plan,
# history with ops from every client, every fault applied and healed, the
# leader resolution logged, and nothing left behind. Needs root and etcd
# (the test micro-VM). Prints "ok N - what" / "not ok N - what".
. "$(dirname "$0")/lib/common.sh"
e2e_begin
need_root_etcd

before=$( { ls /run/netns 2>/dev/null; ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//'; } | sort)
# the partition holds as long as failover.within (10 s): a failover is
# always forced and judged (one healed sooner would be UNKNOWN: nothing
# was failed over); etcd elected within 2.6-5.3 s under TCG here
"$FL" run --runs "$T/runs" --set duration=38s --set nemesis.0.at=8s --set nemesis.0.for=10s \
	--set nemesis.1.at=22s --set nemesis.1.for=8s scenarios/quickstart.yaml >"$T/run.out" 2>&1
st=$?
sed 's/^/# /' "$T/run.out" | grep -v '^# $' | tail -12
check "run exits 0: etcd keeps every promise the scenario checks" test "$st" -eq 0
check "the checks table is printed, and no check fails" sh -c "grep -q '^check  *verdict  *why' '$T/run.out' && ! grep -q '^[a-z_]*  *FAIL ' '$T/run.out'"
dir=$(ls -d "$T"/runs/quickstart-*-42 2>/dev/null | head -1)
check "the run directory is named scenario-time-seed" test -n "$dir"
check "it holds plan, history, faults and node logs" \
	sh -c "test -s '$dir/plan.json' -a -s '$dir/history.jsonl' -a -s '$dir/faults.jsonl' -a -s '$dir/logs/n1.log'"
check "the reproduce line is printed, with every --set" grep -q '^reproduce: faultline run scenarios/quickstart.yaml --seed 42 --set duration=38s --set nemesis.0.at=8s --set nemesis.0.for=10s --set nemesis.1.at=22s --set nemesis.1.for=8s$' "$T/run.out"
check "run.json names file, seed and overrides; scenario.yaml is a copy" python3 -c "
import json
m = json.load(open('$dir/run.json'))
assert m['file'] == 'scenarios/quickstart.yaml' and m['seed'] == 42, m
assert m['overrides'][0] == 'duration=38s' and len(m['overrides']) == 5, m
assert open('$dir/scenario.yaml').read() == open('scenarios/quickstart.yaml').read()
"
check "history: every client (5) did work, and ok ops exist" python3 -c "
import json
ops = [json.loads(l) for l in open('$dir/history.jsonl')]
done = [o for o in ops if o['type'] != 'invoke']
assert len(done) > 50, len(done)
assert {o['process'] % 5 for o in done if o['type'] == 'ok'} == set(range(5))
inv = {o['i'] for o in ops if o['type'] == 'invoke'}
assert all(o['i'] in inv for o in done)
"
check "faults: each planned fault applied and healed, leader resolved" python3 -c "
import json
ev = [json.loads(l) for l in open('$dir/faults.jsonl')]
applied = {e['fault'] for e in ev if e['event'] == 'apply' and e['ok']}
healed = {e['fault'] for e in ev if e['event'] == 'heal'}
assert applied == {'f0.0', 'f1.0'} and healed == applied, (applied, healed)
assert any('leader' in e for e in ev if e['fault'] == 'f0.0'), ev
b = [e['blocked'] for e in ev if e['fault'] == 'f0.0' and e['event'] == 'apply'][0]
cut = [n for n in b if len(b[n]) == 2]
assert len(cut) == 1 and all(cut[0] in b[m] for m in b if m != cut[0]), b
"
check "results.json holds every check of the scenario, junit.xml validates" sh -c "python3 -c \"
import json
r = json.load(open('$dir/results.json'))
names = [c['name'] for c in r['checks']]
assert names == ['linearizable', 'failover', 'no_lost_writes', 'converge', 'leader_per_term', 'availability'], names
assert r['seed'] == 42 and r['ops']['total'] > 50 and len(r['faults']) == 2, r
assert r['accel'] in ('tcg', 'kvm', 'host') and r['provider'] == 'netns', r
\" && xmllint --noout --schema tests/junit.xsd '$dir/junit.xml'"
after=$( { ls /run/netns 2>/dev/null; ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//'; } | sort)
check "nothing left behind: namespaces and links" test "$before" = "$after"
check "no etcd left running" sh -c "! pidof etcd"
check "the nodes' data is gone" sh -c "! ls -d /var/tmp/faultline-data-* 2>/dev/null"
# Ctrl-C in the middle: the faults are healed, the workload stops, the
# history is kept and the checks still judge what exists; nothing is left.
before=$( { ls /run/netns 2>/dev/null; ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//'; } | sort)
"$FL" run --runs "$T/runs-int" --set duration=60s --set nemesis.0.at=8s --set nemesis.0.for=30s \
	--set nemesis.1.at=45s --set nemesis.1.for=5s scenarios/quickstart.yaml >"$T/int.out" 2>&1 &
pid=$!
# SIGINT once the partition holds (its "applied" line), as a user's Ctrl-C
for i in $(seq 1 120); do grep -q 'applied f0.0' "$T/int.out" 2>/dev/null && break; sleep 1; done
kill -INT "$pid"
wait "$pid"
st=$?
sed 's/^/# /' "$T/int.out" | tr '\r' '\n' | grep -v 'ops ok' | tail -6
idir=$(ls -d "$T"/runs-int/quickstart-* 2>/dev/null | head -1)
check "Ctrl-C: the run ends with a verdict, not an error (exit 0, 1 or 3)" sh -c "test $st -eq 0 -o $st -eq 1 -o $st -eq 3"
check "Ctrl-C: it says so, and the checks still judge what exists" sh -c \
	"grep -q '^interrupted: faults healed' '$T/int.out' && grep -q '^check  *verdict' '$T/int.out' && test -s '$idir/results.json'"
check "Ctrl-C: the partition was healed and logged, the history kept" python3 -c "
import json
ev = [json.loads(l) for l in open('$idir/faults.jsonl')]
assert any(e['fault'] == 'f0.0' and e['event'] == 'heal' for e in ev), ev
assert not any(e['fault'] == 'f1.0' for e in ev), ev
ops = [json.loads(l) for l in open('$idir/history.jsonl')]
assert len(ops) > 20 and max(o['t'] for o in ops) < 40e9, (len(ops), max(o['t'] for o in ops))
"
after=$( { ls /run/netns 2>/dev/null; ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//'; } | sort)
check "Ctrl-C: nothing left behind" sh -c "test '$before' = '$after' && ! pidof etcd && ! ls -d /var/tmp/faultline-data-* 2>/dev/null"
echo "run: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
