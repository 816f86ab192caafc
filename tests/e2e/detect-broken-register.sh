#!/bin/sh
# End-to-end: faultline catches a system that is broken on purpose. The
# replicated register of tests/sut/broken_register.c acknowledges writes
# without waiting for any replica and reads locally; scenarios/broken-register.yaml
# cuts one node off while clients write on both sides. On every one of
# DETECT_SEEDS seeds (default 2) the run must exit 1 with no_lost_writes
# FAILing (the final reads disagree, or a write is lost, and it says which)
# and linearizable FAILing (a key with no order, the op named); the same
# scenario without the partition (DETECT_CONTROL_SEEDS runs, default 1)
# must exit 0 with every check PASSing. One "# " line gives the rates.
# Needs root (the test micro-VM); DETECT_KEEP=DIR keeps the run directories.
SUT=build/tests/sut/broken-register   # where the scenario's ../build/... points
SEEDS=${DETECT_SEEDS:-2}
CSEEDS=${DETECT_CONTROL_SEEDS:-1}
FILE=scenarios/broken-register.yaml
. "$(dirname "$0")/lib/common.sh"
e2e_begin
[ "$(id -u)" = 0 ] || { echo "skip 1 - needs root"; exit 0; }

# verdict DIR CHECK: the check's verdict in DIR/results.json and its why
verdict() {
	python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + '/results.json'))
c = [c for c in r['checks'] if c['name'] == sys.argv[2]]
print(c[0]['verdict'] + ' ' + c[0]['why'] if c else 'MISSING no such check')
PY
}

# caught_lost WHY / caught_nonlin WHY: a FAIL that says what it caught
caught_lost() {
	case $1 in
	"FAIL final reads of k"*" disagree: "*) return 0 ;;
	"FAIL "*" acknowledged write"*" lost; first: write "*) return 0 ;;
	esac
	return 1
}
caught_nonlin() {
	case $1 in "FAIL key 'k"*"' is not linearizable: no order fits history.jsonl line "*) return 0 ;; esac
	return 1
}
all_pass() { # "check VERDICT why" lines: three PASS
	test "$(echo "$1" | grep -c '^[a-z_]* PASS ')" -eq 3
}

check "the broken register is built ($SUT; make builds it)" test -x "$SUT"
before=$(leftovers)
lost=0 nonlin=0 exit1=0 secs=0
seed=1
while [ "$seed" -le "$SEEDS" ]; do
	R=${DETECT_KEEP:-$T}/runs-faulted-$seed
	t0=$(date +%s)
	"$FL" run --runs "$R" --seed "$seed" "$FILE" >"$T/run.out" 2>&1
	st=$?
	secs=$((secs + $(date +%s) - t0))
	dir=$(ls -d "$R"/broken-register-* 2>/dev/null | head -1)
	nlw=$(verdict "$dir" no_lost_writes 2>/dev/null)
	lin=$(verdict "$dir" linearizable 2>/dev/null)
	echo "# seed $seed: exit $st; no_lost_writes $nlw"
	echo "# seed $seed: linearizable $lin"
	[ "$st" -eq 1 ] && exit1=$((exit1 + 1))
	check "seed $seed: the run exits 1 (a check failed)" test "$st" -eq 1
	# FAIL and say what: nodes that disagree on a key, or the lost write
	caught_lost "$nlw" && lost=$((lost + 1))
	check "seed $seed: no_lost_writes FAILs and names the key or the lost write" \
		caught_lost "$nlw"
	caught_nonlin "$lin" && nonlin=$((nonlin + 1))
	check "seed $seed: linearizable FAILs and names the op no order fits" caught_nonlin "$lin"
	seed=$((seed + 1))
done
ok=0 cs=0
seed=1
while [ "$seed" -le "$CSEEDS" ]; do
	R=${DETECT_KEEP:-$T}/runs-control-$seed
	t0=$(date +%s)
	"$FL" run --runs "$R" --seed "$seed" --set 'nemesis=[]' "$FILE" >"$T/run.out" 2>&1
	st=$?
	cs=$((cs + $(date +%s) - t0))
	dir=$(ls -d "$R"/broken-register-* 2>/dev/null | head -1)
	all=$(for c in linearizable no_lost_writes converge; do echo "$c $(verdict "$dir" $c 2>/dev/null)"; done)
	echo "$all" | sed "s/^/# control seed $seed: /"
	check "control seed $seed: no partition, the run exits 0" test "$st" -eq 0
	check "control seed $seed: linearizable, no_lost_writes and converge PASS" all_pass "$all"
	[ "$st" -eq 0 ] && all_pass "$all" && ok=$((ok + 1))
	seed=$((seed + 1))
done
after=$(leftovers)
check "nothing left behind (namespaces, links, processes, data)" \
	sh -c "test '$before' = '$after' && ! pidof broken-register && ! ls -d /var/tmp/faultline-data-* 2>/dev/null"
echo "# broken-register: no_lost_writes FAIL $lost/$SEEDS seeds, linearizable FAIL $nonlin/$SEEDS," \
	"exit 1 $exit1/$SEEDS; control PASS $ok/$CSEEDS;" \
	"$((secs / (SEEDS > 0 ? SEEDS : 1))) s per faulted run, $((cs / (CSEEDS > 0 ? CSEEDS : 1))) s per control"
echo "detect-broken-register: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
