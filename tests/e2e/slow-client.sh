#!/bin/sh
# End-to-end (issue 17): an exec client program slower to start (2 s) than
# the workload's timeout (1 s) must not collapse the workload. The
# broken-register SUT with no fault, its client started through `sleep 2`:
# the run must exit 0 with acknowledged operations, results.json must give
# every client's start-up (>= 2 s) and its restarts, and no operation may
# take the start-up (none longer than the timeout and its bookkeeping).
# Before the fix every op timed out, killed the program and started the next
# one: 0 acknowledged. Needs root (the test micro-VM). The converge and final
# read phases start their programs all at once: the start-up is paid once
# per phase, not once per node.
FL=${FAULTLINE:-build/faultline}
SUT=$(pwd)/build/tests/sut/broken-register
export FAULTLINE_STATE=$(mktemp -d)
T=$(mktemp -d)
n=0 failed=0
trap 'rm -rf "$T" "$FAULTLINE_STATE"' EXIT
. "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" = 0 ] || { echo "skip 1 - needs root"; exit 0; }

cat >"$T/slow.yaml" <<YAML
name: slow-client
seed: 1
duration: 4s
cluster: {provider: netns, nodes: 3}
system:
  type: exec
  start: ["$SUT", "server", "{name}", "{ip}", "{port}", "{peer_ips}", "{data_dir}"]
  # 2 s of start-up before the program reads a line
  client: ["/bin/sh", "-c", "sleep 2; exec \"\$0\" client \"\$1\" \"\$2\" 800", "$SUT", "{ip}", "{port}"]
  ready_timeout: 30s
workload: {type: register, clients: 3, rate: "15/s", keys: 2, timeout: 1s}
checks:
  no_lost_writes: true
YAML

check "the broken register is built ($SUT; make builds it)" test -x "$SUT"
before=$(leftovers)
t0=$(date +%s)
"$FL" run --runs "$T/runs" "$T/slow.yaml" >"$T/run.out" 2>&1
st=$?
secs=$(($(date +%s) - t0))
dir=$(ls -d "$T"/runs/slow-client-* 2>/dev/null | head -1)
sed 's/^/#   /' "$T/run.out" | tail -30
figures=$(python3 - "$dir" <<'PY' 2>&1
import json, sys
d = sys.argv[1]
r = json.load(open(d + '/results.json'))
ops = [json.loads(l) for l in open(d + '/history.jsonl')]
inv = {o['i']: o['t'] for o in ops if o['type'] == 'invoke'}
longest = max([o['t'] - inv[o['i']] for o in ops if o['type'] != 'invoke' and o['i'] in inv] or [0])
cl = r.get('clients', [])
print("ok=%d total=%d longest_ms=%.0f startups_ms=%s restarts=%s verdict=%s" % (
    r['ops']['ok'], r['ops']['total'], longest / 1e6,
    ",".join("%.0f" % c.get('startup_ms', {}).get('first', -1) for c in cl),
    ",".join(str(c.get('restarts')) for c in cl), r['verdict']))
PY
)
echo "# $figures ($secs s)"
val() { echo "$figures" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
check "the run exits 0 (PASS)" test "$st" -eq 0
check "operations were acknowledged (over 20 of about 60)" test "$(val ok)" -gt 20 2>/dev/null
check "results.json: every client's start-up is given, each >= 2 s" \
	sh -c "test \$(echo '$(val startups_ms)' | tr ',' '\n' | awk '\$1 >= 2000' | wc -l) -eq 3"
check "results.json: restarts counted per client (none here)" test "$(val restarts)" = "0,0,0"
# an op that waited for a program's start-up lasts at least that start-up;
# one that timed out, its 1 s and the kill (longer on a loaded machine)
check "no operation took the start-up (each shorter than the shortest start-up)" \
	sh -c "test \$(echo '$(val longest_ms)' | cut -d. -f1) -lt \
		\$(echo '$(val startups_ms)' | tr ',' '\n' | sort -n | head -1)"
check "the run says when the client programs were ready" grep -q "client programs ready in" "$T/run.out"
after=$(leftovers)
check "nothing left behind (namespaces, links, processes)" \
	sh -c "test '$before' = '$after' && ! pidof broken-register"
echo "slow-client: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
