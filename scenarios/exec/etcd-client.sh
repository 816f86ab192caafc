#!/bin/bash
# A faultline exec client for etcd: it speaks faultline's line protocol
# (README.md, "The exec line protocol") on stdin/stdout and turns each
# request into one call to etcd's v3 HTTP/JSON gateway with curl. Used by
# scenarios/exec-etcd.yaml; a worked example for writing a client of your
# own system.
#
# It starts exactly one program per request (curl): base64 and the JSON
# fields are done in bash itself, because starting a program is what costs
# most on a slow or emulated machine (a third of a second each under qemu
# without KVM).
#
# usage: etcd-client.sh HOST:PORT
# FL_CLIENT_TIMEOUT (default 1.5s; "2s", "1500ms" or seconds) bounds each
# call; keep it below the workload's timeout, so that a slow etcd gets a
# precise "info timeout" from here instead of faultline killing this script.
set -u
export LC_ALL=C # bytes, not characters
ep=${1:?usage: etcd-client.sh HOST:PORT}
tmo=${FL_CLIENT_TIMEOUT:-1.5}
case $tmo in
*ms) tmo=${tmo%ms}; printf -v tmo '%d.%03d' $((tmo / 1000)) $((tmo % 1000)) ;;
*s) tmo=${tmo%s} ;;
esac

# Requests arrive on fd 3; curl gets /dev/null as stdin, so it cannot
# swallow a request meant for this loop.
exec 3<&0 0</dev/null

B64=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/

b64() { # $1 -> REPLY, standard base64 with padding
	local s=$1 out= i n=${#1} a b c v
	for ((i = 0; i < n; i += 3)); do
		printf -v a '%d' "'${s:i:1}"
		b=0 c=0
		((i + 1 < n)) && printf -v b '%d' "'${s:i+1:1}"
		((i + 2 < n)) && printf -v c '%d' "'${s:i+2:1}"
		v=$(((a << 16) | (b << 8) | c))
		out+=${B64:v >> 18 & 63:1}${B64:v >> 12 & 63:1}
		if ((i + 1 < n)); then out+=${B64:v >> 6 & 63:1}; else out+='='; fi
		if ((i + 2 < n)); then out+=${B64:v & 63:1}; else out+='='; fi
	done
	REPLY=$out
}

unb64() { # $1 -> REPLY
	local s=${1//=/} out= i n k v bits=0 acc=0 oct ch x
	n=${#s}
	for ((i = 0; i < n; i++)); do
		x=${B64%%"${s:i:1}"*}
		v=${#x}
		acc=$(((acc << 6) | v))
		bits=$((bits + 6))
		if ((bits >= 8)); then
			bits=$((bits - 8))
			k=$(((acc >> bits) & 255))
			printf -v oct '%03o' "$k"
			printf -v ch "\\$oct"
			out+=$ch
		fi
	done
	REPLY=$out
}

# call PATH JSON: 0 with the answer in $body when etcd said 200; else 1 with
# $why a reason led by a word faultline understands, and $sent = 0 when the
# request never left (nothing can have happened).
call() {
	local out rc code msg
	sent=1
	out=$(curl -sS --max-time "$tmo" -w $'\n%{http_code}' -X POST "http://$ep$1" \
		--data-binary "$2" 2>&1)
	rc=$?
	if ((rc)); then
		# curl's message ("curl: (7) Failed to connect ..."), on one line
		msg=${out#*curl: }
		msg=${msg%%$'\n'*}
		case $rc in
		7) sent=0; why="refused $msg" ;;
		28) why="timeout no answer within ${tmo}s" ;;
		*) why="curl exit $rc: $msg" ;;
		esac
		return 1
	fi
	code=${out##*$'\n'}
	body=${out%$'\n'*}
	[ "$code" = 200 ] && return 0
	field message
	msg=$REPLY
	case $msg in
	*"deadline exceeded"* | *"timed out"*) why="timeout $msg" ;;
	*"no leader"* | *"unavailable"*) why="unavailable $msg" ;;
	*) why="http $code ${msg:-from etcd}" ;;
	esac
	return 1
}

# field NAME [TEXT]: the first string value of NAME in TEXT (default $body),
# JSON as the gateway writes it (no blanks) -> REPLY ("" when absent)
field() {
	local t=${2-$body} x
	x=${t#*\"$1\":\"}
	if [ "$x" = "$t" ]; then REPLY=; else REPLY=${x%%\"*}; fi
}

# Outcome words: a read that failed changed nothing; a write that was sent
# and got no clear answer may still happen.
rfail() { echo "fail $why"; }
wfail() { if [ "$sent" = 0 ]; then echo "fail $why"; else echo "info $why"; fi; }

declare -A names # member ID -> name, refreshed on an unknown ID

status() {
	local leader term m
	call /v3/maintenance/status '{}' || { rfail; return; }
	field leader; leader=$REPLY
	field raftTerm; term=${REPLY:-0}
	if [ -z "$leader" ] || [ "$leader" = 0 ]; then
		echo "ok - $term"
		return
	fi
	if [ -z "${names[$leader]-}" ]; then
		call /v3/cluster/member/list '{}' || { rfail; return; }
		local IFS='{'
		for m in $body; do
			field ID "$m"; local id=$REPLY
			field name "$m"
			[ -n "$id" ] && [ -n "$REPLY" ] && names[$id]=$REPLY
		done
	fi
	if [ -n "${names[$leader]-}" ]; then
		echo "ok ${names[$leader]} $term"
	else
		echo "fail leader $leader has no name"
	fi
}

get() { # KEY l|s
	local ser=false
	[ "$2" = s ] && ser=true
	b64 "$1"
	call /v3/kv/range "{\"key\":\"$REPLY\",\"serializable\":$ser}" || { rfail; return; }
	case $body in
	*'"kvs"'*) field value; unb64 "$REPLY"; echo "ok $REPLY" ;;
	*) echo ok ;;
	esac
}

put() {
	local k
	b64 "$1"; k=$REPLY
	b64 "$2"
	call /v3/kv/put "{\"key\":\"$k\",\"value\":\"$REPLY\"}" || { wfail; return; }
	echo ok
}

cas() { # KEY EXPECT VALUE: compare the value, then put, in one transaction
	local k e
	b64 "$1"; k=$REPLY
	b64 "$2"; e=$REPLY
	b64 "$3"
	call /v3/kv/txn "{\"compare\":[{\"key\":\"$k\",\"value\":\"$e\",\"target\":\"VALUE\",\
\"result\":\"EQUAL\"}],\"success\":[{\"requestPut\":{\"key\":\"$k\",\"value\":\"$REPLY\"}}]}" ||
		{ wfail; return; }
	case $body in
	*'"succeeded":true'*) echo ok ;;
	*) echo "fail compare $1 is not $2" ;;
	esac
}

# A set is the keys set/KEY/ELEM (empty values), read back with a prefix
# read (range_end: the prefix with its last byte, '/', raised to '0').
add() {
	b64 "set/$1/$2"
	call /v3/kv/put "{\"key\":\"$REPLY\",\"value\":\"\"}" || { wfail; return; }
	echo ok
}

read_set() { # KEY l|s
	local ser=false from line=ok rest k
	[ "$2" = s ] && ser=true
	b64 "set/$1/"; from=$REPLY
	b64 "set/${1}0"
	call /v3/kv/range "{\"key\":\"$from\",\"range_end\":\"$REPLY\",\"keys_only\":true,\
\"serializable\":$ser}" || { rfail; return; }
	rest=$body
	while [ "${rest#*\"key\":\"}" != "$rest" ]; do
		rest=${rest#*\"key\":\"}
		unb64 "${rest%%\"*}"
		k=$REPLY
		line+=" ${k#set/$1/}"
	done
	echo "$line"
}

# The whole keyspace, read locally. The answer without its header (which
# names the answering member) is the same text on nodes in the same state,
# and has no blanks: faultline hashes that word into its 16-hex digest.
digest() {
	call /v3/kv/range '{"key":"AA==","range_end":"AA==","serializable":true}' ||
		{ rfail; return; }
	local kvs=${body#*\"kvs\":}
	[ "$kvs" = "$body" ] && kvs=empty
	echo "ok ${kvs%%,\"count\"*}"
}

set -f # requests are split into words, never globbed
while IFS= read -r line <&3; do
	read -r -a w <<<"$line"
	[ ${#w[@]} -gt 0 ] || { echo "fail empty request"; continue; }
	case "${w[0]} $((${#w[@]} - 1))" in
	"status 0") status ;;
	"get 1") get "${w[1]}" l ;;
	"get-local 1") get "${w[1]}" s ;;
	"put 2") put "${w[1]}" "${w[2]}" ;;
	"cas 3") cas "${w[1]}" "${w[2]}" "${w[3]}" ;;
	"add 2") add "${w[1]}" "${w[2]}" ;;
	"read-set 1") read_set "${w[1]}" l ;;
	"read-set-local 1") read_set "${w[1]}" s ;;
	"digest 0") digest ;;
	*) echo unsupported ;;
	esac
done
