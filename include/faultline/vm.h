/* Local clusters inside one micro-VM, for kernels without netem/prio/gact
 * (WSL2, minimal cloud kernels): `faultline up --vm` boots the stock kernel
 * under qemu with the host's root shared read-only (the runner of
 * tests/vm/run), runs the cluster there, and later `status`, `inject`,
 * `heal` and `down` on the host are forwarded to it through files in the
 * cluster's state directory, shared read-write with the guest:
 *   req-N.json  {"argv": [...]}     host -> guest, a command to run
 *   out-N.log                        guest -> host, its output, as it comes
 *   cancel-N                         host -> guest, Ctrl-C for it
 *   rc-N                             guest -> host, its exit status
 *   ready / failed                   guest -> host, after `up` inside */
#ifndef FAULTLINE_VM_H
#define FAULTLINE_VM_H

#include <stddef.h>
#include <stdio.h>

#define FL_VM_MARK "vm.json"

/* The VM runner: $FAULTLINE_VM_RUN, else next to the binary
 * (../tests/vm/run in a build tree, ../libexec/faultline/vm-run installed). */
int fl_vm_runner(char *out, size_t len);

/* Boot the VM and bring the scenario's cluster up inside it; dir is the
 * host state directory of the cluster (created). The cluster's status goes
 * to out; when it does not come up, the guest's words and the VM's log to
 * diag (and the reason to err). */
int fl_vm_up(const char *dir, const char *scenario_path, char *const *overrides, size_t nov,
	     FILE *out, FILE *diag, char *err, size_t errlen);

/* Inside the guest: bring the cluster up, then serve forwarded commands
 * until one of them is `down`. */
int fl_vm_serve(const char *dir, const char *scenario_path, char *const *overrides, size_t nov);

/* On the host: run `faultline argv...` inside the cluster's VM, streaming
 * its output to out; returns its exit status (2 with the reason in err
 * when the VM is not running or stopped). After `down`, waits for the VM
 * to stop and removes dir. */
int fl_vm_forward(const char *dir, int argc, char **argv, FILE *out, char *err,
		  size_t errlen);

/* On the host: run the VM runner's argv (run --vm) and wait for it. It
 * never outlives this process, even one killed by SIGKILL: it gets SIGTERM
 * then (and stops its qemu and removes its directory), and `remove`
 * (optional: a temporary file of the caller's for the VM) is removed. The
 * first SIGINT, SIGTERM or SIGHUP that comes meanwhile reaches the command
 * in the VM as SIGTERM (it heals and judges), the next one stops the VM at
 * once. Returns how many were passed on (0..2), its wait status in
 * *status; -errno when it cannot start. */
int fl_vm_exec(char *const argv[], const char *remove, int *status);

#endif
