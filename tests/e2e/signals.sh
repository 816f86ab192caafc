#!/bin/sh
# SIGTERM, SIGINT and SIGHUP to `faultline run` (a cancelled CI job, Ctrl-C,
# a closed terminal): one heals, stops and judges what was recorded; a
# second stops at once (exit 130, nothing judged) and still leaves nothing;
# one while the system comes up stops the wait for it; a reader of the
# output that went away (a closed terminal's `| tee`) does not end the run
# before its teardown. Needs root and a kernel with prio/u32/gact (the test
# micro-VM). Prints "ok N - what" / "not ok N - what".
. "$(dirname "$0")/lib/common.sh"
private_var_tmp "$0" "$@"
e2e_begin '"$FL" down >/dev/null 2>&1'
skip_unless_root "signals"
[ -x build/tests/sut/broken-register ] || { echo "skip 1 - needs build/tests/sut/broken-register (make)"; exit 0; }
before=$(leftovers)
# nothing of a run left: namespaces, links, state, node data, its system
nothing_left() {
	[ "$(leftovers)" = "$before" ] && [ -z "$(ls -A "$FAULTLINE_STATE")" ] &&
		! ls -d /var/tmp/faultline-data-* 2>/dev/null && ! pidof broken-register
}
run() { # NAME ARGS...: a broken-register run, the partition from 3 s for 20 s
	# (exec: `run ... &` is a subshell, whose $! must be faultline's PID)
	name=$1
	shift
	exec "$FL" run --runs "$T/$name" --set duration=30s --set nemesis.0.at=3s --set nemesis.0.for=20s \
		"$@" scenarios/broken-register.yaml
}
wait_for() { # PATTERN FILE: up to 60 s
	for i in $(seq 300); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.2; done
	return 1
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# a closed terminal while the partition holds
run hup >"$T/hup.out" 2>&1 &
pid=$!
wait_for 'applied f0' "$T/hup.out"
kill -HUP "$pid"
wait "$pid"
st=$?
dir=$(ls -d "$T"/hup/broken-register-* 2>/dev/null)
sed 's/^/# /' "$T/hup.out" | tr '\r' '\n' | grep -e interrupted -e '^# check' -e 'exit'
check "SIGHUP: the run ends with a verdict (exit $st: 0, 1 or 3), results.json written" \
	sh -c "[ $st -le 1 -o $st -eq 3 ] && test -s '$dir/results.json'"
check "SIGHUP: it says it was interrupted; the partition was healed and logged" \
	sh -c "grep -q '^interrupted: faults healed' '$T/hup.out' &&
		grep -q '\"fault\": *\"f0.0\", *\"event\": *\"heal\"' '$dir/faults.jsonl'"
check "SIGHUP: nothing left" nothing_left

# a cancelled CI job, then Ctrl-C: the second stops at once, nothing judged
run twice >"$T/twice.out" 2>&1 &
pid=$!
wait_for 'applied f0' "$T/twice.out"
kill -TERM "$pid"
sleep 0.3
kill -INT "$pid"
t=$(date +%s%N)
wait "$pid"
st=$?
took=$(ms_since "$t")
dir=$(ls -d "$T"/twice/broken-register-* 2>/dev/null)
echo "# SIGTERM then SIGINT: exit $st $took ms after the second"
check "SIGTERM then SIGINT: exit 130, nothing judged (no results.json)" \
	sh -c "[ $st -eq 130 ] && grep -q 'interrupted again: nothing judged' '$T/twice.out' &&
		! test -e '$dir/results.json'"
check "SIGTERM then SIGINT: nothing left" nothing_left

# Ctrl-C while the system comes up: a system that never gets ready, given
# 120 s: the wait for it ends at once
run bringup --set 'system.start=[/bin/sleep, "600"]' --set system.ready_timeout=120s \
	>"$T/up.out" 2>&1 &
pid=$!
wait_for 'waiting for a leader' "$T/up.out"
kill -INT "$pid"
t=$(date +%s%N)
wait "$pid"
st=$?
took=$(ms_since "$t")
echo "# SIGINT during bring-up: exit $st $took ms after it"
check "SIGINT during bring-up: the wait for the system ends (within 15 s, not 120)" \
	test "$took" -lt 15000
check "SIGINT during bring-up: nothing left" nothing_left

# the reader of the output goes away (a closed terminal's `| tee`): the run
# goes on to its end and its teardown
{ (run pipe --set duration=8s --set nemesis.0.for=3s) 2>&1; echo "$?" >"$T/pipe.rc"; } |
	head -n 2 >/dev/null
wait_for . "$T/pipe.rc"
dir=$(ls -d "$T"/pipe/broken-register-* 2>/dev/null)
echo "# reader gone: run exit $(cat "$T/pipe.rc")"
check "the output's reader gone: the run still ends by itself (results.json)" test -s "$dir/results.json"
check "the output's reader gone: nothing left" nothing_left
echo "signals: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
