#!/usr/bin/env python3
"""The repetitions of tests/e2e/crash.sh (which says what they prove), in one
process: under emulation every program a shell starts costs a fraction of a
second, too coarse to hit a phase of a run that lasts seconds, and 20
repetitions of a dozen of them each would not fit the tier's time.

  crashkit.py FAULTLINE SCENARIO SEED REPS [PHASE]

Prints "ok N - what" / "not ok N - what" with details as "#" lines, and at
the end "# ... leftovers found: N". Exit status 1 when a check failed.
"""
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

DEADMAN = 5  # the agents' --heal-after
PHASES = ["bring-up", "apply", "hold", "heal", "final"]
# The run's timeline from its "ready" line: the partition applied at 2 s,
# healed at 4 s, the workload ends at 5 s, then the final reads. Each
# phase: the line to wait for ("" = the start) and the delay range (ms).
MOMENTS = {
    "bring-up": ("", 300, 2500),
    "apply": ("^ready", 1900, 2200),
    "hold": ("applied f0", 200, 1600),
    "heal": ("^ready", 3900, 4200),
    "final": ("^ready", 5000, 6200),
}
OVERRIDES = ["duration=5s", "nemesis.0.at=2s", "nemesis.0.for=2s", "checks.converge.within=1s"]


def children():
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            kids.setdefault(int(st[st.rindex(")") + 2 :].split()[1]), []).append(int(d))
    return kids


def descendants(pid):
    kids, out, todo = children(), [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def alive(pid):
    """pid still runs (a zombie does not)"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return None
    return None if st[st.rindex(")") + 2] == "Z" else st[st.index("(") : st.rindex(")") + 1]


def lines(path):
    with open(path, errors="replace") as f:
        return [l for l in re.split(r"[\r\n]", f.read()) if l.strip()]


def snapshot(state):
    """namespaces, links, temporary files and state entries there are now"""
    names = {f"link {n}" for n in os.listdir("/sys/class/net")}
    if os.path.isdir("/run/netns"):
        names |= {f"netns {n}" for n in os.listdir("/run/netns")}
    for d in ("/tmp", "/var/tmp"):
        names |= {f"temporary {d}/{n}" for n in os.listdir(d)}
    names |= {f"state {state}/{n}" for n in os.listdir(state)}
    return names


def held_faults():
    """each fl- namespace's qdiscs other than the default, and its filters"""
    out = []
    for ns in sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []:
        if not ns.startswith("fl-"):
            continue
        for what in ("qdisc", "filter"):
            r = subprocess.run(["ip", "netns", "exec", ns, "tc", what, "show", "dev", "eth0"],
                               capture_output=True, text=True)
            out += [f"{ns}: {l}" for l in r.stdout.splitlines()
                    if l.strip() and "noqueue" not in l and "qdisc noop" not in l]
    return out


class Tap:
    def __init__(self):
        self.n = self.failed = self.found = 0

    def check(self, ok, what, details=()):
        self.n += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {what}")
        for d in details:
            print(f"#   {d}")
        self.failed += not ok
        sys.stdout.flush()


def rep(tap, fl, scenario, tmp, state, base, rng, i, phase):
    wait_deadman = rng.randrange(5) == 0
    event, lo, hi = MOMENTS[phase]
    ms = rng.randrange(lo, hi)
    out = f"{tmp}/out{i}"
    runs = f"{tmp}/runs{i}"
    argv = [fl, "run", "--runs", runs, "--seed", str(i)]
    for o in OVERRIDES:
        argv += ["--set", o]
    with open(out, "w") as o:
        p = subprocess.Popen(argv + [scenario], stdout=o, stderr=subprocess.STDOUT)
    rx = re.compile(event) if event else None
    while rx and p.poll() is None and not any(rx.search(l) for l in lines(out)):
        time.sleep(0.02)
    time.sleep(ms / 1000)
    pids = descendants(p.pid)
    p.send_signal(signal.SIGKILL)
    p.wait()
    last = [l for l in lines(out) if "ops ok" not in l]
    # where it was: the run's last line (with its time) says the phase
    print(f"# rep {i}: {phase}, {ms} ms after {event or 'the start'}: killed after "
          f"\"{last[-1][:60] if last else ''}\"; {len(pids)} processes under it")
    def leftovers():
        # the run's reaper (a child) may still be taking the cluster down:
        # the run's processes get the dead-man interval to end
        end = time.monotonic() + DEADMAN
        while time.monotonic() < end and any(alive(q) for q in pids):
            time.sleep(0.1)
        return [f"process {q} {alive(q)}" for q in pids if alive(q)] + \
            sorted(snapshot(state) - base)

    if wait_deadman:
        # nothing asked of anyone: the agents heal on their own, the run's
        # reaper takes the cluster down
        time.sleep(DEADMAN + 1)
        held = held_faults()
        tap.check(not held, f"rep {i} ({phase}): the dead-man interval passed: no fault held",
                  [f"held: {h}" for h in held])
        rest = leftovers()
        tap.check(not rest, f"rep {i} ({phase}): and without a down, nothing of the run is left",
                  [f"left: {r}" for r in rest])
        tap.found += len(held) + len(rest)
    down = subprocess.run([fl, "down"], capture_output=True, text=True)
    rest = leftovers()
    tap.check(not rest, f"rep {i} ({phase}): after down (exit {down.returncode}), nothing of "
              "the run is left", [f"left: {r}" for r in rest] +
              [f"down: {l}" for l in (down.stdout + down.stderr).splitlines()] if rest else [])
    tap.found += len(rest)
    hist = [f"{runs}/{d}/history.jsonl" for d in os.listdir(runs)] if os.path.isdir(runs) else []
    if hist and os.path.exists(hist[0]):
        c = subprocess.run([fl, "check", hist[0]], capture_output=True, text=True)
        with open(hist[0], errors="replace") as f:
            nl = sum(1 for _ in f)
        text = (c.stdout + c.stderr).splitlines()
        tap.check(c.returncode in (0, 1, 3), f"rep {i} ({phase}): faultline check reads the "
                  f"history ({nl} lines; exit {c.returncode})",
                  text[:5] if c.returncode not in (0, 1, 3) else [l for l in text if "torn" in l])
    # the next rep starts from a clean machine even when this one failed
    for q in pids:
        try:
            os.kill(q, signal.SIGKILL)
        except OSError:
            pass
    subprocess.run(["rm", "-rf", runs])


def main(fl, scenario, seed, reps, phase=None):
    state = os.environ["FAULTLINE_STATE"]
    tap = Tap()
    tmp = tempfile.mkdtemp()
    base = snapshot(state) | {f"temporary /tmp/{os.path.basename(tmp)}"}
    start = time.monotonic()
    try:
        for i in range(1, reps + 1):
            rng = random.Random(seed * 1000 + i)
            ph = phase or PHASES[rng.randrange(len(PHASES))]
            rep(tap, fl, scenario, tmp, state, base, rng, i, ph)
    finally:
        subprocess.run(["rm", "-rf", tmp])
    print(f"# {reps} repetitions in {time.monotonic() - start:.0f} s; leftovers found: {tap.found}")
    print(f"crash: {tap.n - tap.failed} of {tap.n} checks passed")
    return 1 if tap.failed else 0


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(main(a[0], a[1], int(a[2]), int(a[3]), a[4] if len(a) > 4 and a[4] else None))
