#!/bin/sh
# Crash test: `faultline run` killed with SIGKILL at seeded moments across
# its phases (bring-up, a partition being applied, the fault holding, its
# heal, the final reads), 20 repetitions. After each: one in five waits the
# agents' dead-man interval first (no fault may still be held then), then
# `faultline down` must leave no namespace, link, bridge, qdisc, filter,
# process (every descendant of the run, by PID), temporary file or state of
# the run, and `faultline check` must read the history written up to the
# kill (exit 0, 1 or 3; 2 is "cannot read"). The repetitions themselves are
# in lib/crashkit.py (timing that a shell under emulation cannot hit).
# Needs root, a kernel with prio/u32/gact (the test micro-VM) and python3.
# FL_CRASH_SEED=N replays the moments, FL_CRASH_REPS=N sets the count,
# FL_CRASH_PHASE=P (bring-up, apply, hold, heal, final) one phase only.
# Prints "ok N - what" / "not ok N - what" and the count of leftovers found.
. "$(dirname "$0")/lib/common.sh"
private_var_tmp "$0" "$@"
FL=${FAULTLINE:-build/faultline}
export FAULTLINE_STATE=$(mktemp -d)
T=$(mktemp -d)
trap '"$FL" down >/dev/null 2>&1; rm -rf "$T" "$FAULTLINE_STATE"' EXIT
skip_unless_root "crash tests"
command -v python3 >/dev/null || { echo "skip 1 - needs python3"; exit 0; }
[ -x build/tests/sut/broken-register ] || { echo "skip 1 - needs build/tests/sut/broken-register (make)"; exit 0; }
seed=${FL_CRASH_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "# seed $seed (FL_CRASH_SEED=$seed replays it)"
python3 "$(dirname "$0")/lib/crashkit.py" "$FL" scenarios/broken-register.yaml "$seed" \
	"${FL_CRASH_REPS:-20}" "${FL_CRASH_PHASE:-}"
