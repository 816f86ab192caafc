#!/bin/sh
# A faultline exec client for etcd: it speaks faultline's line protocol
# (README.md, "The exec line protocol") on stdin/stdout and turns each
# request into one call to etcd's v3 HTTP/JSON gateway with curl (keys and
# values in base64). Used by scenarios/exec-etcd.yaml; a worked example for
# writing a client of your own system.
#
# usage: etcd-client.sh HOST:PORT
# FL_CLIENT_TIMEOUT (default 1.5s; "2s", "1500ms" or seconds) bounds each call; keep it below
# the workload's timeout, so that a slow etcd gets a precise "info timeout"
# from here instead of faultline killing this script.
set -u
ep=${1:?usage: etcd-client.sh HOST:PORT}
tmo=${FL_CLIENT_TIMEOUT:-1.5}
case $tmo in
*ms) tmo=$(awk "BEGIN { print ${tmo%ms} / 1000 }") ;;
*s) tmo=${tmo%s} ;;
esac
nl='
'

# Requests arrive on fd 3; children get /dev/null as stdin, so none of them
# can swallow a request meant for this loop.
exec 3<&0 0</dev/null

b64() { printf '%s' "$1" | base64 -w0; }

# call PATH JSON: 0 with the answer in $body when etcd said 200; else 1 with
# $why a reason led by a word faultline understands, and $sent = 0 when the
# request never left (nothing can have happened).
call() {
	sent=1
	out=$(curl -sS --max-time "$tmo" -o - -w "$nl%{http_code}" -X POST "http://$ep$1" \
		--data-binary "$2" 2>&1)
	rc=$?
	code=${out##*"$nl"}
	body=${out%"$nl"*}
	case $rc in
	0) ;;
	7) sent=0; why="refused $(printf '%s' "$body" | tail -n 1)"; return 1 ;;
	28) why="timeout no answer within ${tmo}s"; return 1 ;;
	*) why="curl exit $rc: $(printf '%s' "$body" | tail -n 1)"; return 1 ;;
	esac
	[ "$code" = 200 ] && return 0
	msg=$(printf '%s' "$body" | sed -n 's/.*"message":"\([^"]*\)".*/\1/p')
	case $msg in
	*"deadline exceeded"* | *"timed out"*) why="timeout $msg" ;;
	*"no leader"* | *"unavailable"*) why="unavailable $msg" ;;
	*) why="http $code ${msg:-from etcd}" ;;
	esac
	return 1
}

# The first value of a string field in $body (JSON as the gateway writes it).
field() { printf '%s' "$body" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n 1; }

# Outcome words: a read that failed changed nothing; a write that was sent
# and got no clear answer may still happen.
rfail() { echo "fail $why"; }
wfail() { if [ "$sent" = 0 ]; then echo "fail $why"; else echo "info $why"; fi; }

members=""  # "ID=name ..." from the member list, refreshed on an unknown ID

leader_name() {
	for m in $members; do
		[ "${m%%=*}" = "$1" ] && { echo "${m#*=}"; return; }
	done
}

status() {
	call /v3/maintenance/status '{}' || { rfail; return; }
	leader=$(field leader)
	term=$(field raftTerm)
	if [ -z "$leader" ] || [ "$leader" = 0 ]; then
		echo "ok - ${term:-0}"
		return
	fi
	name=$(leader_name "$leader")
	if [ -z "$name" ]; then
		call /v3/cluster/member/list '{}' || { rfail; return; }
		members=$(printf '%s' "$body" | tr '{' '\n' |
			sed -n 's/.*"ID":"\([0-9]*\)".*"name":"\([^"]*\)".*/\1=\2/p' | tr '\n' ' ')
		name=$(leader_name "$leader")
	fi
	if [ -n "$name" ]; then echo "ok $name ${term:-0}"; else echo "fail leader $leader has no name"; fi
}

get() { # KEY l|s
	ser=false
	[ "$2" = s ] && ser=true
	call /v3/kv/range "{\"key\":\"$(b64 "$1")\",\"serializable\":$ser}" || { rfail; return; }
	v=$(field value)
	case $body in
	*'"kvs"'*) echo "ok $(printf '%s' "$v" | base64 -d)" ;;
	*) echo ok ;;
	esac
}

put() {
	call /v3/kv/put "{\"key\":\"$(b64 "$1")\",\"value\":\"$(b64 "$2")\"}" || { wfail; return; }
	echo ok
}

cas() { # KEY EXPECT VALUE: compare the value, then put, in one transaction
	k=$(b64 "$1")
	call /v3/kv/txn "{\"compare\":[{\"key\":\"$k\",\"value\":\"$(b64 "$2")\",\
\"target\":\"VALUE\",\"result\":\"EQUAL\"}],\"success\":[{\"requestPut\":\
{\"key\":\"$k\",\"value\":\"$(b64 "$3")\"}}]}" || { wfail; return; }
	case $body in
	*'"succeeded":true'*) echo ok ;;
	*) echo "fail compare $1 is not $2" ;;
	esac
}

# A set is the keys set/KEY/ELEM (empty values), read back with a prefix
# read (range_end: the prefix with its last byte, '/', raised to '0').
add() {
	call /v3/kv/put "{\"key\":\"$(b64 "set/$1/$2")\",\"value\":\"\"}" || { wfail; return; }
	echo ok
}

read_set() { # KEY l|s
	ser=false
	[ "$2" = s ] && ser=true
	call /v3/kv/range "{\"key\":\"$(b64 "set/$1/")\",\"range_end\":\"$(b64 "set/${1}0")\",\
\"keys_only\":true,\"serializable\":$ser}" || { rfail; return; }
	line=ok
	for k in $(printf '%s' "$body" | tr '{' '\n' | sed -n 's/.*"key":"\([^"]*\)".*/\1/p'); do
		k=$(printf '%s' "$k" | base64 -d)
		line="$line ${k#set/$1/}"
	done
	echo "$line"
}

# The whole keyspace, read locally: equal states give equal text (the
# header, which names the answering member, is left out), and faultline
# hashes whatever word comes back into its 16-hex digest.
digest() {
	call /v3/kv/range '{"key":"AA==","range_end":"AA==","serializable":true}' ||
		{ rfail; return; }
	sum=$(printf '%s' "$body" | sed 's/^{"header":{[^}]*}//' | cksum | tr ' ' '-')
	echo "ok cksum-$sum"
}

set -f # requests are split into words, never globbed
while IFS= read -r line <&3; do
	set -- $line
	[ $# -gt 0 ] || { echo "fail empty request"; continue; }
	op=$1
	shift
	case "$op $#" in
	"status 0") status ;;
	"get 1") get "$1" l ;;
	"get-local 1") get "$1" s ;;
	"put 2") put "$1" "$2" ;;
	"cas 3") cas "$1" "$2" "$3" ;;
	"add 2") add "$1" "$2" ;;
	"read-set 1") read_set "$1" l ;;
	"read-set-local 1") read_set "$1" s ;;
	"digest 0") digest ;;
	*) echo unsupported ;;
	esac
done
