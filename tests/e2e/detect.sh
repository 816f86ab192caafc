#!/bin/sh
# End-to-end: each check catches the anomaly it names on a real system, and
# stays quiet on the same system without it. Each detection scenario in
# scenarios/ runs over DETECT_SEEDS seeds (faulted: its check must FAIL, and
# say what it caught) and DETECT_CONTROL_SEEDS seeds of its control (the same
# scenario with the fault or the unreasonable demand taken away: the check
# must PASS), shortened with --set. One "# " line per case gives the observed
# rates and the time per run. Controls never assert tight timing: they must
# hold on a loaded 2-core machine under emulation.
# Needs root, etcd and redis (the test micro-VM); `make detect` runs more seeds.
# DETECT_KEEP=DIR keeps every run directory there (to look at, or re-judge).
SEEDS=${DETECT_SEEDS:-1}
CSEEDS=${DETECT_CONTROL_SEEDS:-$SEEDS}
. "$(dirname "$0")/lib/common.sh"
e2e_begin
need_root_etcd

# judge DIR CHECK WANT: is CHECK's verdict in DIR/results.json WANT? On a
# FAIL it must also show what it caught. Prints one line about the run.
judge() {
	python3 - "$@" <<'PY'
import json, re, sys
d, name, want = sys.argv[1:4]
res = json.load(open(d + '/results.json'))
c = [c for c in res['checks'] if c['name'] == name]
assert len(c) == 1, 'no %s check in results.json' % name
c = c[0]
why, fig = c['why'], c.get('figures') or {}
print(c['verdict'], why)
assert c['verdict'] == want, 'want %s, got %s' % (want, c['verdict'])
if want != 'FAIL':
    sys.exit(0)
if name == 'no_lost_writes':
    # the lost writes are named: an element (process-n) and its set
    assert re.search(r'\b\d+-\d+ of s\d+', why), 'no lost element named'
    assert fig.get('lost_elements'), 'no lost_elements in the figures'
elif name == 'linearizable':
    # the op no order can place is a read (the stale one), on the history's line
    v = fig.get('violation') or {}
    assert 'read' in v.get('failed_op', ''), v
    lines = open(d + '/history.jsonl').read().splitlines()
    op = json.loads(lines[v['failed_line'] - 1])
    ev = [json.loads(l) for l in open(d + '/faults.jsonl')]
    ap = [e['t'] for e in ev if e['event'] == 'apply' and e.get('ok')]
    he = [e['t'] for e in ev if e['event'] == 'heal']
    print('stale read by process %d on %s at %.1fs; partition %.1fs-%.1fs' % (
        op['process'], op['node'], op['t'] / 1e9, ap[0] / 1e9 if ap else -1,
        he[0] / 1e9 if he else -1))
elif name == 'failover':
    # the measured time is given, and it is over the limit
    within = float(fig.get('within_s', 0))
    times = [float(x) for x in re.findall(r'(\d+(?:\.\d+)?)s\b', why)]
    assert any(t > within for t in times), 'no measured time over %.1fs in the why' % within
PY
}

# stale_reads DIR: independently of the checker, find reads served by the
# isolated node while the partition held that returned a value overwritten
# before the read began: the value's write (acknowledged, values are unique)
# completed before another acknowledged write or compare-and-set of the key
# was invoked, and that one completed before the read was invoked. No order
# can place such a read. Fails when there is none; prints the first.
stale_reads() {
	python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]
ev = [json.loads(l) for l in open(d + '/faults.jsonl')]
ap = [e for e in ev if e['event'] == 'apply' and e.get('ok')][0]
t0 = ap['t']
t1 = [e['t'] for e in ev if e['event'] == 'heal'][0]
blocked = ap['blocked']
cut = [x for x in blocked if len(blocked[x]) == len(ap['nodes']) - 1][0]
inv, done = {}, []
for l in open(d + '/history.jsonl'):
    o = json.loads(l)
    if o.get('final'):
        continue
    if o['type'] == 'invoke':
        inv[o['process']] = o
    elif o['process'] in inv:
        done.append((inv.pop(o['process']), o))
writes = {}  # key -> [(invoke, complete, value)] of acknowledged writes
for i, c in done:
    if c['type'] == 'ok' and i['f'] in ('write', 'cas'):
        writes.setdefault(i['key'], []).append((i['t'], c['t'], i['value']))
stale = []
for i, c in done:
    if i['f'] != 'read' or c['type'] != 'ok' or i['node'] != cut or not t0 <= i['t'] <= t1:
        continue
    v = c.get('value')
    ws = writes.get(i['key'], [])
    wv = [w for w in ws if w[2] == v]
    if not wv:
        continue
    later = [w for w in ws if w[0] > wv[0][1] and w[1] < i['t']]
    if later:
        stale.append((i, v, later[-1]))
print('%d stale reads on the isolated node %s during the partition (%.1fs-%.1fs)' %
      (len(stale), cut, t0 / 1e9, t1 / 1e9))
assert stale
i, v, w = stale[0]
print("first: process %d read %s -> '%s' at %.2fs; '%s' was acknowledged at %.2fs" %
      (i['process'], i['key'], v, i['t'] / 1e9, w[2], w[1] / 1e9))
PY
}

# detect NAME CHECK 'CONTROL OVERRIDES' SHORTENING OVERRIDES...: the faulted
# runs must FAIL CHECK, the control runs must PASS it.
detect() {
	name=$1 chk=$2 control=$3
	shift 3
	file=scenarios/$name.yaml
	# FL_ONLY="name other": run just those (when working on one)
	case " ${FL_ONLY:-$name} " in *" $name "*) ;; *) return ;; esac
	if grep -q 'type: redis' "$file" && ! command -v redis-sentinel >/dev/null; then
		echo "skip - $name needs redis-sentinel"; return
	fi
	before=$(leftovers)
	caught=0 quiet=0 runs=0 secs=0 witnessed=0
	for kind in faulted control; do
		if [ $kind = faulted ]; then want=FAIL last=$SEEDS; else want=PASS last=$CSEEDS; fi
		seed=1
		while [ "$seed" -le "$last" ]; do
			runs=$((runs + 1))
			R=${DETECT_KEEP:-$T}/runs-$name-$kind-$seed
			t0=$(date +%s)
			if [ $kind = faulted ]; then
				"$FL" run --runs "$R" --seed "$seed" "$@" "$file" >"$T/run.out" 2>&1
				st=$?
			else
				# the control's overrides are words, never globbed (nemesis=[])
				set -f
				# shellcheck disable=SC2086
				"$FL" run --runs "$R" --seed "$seed" "$@" $control "$file" >"$T/run.out" 2>&1
				st=$?
				set +f
			fi
			dt=$(($(date +%s) - t0))
			secs=$((secs + dt))
			dir=$(ls -d "$R/$name"-* 2>/dev/null | head -1)
			# a verdict, not a crash: 1 when the check FAILs, else 0
			check "$name seed $seed ($kind): run exits $([ $want = FAIL ] && echo 1 || echo 0)" \
				test "$st" = "$([ $want = FAIL ] && echo 1 || echo 0)"
			f0=$failed # check() counts failures; its own status is always 0
			check "$name seed $seed ($kind): $chk says $want" judge "$dir" "$chk" "$want"
			if [ "$failed" = "$f0" ]; then
				[ $kind = faulted ] && caught=$((caught + 1))
				[ $kind = control ] && quiet=$((quiet + 1))
			else
				sed 's/^/#   /' "$T/run.out" | grep -v '^#   \[' | tail -8
			fi
			echo "# $name seed $seed ($kind, exit $st, $dt s): $(head -c 300 "$T/out" | tr '\n' ' ')"
			if [ $kind = faulted ] && [ "$chk" = linearizable ]; then
				f0=$failed
				check "$name seed $seed: a stale read served by the isolated node during the partition" \
					stale_reads "$dir"
				[ "$failed" = "$f0" ] && witnessed=$((witnessed + 1))
				echo "# $(tr '\n' ' ' <"$T/out")"
			fi
			[ -n "$DETECT_KEEP" ] || rm -rf "$R"
			seed=$((seed + 1))
		done
	done
	after=$(leftovers)
	check "$name: nothing left behind (namespaces, links, processes, data)" \
		sh -c "test '$before' = '$after' && ! pidof etcd && ! pidof redis-server && ! pidof redis-sentinel && ! ls -d /var/tmp/faultline-data-* 2>/dev/null"
	extra=
	[ "$chk" = linearizable ] && extra=", a stale read during the partition $witnessed/$SEEDS"
	echo "# $name: $chk FAIL $caught/$SEEDS seeds (control PASS $quiet/$CSEEDS)$extra, $((secs / runs)) s per run"
}

# redis + Sentinel: the primary cut off for 12 s (Sentinel fails over in
# about 4 s) while its clients keep adding; the control has no fault
detect redis-primary-isolated no_lost_writes "--set nemesis=[] --set checks.failover=false" \
	--set duration=30s --set nemesis.0.at=8s --set nemesis.0.for=12s
# etcd, serializable reads: one node cut off for 10 s; the control reads
# through the quorum
detect etcd-stale-reads linearizable "--set workload.read_mode=linearizable" \
	--set duration=22s --set nemesis.0.at=6s --set nemesis.0.for=10s
# etcd with a 2.5 s election timeout, the leader cut off for 14 s (several
# election times): failover within 1 s cannot be; the control allows 20 s
detect etcd-failover-too-slow failover "--set checks.failover.within=20s" \
	--set duration=24s --set nemesis.0.at=6s --set nemesis.0.for=14s
echo "detect: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
