#!/bin/sh
# Crash test: `faultline run` killed with SIGKILL at seeded moments across
# its phases (bring-up, a partition being applied, the fault holding, its
# heal, the final reads), 20 repetitions. After each: the faults are healed
# and the run's processes gone by the agents' dead-man interval (some reps
# wait it out), then `faultline down` leaves no namespace, link, bridge,
# qdisc, filter, process or temporary file of the run, and `faultline
# check` reads the history written up to the kill (exit 0, 1 or 3; 2 is
# "cannot read"). Needs root and a kernel with prio/u32/gact (the test
# micro-VM). FL_CRASH_SEED=N replays the moments, FL_CRASH_REPS=N sets the
# count, FL_CRASH_PHASE=P (bring-up, apply, hold, heal, final) the phase. Prints "ok N - what" / "not ok N - what" and the leftovers found.
FL=${FAULTLINE:-build/faultline}
export FAULTLINE_STATE=$(mktemp -d)
T=$(mktemp -d)
n=0 failed=0 found=0
# what survives a failing check is stopped by PID (never by name)
trap 'for p in $(cat "$T/allpids" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	"$FL" down >/dev/null 2>&1; rm -rf "$T" "$FAULTLINE_STATE"' EXIT
. "$(dirname "$0")/lib/common.sh"
skip_unless_root "crash tests"
seed=${FL_CRASH_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
reps=${FL_CRASH_REPS:-20}
echo "# seed $seed (FL_CRASH_SEED=$seed replays it), $reps repetitions"
DEADMAN=5
SUT=build/tests/sut/broken-register
[ -x "$SUT" ] || { echo "skip 1 - needs $SUT (make)"; exit 0; }

# a seeded number in [0, $1) for rep $2, draw $3
draw() { awk -v s="$seed" -v r="$2" -v k="$3" -v m="$1" 'BEGIN { srand(s * 7919 + r * 31 + k); print int(rand() * m) }'; }
# every descendant of PID $1: the agents, the system's servers, its clients
descendants() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END { q[1] = root; h = 1; t = 1
		      while (h <= t) { split(kids[q[h++]], k, " ")
			for (i in k) { q[++t] = k[i]; print k[i] } } }'
}
links() { { ls /run/netns 2>/dev/null; ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//'; } | sort; }
# temporary files: faultline's in /tmp and /var/tmp (not this test's own)
temps() { ls -d /tmp/* /var/tmp/* 2>/dev/null | grep -v -e "^$T\$" -e "^$FAULTLINE_STATE\$" | sort; }
# a node's traffic control, as the kernel holds it: its qdiscs other than
# the default and its filters
tc_of() {
	for ns in $(ls /run/netns 2>/dev/null | grep '^fl-'); do
		ip netns exec "$ns" tc qdisc show dev eth0 2>/dev/null | grep -v -e 'noqueue' -e 'qdisc noop' |
			sed "s|^|$ns: |"
		ip netns exec "$ns" tc filter show dev eth0 2>/dev/null | grep . | sed "s|^|$ns: |"
	done
}
# what is left: prints one line per leftover
left() {
	for p in $(cat "$T/pids"); do
		[ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null &&
			echo "process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-80)"
	done
	links | diff - "$T/links0" | grep '^[<>]' | sed 's/^/link or namespace /'
	temps | diff - "$T/temps0" | grep '^[<>]' | sed 's/^/temporary file /'
	ls -A "$FAULTLINE_STATE" | sed 's/^/state /'
}

links >"$T/links0"
temps >"$T/temps0"
: >"$T/allpids"
phases="bring-up apply hold heal final"
start=$(date +%s)
for i in $(seq "$reps"); do
	phase=${FL_CRASH_PHASE:-$(echo $phases | cut -d' ' -f$(( $(draw 5 "$i" 0) + 1 )))}
	wait_deadman=$(( $(draw 4 "$i" 1) == 0 ))
	# the run's timeline from its "ready" line: the partition applied at
	# 3 s, healed at 6 s, the workload ends at 9 s, then the final reads;
	# the moment is drawn first (each program start costs under emulation)
	case $phase in
	bring-up) ms=$((100 + $(draw 2000 "$i" 2))) ;;
	apply) ms=$((2800 + $(draw 400 "$i" 2))) ;;
	hold) ms=$((3500 + $(draw 2000 "$i" 2))) ;;
	heal) ms=$((5800 + $(draw 400 "$i" 2))) ;;
	final) ms=$((9000 + $(draw 1000 "$i" 2))) ;;
	esac
	delay=$(awk -v m="$ms" 'BEGIN { print m / 1000 }')
	"$FL" run --runs "$T/runs$i" --seed "$i" --set duration=9s --set nemesis.0.at=3s \
		--set nemesis.0.for=3s --set checks.converge.within=1s \
		scenarios/broken-register.yaml >"$T/out$i" 2>&1 &
	pid=$!
	if [ "$phase" != bring-up ]; then
		for k in $(seq 300); do grep -q '^ready' "$T/out$i" && break; sleep 0.1; done
	fi
	sleep "$delay"
	descendants "$pid" >"$T/pids"
	cat "$T/pids" >>"$T/allpids"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	# where it was: the run's last lines (with their times) say the phase
	last=$(tr '\r' '\n' <"$T/out$i" | grep -v 'ops ok' | grep . | tail -1 | cut -c1-60)
	from=ready
	[ "$phase" != bring-up ] || from=start
	echo "# rep $i: $phase, $ms ms after $from: killed after \"$last\"; $(wc -l <"$T/pids") processes under it"
	if [ "$wait_deadman" = 1 ]; then
		# nothing asked of them: the agents heal on their own
		sleep $((DEADMAN + 1))
		held=$(tc_of)
		check "rep $i ($phase): the dead-man interval passed: no fault held" test -z "$held"
		[ -z "$held" ] || { echo "$held" | sed 's/^/#   held: /'; found=$((found + $(echo "$held" | wc -l))); }
	fi
	"$FL" down >"$T/down$i" 2>&1
	st=$?
	rest=$(left)
	check "rep $i ($phase): after down (exit $st), nothing of the run is left" test -z "$rest"
	[ -z "$rest" ] || { echo "$rest" | sed 's/^/#   left: /'; sed 's/^/#   down: /' "$T/down$i"
		found=$((found + $(echo "$rest" | wc -l))); }
	h=$(ls "$T"/runs$i/*/history.jsonl 2>/dev/null | head -1)
	if [ -n "$h" ]; then
		"$FL" check "$h" >"$T/check$i" 2>&1
		st=$?
		check "rep $i ($phase): faultline check reads the history ($(grep -c . "$h") lines; exit $st)" \
			test "$st" -eq 0 -o "$st" -eq 1 -o "$st" -eq 3
		[ "$st" -ne 2 ] || sed 's/^/#   /' "$T/check$i" | head -5
		grep -h 'torn' "$T/check$i" | sed 's/^/#   /'
	fi
	# the next rep starts from a clean machine even when this one failed
	for p in $(cat "$T/pids"); do kill -9 "$p" 2>/dev/null; done 2>/dev/null
	rm -rf "$T/runs$i"
done
echo "# $reps repetitions in $(( $(date +%s) - start )) s; leftovers found: $found"
echo "crash: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
