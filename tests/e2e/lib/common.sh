# Shared by the e2e scripts (sourced, not run): one check, printed as
# "ok N - what" or "not ok N - what" with its output indented below.
# Needs $T (a scratch directory); counts in $n and $failed.
check() {
	what=$1
	shift
	n=$((n + 1))
	if "$@" >"$T/out" 2>&1; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"
		sed 's/^/#   /' "$T/out" | head -20
		failed=$((failed + 1))
	fi
}

# Namespaces and links on this machine, sorted: compared before and after a
# run, nothing of faultline's may remain.
leftovers() {
	{ ls /run/netns 2>/dev/null; ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//'; } | sort
}
