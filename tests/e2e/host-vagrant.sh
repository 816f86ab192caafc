#!/bin/sh
# Runs on the host: the Vagrant lab's files, without booting anything (the
# lab itself is `make check-lab`). `vagrant validate` of vagrant/Vagrantfile
# for 1, 3 and 9 nodes, its refusals of bad settings, make-box's usage, and
# the lab scenarios: valid, and naming the domains and addresses the
# Vagrantfile gives its nodes. Prints "ok N - what".
FL=${FAULTLINE:-build/faultline}
T=$(mktemp -d)
n=0 failed=0
. "$(dirname "$0")/lib/common.sh"
trap 'rm -rf "$T"' EXIT
V=$(cd "$(dirname "$0")/../../vagrant" && pwd)
if ! command -v vagrant >/dev/null 2>&1; then
	echo "not ok 1 - vagrant is not installed (make deps installs vagrant and vagrant-libvirt)"
	exit 1
fi
# Vagrant's per-project directory in the scratch space, not the source tree
export VAGRANT_DOTFILE_PATH="$T/dot" VAGRANT_DEFAULT_PROVIDER=libvirt
had_dot=$([ -e "$V/.vagrant" ] && echo yes)
validate() { (cd "$V" && env "$@" vagrant validate); }
refused() { # refused ENV=VALUE... -- the words the refusal must hold
	words=$1
	shift
	! validate "$@" >"$T/v.out" 2>&1 && grep -q "$words" "$T/v.out"
}

check "vagrant-libvirt is installed" sh -c "vagrant plugin list | grep -q '^vagrant-libvirt'"
check "vagrant validate: the default lab (3 nodes)" validate FAULTLINE_LAB_NODES=3
check "vagrant validate: 1 node" validate FAULTLINE_LAB_NODES=1
check "vagrant validate: 9 nodes on another network, TCG" \
	validate FAULTLINE_LAB_NODES=9 FAULTLINE_LAB_NET=10.77.3 FAULTLINE_LAB_ACCEL=qemu
check "10 nodes are refused, saying why" refused "must be 1..9" FAULTLINE_LAB_NODES=10
check "a bad network is refused" refused "three octets" FAULTLINE_LAB_NET=300.1.2
check "an accelerator other than kvm or qemu is refused" refused "kvm or qemu" \
	FAULTLINE_LAB_ACCEL=xen
check "nothing was written into the source tree" sh -c "[ -n '$had_dot' ] || [ ! -e '$V/.vagrant' ]"
check "make-box: sh -n" sh -n "$V/make-box"
check "make-box --help says what it builds" sh -c "'$V/make-box' --help | grep -q 'faultline/debian12'"
check "make-box refuses an unknown argument" sh -c "! '$V/make-box' --bogus 2>/dev/null"
for f in "$V"/scenarios/*.yaml; do
	b=$(basename "$f")
	check "$b is valid" "$FL" validate "$f"
	# the domains and addresses the Vagrantfile makes: faultline-lab-nI at .1I
	check "$b names the lab's domains and addresses" sh -c "
		grep -q 'default_prefix = \"faultline-lab-\"' '$V/Vagrantfile' &&
		grep -q '#{LAB_NET}.#{10 + i}' '$V/Vagrantfile' &&
		for i in 1 2 3; do
			grep -q \"{name: faultline-lab-n\$i, address: 192.168.56.1\$i}\" '$f' || exit 1
		done"
	check "$b acts on eth1, the lab's private network" grep -q 'iface: eth1' "$f"
done
echo "vagrant: $((n - failed)) of $n checks passed"
[ "$failed" -eq 0 ]
