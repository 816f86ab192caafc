#!/bin/sh
# End-to-end: a system.env value marked secret reaches the node's processes
# (the server and the exec client each check it and say only "ok" or "BAD"
# in their logs), and nothing faultline writes into the run directory holds
# it: the whole directory is searched for the value, for an override given
# with --set. Run with umask 000: still nothing in it is writable by
# others. On the host (about 4 s): it needs root for the namespaces, but no
# tc piece the host kernel may lack.
SUT=$PWD/build/tests/sut/broken-register
. "$(dirname "$0")/lib/common.sh"
e2e_begin
skip_unless_root "secret env values"

SECRET='s3cr3t-9f1c7e'        # in the file
OVERRIDE='0v3rr1d3-4b2a'      # from --set
# node.sh / client.sh: check the variables, then become the real program
cat >"$T/node.sh" <<SH
#!/bin/sh
[ "\$FL_TOKEN" = '$SECRET' ] && echo "token ok" || echo "token BAD"
[ "\$FL_OTHER" = '$OVERRIDE' ] && echo "other ok" || echo "other BAD"
exec '$SUT' "\$@"
SH
cat >"$T/client.sh" <<SH
#!/bin/sh
[ "\$FL_TOKEN" = '$SECRET' ] && echo "client token ok" >&2 || echo "client token BAD" >&2
[ "\$FL_TOKEN" = '$SECRET' ] && touch "$T/client-saw-it"
exec '$SUT' "\$@"
SH
chmod 755 "$T/node.sh" "$T/client.sh"
cat >"$T/secret.yaml" <<Y
name: secret-env
seed: 1
duration: 3s
cluster: {nodes: 3}
system:
  type: exec
  start: [./node.sh, server, '{name}', '{ip}', '{port}', '{peer_ips}', '{data_dir}']
  client: [./client.sh, client, '{ip}', '{port}', '1500']
  ready_timeout: 20s
  env:
    FL_TOKEN: {value: "$SECRET", secret: true}
    FL_OTHER: {value: "replaced on the command line", secret: true}
    FL_PLAIN: plain-visible
workload: {type: register, clients: 2, rate: "10/s", keys: 1}
checks: {linearizable: true}
Y

check "the broken register is built ($SUT; make builds it)" test -x "$SUT"
(umask 000; "$FL" run --runs "$T/runs" "$T/secret.yaml" \
	--set "system.env.FL_OTHER.value=$OVERRIDE" >"$T/run.out" 2>&1)
echo "# run exited $?"
dir=$(ls -d "$T"/runs/secret-env-* 2>/dev/null | head -1)
check "the run made its directory" test -d "$dir"
check "the server had the secret value from the file" grep -q "^token ok" "$dir/logs/n1.log"
check "the server had the secret value from --set" grep -q "^other ok" "$dir/logs/n1.log"
check "the exec client had the secret value" test -e "$T/client-saw-it"
check "no file in the run directory holds the secret" sh -c "! grep -rlF '$SECRET' '$dir'"
check "no file in the run directory holds the --set secret" sh -c "! grep -rlF '$OVERRIDE' '$dir'"
check "nor the runs directory or what faultline printed" \
	sh -c "! grep -rlF -e '$SECRET' -e '$OVERRIDE' '$T/runs' '$T/run.out'"
check "scenario.yaml in the run directory says (secret)" \
	grep -qF 'FL_TOKEN: {value: "(secret)", secret: true}' "$dir/scenario.yaml"
check "run.json records the override as (secret)" \
	grep -qF 'system.env.FL_OTHER.value=(secret)' "$dir/run.json"
check "a value not marked secret is kept" grep -qF 'FL_PLAIN: plain-visible' "$dir/scenario.yaml"
check "faultline check re-judges the run from the redacted copy" "$FL" check "$dir"
check "nothing in the run directory is writable by others" \
	sh -c "test -z \"\$(find '$dir' -perm -o+w ! -type l)\""
echo "1..$n"
[ "$failed" = 0 ]
