#!/bin/sh
# Runs on the host (no root, no cluster): `faultline report` on a synthetic
# run directory (3 clients, a partition, status samples, a stale read the
# checker must find), `report --index` on a runs directory, and the page in
# headless Chromium: the screenshot must not be blank. The Chromium checks
# skip when /usr/bin/chromium is absent (`make deps` installs it).
# Prints "ok N - what" / "not ok N - what" / "skip ...".
FL=${FAULTLINE:-build/faultline}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # not a slower wrapper earlier in PATH
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0 failed=0
. "$(dirname "$0")/lib/common.sh"

RUNS=$T/runs
RUN=$RUNS/synth-20260101T120000Z-7
mkdir -p "$RUN"

# The run's files: history.jsonl (linearizable by construction, then one
# read made stale), faults.jsonl, status.jsonl, digests.jsonl, run.json,
# scenario.yaml. Times in ns since the run's start.
$PY - "$RUN" <<'PY' || exit 1
import json, random, sys
d = sys.argv[1]
rnd = random.Random(7)
S = 1_000_000_000
clients, keys = 3, 2
ops = []          # dicts: process, f, key, value, inv, done, lin, outcome
for c in range(clients):
    t, n = int(0.1 * S) + c * 7_000_000, 0
    while t < 20 * S:
        dur = rnd.randint(2, 40) * 1_000_000
        in_fault = 8 * S <= t < 13 * S
        if in_fault:
            dur = rnd.randint(200, 900) * 1_000_000
        f = rnd.choice(["read", "write"])
        op = {"process": c, "f": f, "key": "k%d" % rnd.randrange(keys), "inv": t,
              "done": t + dur, "lin": t + dur // 2, "outcome": "ok"}
        if f == "write":
            op["value"] = "%d-%d<&>" % (c, n)  # hostile text: the page must escape it
            n += 1
        if in_fault and rnd.random() < 0.5:
            op["outcome"] = "fail" if f == "read" else "info"
        ops.append(op)
        t += dur + rnd.randint(20, 60) * 1_000_000
# reads return the value at their linearization point (failed reads and
# unknown writes take no effect here)
state, prev = {}, {}
for op in sorted(ops, key=lambda o: o["lin"]):
    if op["f"] == "write" and op["outcome"] == "ok":
        prev[op["key"]] = (state.get(op["key"]), op["done"])
        state[op["key"]] = op["value"]
    elif op["f"] == "read" and op["outcome"] == "ok":
        op["value"] = state.get(op["key"])
        op["prev"] = prev.get(op["key"])
# the stale read: after 14 s, a read returning the value the last write
# before it had already replaced (values are unique: no order fits it)
stale = next(o for o in sorted(ops, key=lambda o: o["inv"])
             if o["f"] == "read" and o["outcome"] == "ok" and o["inv"] > 14 * S
             and o.get("prev") and o["prev"][0] is not None and o["prev"][1] < o["inv"])
stale["value"] = stale["prev"][0]
lines = []
for i, op in enumerate(sorted(ops, key=lambda o: o["inv"])):
    node = "n%d" % (op["process"] % 3 + 1)
    inv = {"i": i, "type": "invoke", "t": op["inv"], "process": op["process"], "node": node,
           "f": op["f"], "key": op["key"]}
    if op["f"] == "write":
        inv["value"] = op["value"]
    done = {"i": i, "type": op["outcome"], "t": op["done"], "process": op["process"],
            "node": node, "f": op["f"], "key": op["key"]}
    if op["f"] == "read" and op["outcome"] == "ok":
        done["value"] = op["value"]
    if op["outcome"] != "ok":
        done["error"] = "timeout"
    lines += [(op["inv"], inv), (op["done"], done)]
with open(d + "/history.jsonl", "w") as h:
    for _, o in sorted(lines, key=lambda x: x[0]):
        h.write(json.dumps(o) + "\n")
with open(d + "/faults.jsonl", "w") as h:
    h.write(json.dumps({"fault": "f0.0", "kind": "partition", "event": "apply", "ok": True,
                        "nodes": ["n1", "n2", "n3"], "blocked": {"n1": ["n2", "n3"],
                        "n2": ["n1"], "n3": ["n1"]}, "leader": "n1 (named by 3 of 3 nodes)",
                        "t": 8 * S}) + "\n")
    h.write(json.dumps({"fault": "f0.0", "kind": "partition", "event": "heal", "ok": True,
                        "nodes": ["n1", "n2", "n3"], "t": 13 * S}) + "\n")
with open(d + "/status.jsonl", "w") as h:
    t = 50_000_000
    while t < 20 * S:
        for k, node in enumerate(["n1", "n2", "n3"]):
            if t < 9 * S:
                o = {"node": node, "ok": True, "leader": "n1", "term": 2}
            elif t < 10 * S:
                o = {"node": node, "ok": False, "error": "timeout"}
            else:
                o = {"node": node, "ok": True, "leader": "n2", "term": 3}
            o["t"] = t + k * 3_000_000
            h.write(json.dumps(o) + "\n")
        t += 250_000_000
with open(d + "/digests.jsonl", "w") as h:
    for node in ["n1", "n2", "n3"]:
        h.write(json.dumps({"node": node, "digest": "00000000000000aa", "revision": 9,
                            "keys": 2, "t": 21 * S}) + "\n")
    h.write(json.dumps({"converged": True, "digest": "00000000000000aa", "t": 21 * S}) + "\n")
with open(d + "/run.json", "w") as h:
    json.dump({"scenario": "synth", "file": "scenarios/synth.yaml", "seed": 7,
               "overrides": ["workload.keys=2"], "started": "2026-01-01T12:00:00Z",
               "version": "0.1.0-test", "provider": "netns", "system": "etcd"}, h)
PY
cat >"$RUN/scenario.yaml" <<'YAML'
name: synth
duration: 20s
cluster: {nodes: 3}
system: {type: etcd}
workload: {type: register, clients: 3, rate: "50/s", keys: 5}
nemesis:
  - {fault: partition, mode: isolate, targets: n1, at: 8s, for: 5s}
checks:
  linearizable: {timeout: 20s}
  leader_per_term: true
  availability: {min: "50%"}
YAML

check "report --help" "$FL" report --help
check "report without a run directory is a usage error" sh -c "! $FL report"
check "report on a directory without run.json says so (exit 2)" \
	sh -c "$FL report '$T' 2>&1; test \$? -eq 2 && $FL report '$T' 2>&1 | grep -q 'not a run directory'"
check "report on a run never judged says so (exit 2), and judges nothing" \
	sh -c "$FL report '$RUN' >'$T/r0.out' 2>&1; st=\$?; cat '$T/r0.out'; test \$st -eq 2 &&
	       grep -q 'never judged' '$T/r0.out' && test ! -e '$RUN/results.json'"
check "check RUN_DIR judges the run, says so, exit 1 (a violation)" \
	sh -c "$FL check '$RUN' >'$T/check.out'; st=\$?; cat '$T/check.out'; test \$st -eq 1 &&
	       grep -q 'judged again' '$T/check.out' && grep -q 'linearizable *FAIL' '$T/check.out'"
check "report RUN_DIR re-renders the run from results.json (exit 0 whatever the verdict)" \
	sh -c "$FL report '$RUN' >'$T/report.out' && cat '$T/report.out' && grep -q 'linearizable *FAIL' '$T/report.out'"
check "results.json, junit.xml and report.html are written" \
	test -s "$RUN/results.json" -a -s "$RUN/junit.xml" -a -s "$RUN/report.html"
check "results.json has the violation window" $PY -c "
import json, sys
r = json.load(open('$RUN/results.json'))
c = [c for c in r['checks'] if c['name'] == 'linearizable'][0]
v = c['figures']['violation']
assert c['verdict'] == 'FAIL' and v['window'] and v['failed_line'] > 0, c
assert any(w['line'] == v['failed_line'] for w in v['window']), v
"
H=$RUN/report.html
check "report.html has no network reference" sh -c "! grep -Eiq 'https?:|//[a-z]' '$H'"
check "report.html loads nothing: no src, href, script, link, import or url()" \
	sh -c "! grep -Eiq '(src|href) *=|<script|<link|@import|url\\(' '$H'"
check "report.html has the header, checks, faults and timeline" sh -c "
	grep -q '<h1>synth <span class=\"badge fail\">FAIL</span>' '$H' &&
	grep -q 'faultline run scenarios/synth.yaml --seed 7 --set workload.keys=2' '$H' &&
	grep -q '<h2>Checks</h2>' '$H' && grep -q '<h2>Faults</h2>' '$H' &&
	grep -q 'f0.0 partition' '$H' && grep -q '<svg' '$H'"
check "report.html draws the violation window, the failing op in red" sh -c "
	grep -q '<h2>Linearizability violation</h2>' '$H' &&
	grep -q 'class=\"bad\"' '$H' && grep -q 'class=\"badl\"[^<]*line [0-9]*, process' '$H'"
check "report.html escapes the history's text" \
	sh -c "! grep -q '<&>' '$H' && grep -q \"[0-9]-[0-9]*&lt;&amp;&gt;&#39;\" '$H'"
check "report.html is valid XML-ish: every svg closed" \
	sh -c "test \$(grep -c '<svg' '$H') -eq \$(grep -c '</svg>' '$H')"

# judged, then the history deleted: report renders the checks from results.json
GONE=$RUNS/synth-20260101T130000Z-8
cp -r "$RUN" "$GONE"
rm "$GONE/history.jsonl" "$GONE/report.html"
check "report without history.jsonl: the checks from results.json, the page says what is missing" \
	sh -c "$FL report '$GONE' >'$T/gone.out' && grep -q 'linearizable *FAIL' '$T/gone.out' &&
	       grep -q 'The timeline needs history.jsonl' '$GONE/report.html' &&
	       grep -q '<h2>Checks</h2>' '$GONE/report.html' && grep -q 'badge fail' '$GONE/report.html'"
check "check without history.jsonl cannot judge (exit 2)" \
	sh -c "$FL check '$GONE' >/dev/null 2>&1; test \$? -eq 2"
rm -r "$GONE"

# an unjudged run, older, and a directory that is no run
OLD=$RUNS/synth-20251231T000000Z-3
mkdir -p "$OLD" "$RUNS/not-a-run"
sed 's/2026-01-01T12:00:00Z/2025-12-31T00:00:00Z/; s/"seed": 7/"seed": 3/' "$RUN/run.json" >"$OLD/run.json"
check "report --index DIR writes DIR/index.html" \
	sh -c "$FL report --index '$RUNS' | grep -q 'index.html (2 runs)'"
I=$RUNS/index.html
check "index.html lists both runs, newest first, with links" $PY -c "
s = open('$I').read()
a, b = s.index('synth-20260101T120000Z-7'), s.index('synth-20251231T000000Z-3')
assert a < b
assert 'href=\"synth-20260101T120000Z-7/report.html\"' in s
assert 'href=\"synth-20251231T000000Z-3/\"' in s
assert 'not-a-run' not in s
"
check "index.html: verdicts per check, the unjudged run says so" sh -c "
	grep -q '<th>linearizable</th><th>leader_per_term</th><th>availability</th>' '$I' &&
	grep -q 'not judged</span>' '$I' && grep -q '>FAIL</span>' '$I' && grep -q '>7</td>' '$I'"
check "index.html has no network reference" sh -c "! grep -Eiq 'https?:|<script|src *=' '$I'"

# the page in a real browser
if [ ! -x "$CHROMIUM" ]; then
	echo "skip - $CHROMIUM not installed: the page is not rendered (make deps installs it)"
else
	render() { # render HTML PNG HEIGHT
		HOME=$T timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
			--user-data-dir="$T/chromium" --screenshot="$2" --window-size=1280,$3 \
			"file://$1" >"$T/chromium.log" 2>&1
		test -s "$2" || { cat "$T/chromium.log"; return 1; }
	}
	# share of pixels unlike the background, and how many distinct colours
	notblank() { # notblank PNG MIN_FRACTION MIN_COLOURS
		$PY - "$@" <<'PY'
import struct, sys, zlib
path, min_frac, min_col = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    ln, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + ln]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        assert depth == 8 and ctype in (2, 6) and not interlace, (depth, ctype, interlace)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + ln
raw, stride = zlib.decompress(idat), w * bpp
lanes = int.from_bytes(b"\x00\xff" * stride, "big")
prev, rows = bytearray(stride), []
for y in range(h):
    ft, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if ft == 2:   # "up", the common one: every byte at once, in 16-bit lanes
        x, z = bytearray(2 * stride), bytearray(2 * stride)
        x[1::2], z[1::2] = line, prev
        s = (int.from_bytes(x, "big") + int.from_bytes(z, "big")) & lanes
        line = bytearray(s.to_bytes(2 * stride, "big")[1::2])
    elif ft:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ft == 1: line[i] = (line[i] + a) & 255
            elif ft == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line))
    prev = line
counts = {}
for line in rows:
    for i in range(0, stride, bpp * 2):   # every other pixel is plenty
        px = line[i:i + 3]
        counts[px] = counts.get(px, 0) + 1
bg = max(counts, key=counts.get)
total = sum(counts.values())
frac = 1 - counts[bg] / total
colours = sum(1 for k, v in counts.items() if k != bg and v >= 20)
print("background %s, %.1f%% other pixels, %d colours (20+ pixels)" % (bg.hex(), 100 * frac, colours))
sys.exit(0 if frac >= min_frac and colours >= min_col else 1)
PY
	}
	check "chromium renders report.html" render "$H" "$T/report.png" 2000
	check "the screenshot is not blank (5%+ drawn, 8+ colours)" notblank "$T/report.png" 0.05 8
	check "chromium renders index.html" render "$I" "$T/index.png" 500
	check "the index screenshot is not blank (0.5%+ drawn, 3+ colours)" \
		notblank "$T/index.png" 0.005 3
fi
echo "report: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
