#!/bin/sh
# End-to-end: every partition mode through `faultline inject` on a 5-node
# cluster, checked on real traffic: for every ordered pair of nodes, pings
# get through exactly where the printed cuts allow; one-way partitions
# checked with UDP datagrams in each direction. Needs root and a kernel with
# prio/u32/gact (the test micro-VM). Prints "ok N - what" / "not ok N - what".

. "$(dirname "$0")/lib/common.sh"
e2e_begin '"$FL" down >/dev/null 2>&1'
[ "$(id -u)" = 0 ] || { echo "skip 1 - needs root"; exit 0; }
command -v ping >/dev/null || { echo "skip 1 - needs ping"; exit 0; }

cat >"$T/five.yaml" <<'YAML'
name: e2e-partitions
duration: 10m
cluster: {nodes: 5}
system: {type: etcd}
workload: {type: none}
YAML
"$FL" up "$T/five.yaml" >/dev/null || { echo "not ok 1 - up"; exit 1; }
id=$(ls "$FAULTLINE_STATE")
"$FL" status --json >"$T/status.json"
addr() { python3 -c "import json; print([n['addr'] for n in json.load(open('$T/status.json'))['nodes'] if n['name']=='$1'][0])"; }
NODES="n1 n2 n3 n4 n5"

# matrix: for every ordered pair "a b 1|0", 1 when a ping from a reaches b
matrix() {
	for a in $NODES; do
		for b in $NODES; do
			[ "$a" = "$b" ] && continue
			( if ip netns exec "fl-$id-$a" ping -n -q -c 2 -i 0.2 -W 1 "$(addr "$b")" >/dev/null 2>&1
			  then echo "$a $b 1"; else echo "$a $b 0"; fi ) &
		done
	done
	wait
}
# expected from the cuts: a ping a->b needs both a->b and b->a open
expected() {
	for a in $NODES; do
		for b in $NODES; do
			[ "$a" = "$b" ] && continue
			if grep -qE "(^| )$a->$b( |\$)|(^| )$b->$a( |\$)" "$T/cuts"; then echo "$a $b 0"; else echo "$a $b 1"; fi
		done
	done
}

run_mode() { # run_mode LABEL inject-args...
	label=$1
	shift
	"$FL" inject partition "$@" --for 60s >"$T/inj.out" 2>&1 &
	inj=$!
	for i in $(seq 100); do grep -q '^cut:' "$T/inj.out" && break; sleep 0.1; done
	sed -n 's/^cut://p' "$T/inj.out" >"$T/cuts"
	echo "# $label: cut$(cat "$T/cuts")"
	matrix | sort >"$T/got"
	expected | sort >"$T/want"
	check "$label: pings cross exactly where the cuts allow" diff "$T/want" "$T/got"
	check "$label: something is cut" grep -q -- '->' "$T/cuts"
	kill -INT "$inj"
	wait "$inj"
	matrix | sort >"$T/healed"
	check "$label: healed, every pair reaches every other" sh -c "! grep -q ' 0\$' '$T/healed'"
}

run_mode "isolate n2" --mode isolate --targets n2 --seed 1
run_mode "isolate n1,n4" --mode isolate --targets '[n1, n4]' --seed 1
run_mode "halves" --mode halves --seed 2
run_mode "majorities-ring" --mode majorities-ring --seed 3
run_mode "bridge" --mode bridge --seed 4
run_mode "groups" --mode groups --groups '[[n1, n2], [n3], [n4, n5]]' --seed 5

# one-way: UDP datagrams both ways between n1 and n2 while n2 is isolated 'to' / 'from'
udp() { # udp FROM TO: 1 when a datagram from FROM reaches TO
	# The listener says when it is bound (a loaded machine may take seconds to
	# start python); the sender sends for 2 s, the listener waits 3 s.
	to_addr=$(addr "$2")
	rm -f "$T/udp.ready"
	ip netns exec "fl-$id-$2" python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('$to_addr', 7777)); s.settimeout(3)
open('$T/udp.ready', 'w').close()
try: s.recv(64); print(1)
except socket.timeout: print(0)" >"$T/udp.out" &
	l=$!
	for i in $(seq 100); do [ -e "$T/udp.ready" ] && break; sleep 0.1; done
	ip netns exec "fl-$id-$1" python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(40): s.sendto(b'x', ('$to_addr', 7777)); time.sleep(0.05)" 2>/dev/null
	wait $l
	cat "$T/udp.out"
}

for dir in to from; do
	"$FL" inject partition --mode isolate --targets n2 --direction $dir --for 60s >"$T/inj.out" 2>&1 &
	inj=$!
	for i in $(seq 100); do grep -q '^cut:' "$T/inj.out" && break; sleep 0.1; done
	in=$(udp n1 n2)
	out=$(udp n2 n1)
	echo "# one-way '$dir': n1->n2 $in, n2->n1 $out"
	if [ $dir = to ]; then want="0 1"; else want="1 0"; fi
	check "isolate n2 one-way '$dir': n1->n2 and n2->n1 as promised" test "$in $out" = "$want"
	kill -INT "$inj"
	wait "$inj"
done
check "both ways again after healing" test "$(udp n1 n2) $(udp n2 n1)" = "1 1"

echo "partitions: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
