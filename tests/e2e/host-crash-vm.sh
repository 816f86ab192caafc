#!/bin/sh
# Runs on the host (not in the test VM): `faultline run --vm` killed with
# SIGKILL at a seeded moment (while the micro-VM boots, then while its run
# holds a fault) must take its qemu and the runner's temporary directory
# with it within the dead-man interval (5 s): a killed nightly run must not
# go on, orphaned, for the rest of its scenario. Then Ctrl-C of a `run --vm`
# is forwarded to the run inside: it heals and judges what was recorded.
# FL_CRASH_SEED=N replays the moments. Prints "ok N - what" / "not ok N - what".
FL=${FAULTLINE:-build/faultline}
T=$(mktemp -d)
n=0 failed=0
# what survives a failing check is stopped by PID (never by name)
trap 'for p in $(cat "$T/allpids" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
. "$(dirname "$0")/lib/common.sh"
skip_unless_root "run --vm killed"
seed=${FL_CRASH_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "# seed $seed (FL_CRASH_SEED=$seed replays it)"
# the runner's temporary directory goes here, so that whatever is left in
# it is this test's (other runs may share the machine's /tmp)
mkdir "$T/tmp"
export TMPDIR="$T/tmp"
DEADMAN=5

# a seeded number in [0, $1): rep $2's draw
draw() { awk -v s="$seed" -v r="$2" -v m="$1" 'BEGIN { srand(s * 131 + r); print int(rand() * m) }'; }

# every descendant of PID $1 (the runner, qemu, the runner's watchdog)
descendants() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END { q[1] = root; h = 1; t = 1
		      while (h <= t) { split(kids[q[h++]], k, " ")
			for (i in k) { q[++t] = k[i]; print k[i] } } }'
}

# processes whose command line names this test's directory (qemu: its
# -virtfs path=$TMPDIR/fl-vm.XXXXXX), and the recorded PIDs still alive
alive() {
	for p in $(cat "$T/pids" 2>/dev/null); do kill -0 "$p" 2>/dev/null && echo "pid $p"; done
	# (the needle comes through the environment: awk's own argv must not match)
	ps -e -o pid=,args= | needle="$T/tmp" awk 'index($0, ENVIRON["needle"]) { print "pid " $1 ": " $2 }'
	ls -A "$T/tmp"
}

crash() { # rep, when ("boot" or "fault"), what
	i=$1
	"$FL" run --vm --runs "$T/runs$i" --set duration=40s --set nemesis.0.at=3s \
		scenarios/broken-register.yaml >"$T/out$i" 2>&1 &
	pid=$!
	if [ "$2" = boot ]; then
		# 0.5-3 s in: the runner is starting qemu, or the kernel boots
		sleep "$(awk -v d="$(draw 25 "$i")" 'BEGIN { print 0.5 + d / 10 }')"
	else
		for k in $(seq 600); do grep -q 'applied f0' "$T/out$i" && break; sleep 0.1; done
		sleep "$(awk -v d="$(draw 30 "$i")" 'BEGIN { print d / 10 }')"
	fi
	descendants "$pid" >"$T/pids"
	cat "$T/pids" >>"$T/allpids"
	echo "# rep $i ($2): kill -9 after $(grep -c . "$T/out$i") output lines; $(wc -l <"$T/pids") processes under it"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	killed=$(date +%s%N)
	for k in $(seq $((DEADMAN * 10 + 10))); do
		[ -z "$(alive)" ] && break
		sleep 0.1
	done
	ms=$(( ($(date +%s%N) - killed) / 1000000 ))
	left=$(alive)
	echo "# rep $i: waited $ms ms"
	# (-s pids: the run was still going when killed, not over already)
	check "rep $i, kill -9 $3: no qemu, runner or temporary directory after ${DEADMAN}s" \
		test -z "$left" -a "$ms" -le $((DEADMAN * 1000 + 500)) -a -s "$T/pids"
	echo "$left" | grep . | sed 's/^/#   left: /'
}

crash 1 boot "while the micro-VM boots"
crash 2 fault "while the run inside holds a partition"

# signals() rep, signals...: each sent (1 s apart) once the fault holds
signals() {
	i=$1
	shift
	"$FL" run --vm --runs "$T/runs$i" --set duration=40s --set nemesis.0.at=3s \
		scenarios/broken-register.yaml >"$T/out$i" 2>&1 &
	pid=$!
	for k in $(seq 600); do grep -q 'applied f0' "$T/out$i" && break; sleep 0.1; done
	descendants "$pid" >"$T/pids"
	cat "$T/pids" >>"$T/allpids"
	sent=$(date +%s%N)
	for sig in "$@"; do
		[ "$sig" = "$1" ] || sleep 1
		kill -"$sig" "$pid"
	done
	wait "$pid"
	st=$?
	took=$(( ($(date +%s%N) - sent) / 1000000 ))
	echo "# rep $i ($*): exit $st after $took ms"
	tr '\r' '\n' <"$T/out$i" | grep -E 'interrupted|^check|FAIL|PASS|UNKNOWN' | sed 's/^/#   /'
}
# a closed terminal: the run inside heals, stops and judges what it recorded
signals 3 HUP
dir=$(ls -d "$T"/runs3/broken-register-* 2>/dev/null | head -1)
check "run --vm, SIGHUP: the run inside heals and judges (exit 0, 1 or 3, results.json)" \
	sh -c "[ $st -le 1 -o $st -eq 3 ] && grep -q '^interrupted: faults healed' '$T/out3' && test -s '$dir/results.json'"
check "run --vm, SIGHUP: the partition was healed inside" \
	grep -q '"fault": *"f0.0", *"event": *"heal"' "$dir/faults.jsonl"
check "run --vm, SIGHUP: no qemu, runner or temporary directory left" test -z "$(alive)"
# a CI job cancelled, then Ctrl-C: the second stops the VM at once
signals 4 TERM INT
check "run --vm, SIGTERM then SIGINT: stops at once (exit 130, within 5 s of the second)" \
	test "$st" -eq 130 -a "$took" -le 6000
check "run --vm, SIGTERM then SIGINT: no qemu, runner or temporary directory left" \
	test -z "$(alive)"
echo "crash-vm: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
