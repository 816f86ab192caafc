#!/bin/sh
# A faultline exec client for etcd, through etcdctl: it speaks faultline's
# line protocol (README.md, "The exec line protocol") on stdin/stdout, one
# etcdctl command per request. Used by scenarios/exec-etcd.yaml; a worked
# example for writing a client of your own system.
#
# usage: etcd-client.sh HOST:PORT
# FL_CLIENT_TIMEOUT (default 1s) bounds each etcdctl call; keep it below
# the workload's timeout, so that a slow etcd gets a precise "info timeout"
# from here instead of faultline killing this script.
set -u
ep=${1:?usage: etcd-client.sh HOST:PORT}
tmo=${FL_CLIENT_TIMEOUT:-1s}
export ETCDCTL_API=3
errf=$(mktemp) || exit 1
trap 'rm -f "$errf"' EXIT

# Requests arrive on fd 3; etcdctl gets /dev/null as stdin (txn gets a pipe),
# so no child can swallow a request meant for this loop.
exec 3<&0 0</dev/null

ctl() {
	etcdctl --endpoints="$ep" --dial-timeout="$tmo" --command-timeout="$tmo" "$@" 2>"$errf"
}

# The reason of a failure, on one line, led by a word faultline understands.
why() {
	msg=$(grep '^Error' "$errf" | tail -n 1)
	[ -n "$msg" ] || msg=$(tail -n 1 "$errf")
	msg=$(printf '%s' "$msg" | tr '\t\r\n' '   ')
	case $msg in
	*"deadline exceeded"* | *"timed out"*) echo "timeout $msg" ;;
	*"no leader"* | *"unavailable"* | *"Unavailable"*) echo "unavailable $msg" ;;
	*) echo "etcdctl ${msg:-failed}" ;;
	esac
}

members=""  # "ID=name ..." from member list, refreshed on an unknown ID

status() {
	st=$(ctl endpoint status -w fields) || { echo "fail $(why)"; return; }
	leader=$(printf '%s\n' "$st" | sed -n 's/^"Leader" : //p')
	term=$(printf '%s\n' "$st" | sed -n 's/^"RaftTerm" : //p' | head -n 1)
	if [ -z "$leader" ] || [ -z "$term" ]; then
		echo "fail etcdctl endpoint status said no leader or term"
		return
	fi
	if [ "$leader" = 0 ]; then
		echo "ok - $term"
		return
	fi
	name=$(leader_name "$leader")
	if [ -z "$name" ]; then
		ml=$(ctl member list -w fields) || { echo "fail $(why)"; return; }
		members=$(printf '%s\n' "$ml" | awk '
			$1 == "\"ID\"" { id = $3 }
			$1 == "\"Name\"" { gsub(/"/, "", $3); if ($3 != "") printf "%s=%s ", id, $3 }')
		name=$(leader_name "$leader")
	fi
	if [ -n "$name" ]; then
		echo "ok $name $term"
	else
		echo "fail leader $leader is not a named member"
	fi
}

leader_name() {
	for m in $members; do
		[ "${m%%=*}" = "$1" ] && { echo "${m#*=}"; return; }
	done
}

get() { # KEY l|s
	v=$(ctl get --consistency="$2" --print-value-only -- "$1") || { echo "fail $(why)"; return; }
	echo "ok${v:+ $v}"
}

put() {
	ctl put -- "$1" "$2" >/dev/null || { echo "info $(why)"; return; }
	echo ok
}

cas() { # KEY EXPECT VALUE: a value compare, then the put, in one transaction
	out=$(printf 'value("%s") = "%s"\n\nput %s %s\n\n\n' "$1" "$2" "$1" "$3" | ctl txn) ||
		{ echo "info $(why)"; return; }
	case $out in
	SUCCESS*) echo ok ;;
	FAILURE*) echo "fail compare $1 is not $2" ;;
	*) echo "info etcdctl txn said $(printf '%s' "$out" | head -n 1)" ;;
	esac
}

# A set is the keys set/KEY/ELEM (empty values), read back with a prefix read.
add() {
	ctl put -- "set/$1/$2" "" >/dev/null || { echo "info $(why)"; return; }
	echo ok
}

read_set() { # KEY l|s
	keys=$(ctl get --consistency="$2" --prefix --keys-only -- "set/$1/") ||
		{ echo "fail $(why)"; return; }
	line=ok
	for k in $keys; do
		line="$line ${k#set/$1/}"
	done
	echo "$line"
}

# The whole keyspace, read locally: equal states print equal text, and
# faultline hashes whatever word comes back into its 16-hex digest.
digest() {
	all=$(ctl get --consistency=s --from-key "") || { echo "fail $(why)"; return; }
	sum=$(printf '%s\n' "$all" | cksum | tr ' ' '-')
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
