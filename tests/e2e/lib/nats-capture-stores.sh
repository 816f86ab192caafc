#!/bin/sh
# Runs a NATS scenario and, once the run reports convergence (or that there
# was none), copies every node's JetStream store while the servers still
# run, for tests/e2e/lib/nats-store-dump.py. Inside the test micro-VM:
#   tests/vm/run --timeout 1800 --share $PWD/build -- \
#     tests/e2e/lib/nats-capture-stores.sh scenarios/nats-partitions.yaml 12 build/nats-evidence
# then: tests/e2e/lib/nats-store-dump.py build/nats-evidence/<name>-<seed> n1 n2 n3
FL=${FAULTLINE:-build/faultline}
file=$1 seed=$2 out=$3
[ -n "$out" ] || { echo "usage: $0 SCENARIO SEED OUTDIR" >&2; exit 2; }
name=$(basename "$file" .yaml)
dest=$out/$name-$seed
mkdir -p "$dest" || exit 2
touch "$dest/.started"
"$FL" run --runs "$out/runs" --seed "$seed" "$file" >"$dest/run.out" 2>&1 &
p=$!
while kill -0 $p 2>/dev/null; do
	if grep -q 'converged' "$dest/run.out"; then
		# this run's data root: made after .started (others' may be there too)
		for r in $(find /var/tmp -maxdepth 1 -name 'faultline-data-*' -newer "$dest/.started"); do
			tar -C "$r" -cf "$dest/stores.tar" . 2>>"$dest/capture.log"
			tar -C "$dest" -xf "$dest/stores.tar" 2>>"$dest/capture.log"
		done
		break
	fi
	sleep 0.3
done
wait $p
st=$?
tail -8 "$dest/run.out"
exit $st
