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

# libvirtd for the VM tests, as `make check` promises: a running daemon is
# used as it is; otherwise this starts virtlogd and libvirtd (the way that
# works without systemd) and libvirtd_release stops exactly those, by PID.
# Returns 1 when libvirtd cannot be reached even so (the caller says why).
# Arguments go to a libvirtd started here (e.g. -l -f CONF to listen).
libvirtd_started=""
libvirtd_ensure() {
	virsh -c qemu:///system version >/dev/null 2>&1 && return 0
	command -v libvirtd >/dev/null 2>&1 || return 1
	mkdir -p /var/log/libvirt
	if ! pgrep -x virtlogd >/dev/null 2>&1; then
		virtlogd -d && libvirtd_started="virtlogd"
	fi
	if ! pgrep -x libvirtd >/dev/null 2>&1; then
		libvirtd -d "$@" && libvirtd_started="$libvirtd_started libvirtd"
	fi
	for i in $(seq 300); do
		virsh -c qemu:///system version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
# Stops what libvirtd_ensure started and waits until it is gone (a daemon
# still exiting would make the next test's libvirtd_ensure find it).
libvirtd_release() {
	for d in $libvirtd_started; do
		pid=$(cat "/run/$d.pid" 2>/dev/null) || continue
		[ -n "$pid" ] || continue
		kill "$pid" 2>/dev/null
		for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	done
	libvirtd_started=""
}

# A test that needs root, run without: prints "skip - WHAT: needs root",
# removes $T and ends the script (exit 0).
skip_unless_root() {
	[ "$(id -u)" = 0 ] && return 0
	echo "skip - $1: needs root"
	rm -rf "$T"
	exit 0
}

# In the micro-VM, /var/tmp is the host's under an overlay, where other runs
# on the host come and go: `private_var_tmp "$0" "$@"` first thing runs the
# script again in a mount namespace of its own with a fresh /var/tmp, so
# that what appears there is this test's (run data). No-op once done, or
# without unshare.
private_var_tmp() {
	[ -z "${FL_PRIVATE_VAR_TMP:-}" ] && [ "$(id -u)" = 0 ] || return 0
	command -v unshare >/dev/null || return 0
	FL_PRIVATE_VAR_TMP=1 exec unshare -m sh -c 'mount -t tmpfs fl-test /var/tmp && exec "$@"' sh "$@"
}

# The start of a script that runs faultline, after sourcing this file:
# FL, a state directory of its own (FAULTLINE_STATE) and a scratch
# directory T, the counts at 0, and a trap that removes both at exit, after
# the shell words in $1 when given (say '"$FL" down >/dev/null 2>&1').
e2e_begin() {
	FL=${FAULTLINE:-build/faultline}
	FAULTLINE_STATE=$(mktemp -d)
	export FAULTLINE_STATE
	T=$(mktemp -d)
	n=0 failed=0
	trap "${1:+$1; }"'rm -rf "$T" "$FAULTLINE_STATE"' EXIT
}

# The whole script needs root and etcd (the test micro-VM): else one skip.
need_root_etcd() {
	[ "$(id -u)" = 0 ] || { echo "skip 1 - needs root"; exit 0; }
	command -v etcd >/dev/null || { echo "skip 1 - needs etcd (etcd-server)"; exit 0; }
}
