#!/bin/sh
# tests/bench/bench_md.sh BUILD: BUILD/bench.md from the sections benchmarks
# wrote into BUILD/bench.d/NAME.md (each between <!-- bench:NAME --> and
# <!-- /bench:NAME --> markers), in name order. A benchmark rewrites only
# its own file, so one section can be measured again without the others.
set -eu
build=${1:?usage: bench_md.sh BUILD}
out=$build/bench.md
set -- "$build"/bench.d/*.md
[ -e "$1" ] || { echo "bench_md: no sections in $build/bench.d" >&2; exit 1; }
{
	echo "# faultline benchmarks"
	echo
	echo "Written by \`make bench\` (tests/bench/); each section names the machine it ran on."
	for f; do echo; cat "$f"; done
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "bench: wrote $out ($# section(s))"
