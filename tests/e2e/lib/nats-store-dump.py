#!/usr/bin/env python3
# Compares the stream 'faultline' as each NATS node stored it: reads the
# message blocks of nats-server 2.9's file store (msgs/N.blk: per record
# length, sequence, time, subject length, subject, headers, data, hash;
# little endian) under ROOT/NODE/ and prints every sequence whose message
# differs between the nodes, then each node's range. Evidence for a
# converge or no_lost_writes FAIL: replicas holding different messages at
# the same sequence (README, "What faultline has caught").
# usage: nats-store-dump.py ROOT NODE...   (ROOT: a copy of the run's data root)
import glob
import os
import struct
import sys


def dump(root):
    out = {}
    blks = glob.glob(os.path.join(root, '**/streams/faultline/msgs/*.blk'), recursive=True)
    for f in sorted(blks, key=lambda p: int(os.path.basename(p).split('.')[0])):
        b = open(f, 'rb').read()
        i = 0
        while i + 22 <= len(b):
            rl, seq, _ts, slen = struct.unpack_from('<IQqH', b, i)
            has_hdr = rl & (1 << 31)
            rl &= ~(1 << 31)
            if rl < 22 or i + rl > len(b):
                break
            erased = bool(seq & (1 << 63))
            seq &= ~(3 << 62)
            subj = b[i + 22:i + 22 + slen].decode(errors='replace')
            j = i + 22 + slen
            if has_hdr:
                hl, = struct.unpack_from('<I', b, j)
                j += 4 + hl
            data = b[j:i + rl - 8].decode(errors='replace')
            if seq and not erased:
                out[seq] = (subj, data)  # a later record of a sequence wins
            i += rl
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit('usage: nats-store-dump.py ROOT NODE...')
    stores = {n: dump(os.path.join(sys.argv[1], n)) for n in sys.argv[2:]}
    empty = [n for n, s in stores.items() if not s]
    if empty:
        sys.exit('no stored message of stream faultline under %s for %s' %
                 (sys.argv[1], ', '.join(empty)))
    differing = 0
    for q in sorted(set().union(*stores.values())):
        vals = {n: s.get(q) for n, s in stores.items()}
        if len(set(vals.values())) > 1:
            differing += 1
            print(q, '  '.join('%s=%s' % (n, '%s %s' % v if v else '-') for n, v in vals.items()))
    for n, s in stores.items():
        print('%s: %d messages, sequences %d..%d' % (n, len(s), min(s, default=0), max(s, default=0)))
    print('sequences that differ: %d' % differing)
    return 1 if differing else 0


if __name__ == '__main__':
    sys.exit(main())
