#!/bin/sh
# Runs on the host: the README's first command on a machine that has none
# of the packages yet. Stand-ins first on PATH: dpkg-query knows no package
# and pkg-config finds no library until apt-get "installs" them (a mark in
# the scratch directory); after that both are the real ones. `make demo`
# (DEMO_DRY=1: build, then say what it would run) must then build at the
# first try, into a scratch build directory: it once stopped with
# "netlink/attr.h: No such file or directory" and passed only the second
# time, because make had read pkg-config before deps ran. `make check`
# (CHECK_DRY=1: build everything, then say what it would run) likewise. The control,
# `make deps all` in one make, still fails that way, which shows the stand-ins
# make the state of a fresh machine. Needs root (deps installs only as root).
n=0 failed=0
. "$(dirname "$0")/lib/common.sh"
skip_unless_root "a fresh machine's make demo"
T=${FRESH_T:-$(mktemp -d)} # FRESH_T=DIR: keep the scratch directory and its logs
[ -n "${FRESH_T:-}" ] || trap 'rm -rf "$T"' EXIT
R=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$T/bin"
cat >"$T/bin/dpkg-query" <<EOF
#!/bin/sh
[ -e "$T/installed" ] && exec /usr/bin/dpkg-query "\$@"
exit 1
EOF
cat >"$T/bin/apt-get" <<EOF
#!/bin/sh
echo "apt-get (stand-in) \$*" >>"$T/apt.log"
case "\$1" in install) touch "$T/installed" ;; esac
exit 0
EOF
cat >"$T/bin/pkg-config" <<EOF
#!/bin/sh
[ -e "$T/installed" ] && exec /usr/bin/pkg-config "\$@"
exit 1
EOF
chmod +x "$T/bin/dpkg-query" "$T/bin/apt-get" "$T/bin/pkg-config"
fresh_make() { # a make of the tree as on a fresh machine, into $T/$1
	b=$1
	shift
	rm -f "$T/installed"
	PATH="$T/bin:$PATH" make -C "$R" --no-print-directory $J BUILD="$T/$b" \
		PKG_CONFIG="$T/bin/pkg-config" "$@" >"$T/$b.log" 2>&1
	st=$?
	cat "$T/$b.log"
	return $st
}
# (one job: deps must be done before the build starts, as in make demo)
control_fails() { ! J= fresh_make control-build deps all; }
J=-j2

check "the stand-ins: no package, no library" sh -c "
	! PATH='$T/bin:$PATH' dpkg-query -W -f='\${Status}' libnl-3-dev &&
	! PKG_CONFIG_PATH= '$T/bin/pkg-config' --exists libnl-3.0"
check "make demo builds at the first try (DEMO_DRY=1)" fresh_make demo-build DEMO_DRY=1 demo
check "deps installed (the stand-in apt-get was asked)" grep -q 'install' "$T/apt.log"
check "and the demo would run" grep -q 'demo: built; would run' "$T/demo-build.log"
check "both programs are built" sh -c "[ -x '$T/demo-build/faultline' ] && [ -x '$T/demo-build/faultline-agent' ]"
# make check the same way, the README's second command, in the same
# directory (the programs are built; the tests are not yet)
check "make check builds at the first try (CHECK_DRY=1)" fresh_make demo-build CHECK_DRY=1 check
check "deps installed again (the stand-in apt-get was asked)" sh -c "[ \$(grep -c install '$T/apt.log') -ge 2 ]"
check "and its tiers would run" grep -q 'check: built; would run the tiers' "$T/demo-build.log"
check "the test programs are built" sh -c "[ -x '$T/demo-build/tests/unit/test_scenarios' ] && [ -x '$T/demo-build/tests/kernel/test_tc' ]"
check "the control: deps and all in one make fail on a fresh machine" control_fails
check "as a fresh machine's make did: a header of a library not found" \
	grep -q 'No such file or directory' "$T/control-build.log"
echo "fresh make: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
