#!/bin/sh
# End-to-end checks of the command line: exit codes, messages, byte-stable
# plans, --set overrides, and the agent's channel. Prints "ok N - what" or
# "not ok N - what" per check (tests/run-tier counts them).
# Run from the repository root; FAULTLINE / FAULTLINE_AGENT name the binaries.
FL=${FAULTLINE:-build/faultline}
AGENT=${FAULTLINE_AGENT:-$(dirname "$FL")/faultline-agent}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0 failed=0

check() { # check "what" command...
	what=$1
	shift
	n=$((n + 1))
	if "$@" >"$T/out" 2>"$T/err"; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"
		sed 's/^/#   /' "$T/out" "$T/err" | head -20
		failed=$((failed + 1))
	fi
}
status_is() { # status_is CODE command...
	want=$1
	shift
	"$@" >"$T/s.out" 2>"$T/s.err"
	got=$?
	cat "$T/s.out"
	cat "$T/s.err" >&2
	[ "$got" -eq "$want" ] || { echo "exit status $got, wanted $want" >&2; return 1; }
}
stderr_has() { # stderr_has TEXT CODE command...
	text=$1 code=$2
	shift 2
	status_is "$code" "$@" 2>"$T/e" >/dev/null
	st=$?
	grep -qF -- "$text" "$T/e" || { echo "stderr lacks '$text':" >&2; cat "$T/e" >&2; return 1; }
	return $st
}

cat >"$T/random.yaml" <<'YAML'
name: random
duration: 5m
system: {type: etcd}
cluster: {nodes: 5}
nemesis:
  - fault: kill
    targets: random-one
    every: {interval: 20s, jitter: 5s}
    for: 5s
  - fault: partition
    mode: majorities-ring
    at: 1m
    for: 30s
YAML

check "--version prints the version" sh -c "$FL --version | grep -q '^faultline '"
check "--help exits 0" status_is 0 "$FL" --help
check "validate --help exits 0" status_is 0 "$FL" validate --help
check "plan --help exits 0" status_is 0 "$FL" plan --help
check "no command is a usage error" status_is 2 "$FL"
check "unknown command gets a hint" stderr_has "did you mean 'plan'" 2 "$FL" plna x
check "shipped scenarios validate" status_is 0 "$FL" validate scenarios/
check "a missing file is reported" stderr_has "/nonexistent.yaml: cannot open" 2 "$FL" validate /nonexistent.yaml
mkdir "$T/empty"
check "an empty directory is reported" stderr_has "holds no scenario files" 2 "$FL" validate "$T/empty"
printf 'name: x\nduration: 10\nsystem: {type: etcd}\n' >"$T/bad.yaml"
check "errors carry file:line:col" stderr_has "$T/bad.yaml:2:11: bad duration '10'" 2 "$FL" validate "$T/bad.yaml"
check "one bad file among good ones fails the lot" status_is 2 "$FL" validate scenarios/quickstart.yaml "$T/bad.yaml"
check "--set repairs a field" status_is 0 "$FL" validate --set duration=10s "$T/bad.yaml"
check "--set values are checked, with their place" \
	stderr_has "--set workload.clients:1:1: 'clients' must be between 1 and 1024" 2 \
	"$FL" validate --set workload.clients=0 scenarios/quickstart.yaml

for fmt in text json; do
	flag=""
	[ $fmt = json ] && flag=--json
	"$FL" plan $flag --seed 11 "$T/random.yaml" >"$T/a.$fmt" 2>/dev/null
	"$FL" plan $flag --seed 11 "$T/random.yaml" >"$T/b.$fmt" 2>/dev/null
	"$FL" plan $flag --seed 12 "$T/random.yaml" >"$T/c.$fmt" 2>/dev/null
	check "plan ($fmt) is byte-identical for a seed" cmp "$T/a.$fmt" "$T/b.$fmt"
	check "plan ($fmt) changes with the seed" sh -c "! cmp -s '$T/a.$fmt' '$T/c.$fmt'"
done
check "plan --json is valid JSON" python3 -c "import json,sys; json.load(open('$T/a.json'))"
"$FL" plan "$T/random.yaml" >"$T/p1" 2>"$T/p1.err"
seed=$(sed -n 's/.*using seed \([0-9]*\).*/\1/p' "$T/p1.err")
check "a plan without a seed prints the seed it picked" test -n "$seed"
"$FL" plan --seed "$seed" "$T/random.yaml" >"$T/p2" 2>/dev/null
check "that seed reproduces the plan" cmp "$T/p1" "$T/p2"
check "the scenario's own seed is used" sh -c "$FL plan scenarios/quickstart.yaml 2>&1 | grep -q '^seed *42$'"
check "--set changes the plan" sh -c "$FL plan --seed 1 --set duration=2m scenarios/quickstart.yaml | grep -q '^duration *2m$'"
check "bad --seed is refused" stderr_has "bad --seed" 2 "$FL" plan --seed -4 scenarios/quickstart.yaml

: >"$T/empty.jsonl"
check "check: an empty history is unknown, not linearizable (exit 3)" sh -c \
	"$FL check '$T/empty.jsonl' >'$T/o'; test \$? = 3 && grep -q 'unknown: no operations' '$T/o'"
cat >"$T/nochecks.yaml" <<'YAML'
name: nochecks
duration: 10s
system: {type: etcd}
YAML
check "validate warns about a scenario without checks" \
	stderr_has "nochecks.yaml:1:1: warning: the scenario enables no checks" 0 "$FL" validate "$T/nochecks.yaml"
check "plan warns about serializable reads under linearizable, with the place" \
	stderr_has "--set workload.read_mode:1:1: warning: 'read_mode: serializable'" 0 \
	"$FL" plan --set workload.read_mode=serializable scenarios/quickstart.yaml

head -c 10485760 /dev/zero | tr '\0' 'a' >"$T/big.yaml"
check "a 10 MB file is refused" stderr_has "file too large" 2 "$FL" validate "$T/big.yaml"
python3 -c "print('a: ' + '[' * 50000 + ']' * 50000)" >"$T/deep.yaml"
check "deep nesting is refused" stderr_has "nesting too deep" 2 "$FL" validate "$T/deep.yaml"

check "agent answers hello" sh -c "echo '{\"id\":1,\"op\":\"hello\"}' | $AGENT | grep -q '\"id\":1,\"ok\":true'"
check "agent refuses unknown ops" sh -c "echo '{\"id\":2,\"op\":\"zap\"}' | $AGENT | grep -q \"unknown op 'zap'\""
check "agent survives garbage and keeps serving" sh -c \
	"printf 'garbage\n{\"id\":3,\"op\":\"ping\"}\n' | $AGENT | tail -n 1 | grep -q '\"id\":3,\"ok\":true'"
check "agent refuses oversized lines and keeps serving" sh -c \
	"{ head -c 200000 /dev/zero | tr '\0' x; printf '\n{\"id\":4,\"op\":\"ping\"}\n'; } | $AGENT | grep -c . | grep -qx 2"

echo "cli: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
