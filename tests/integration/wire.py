#!/usr/bin/env python3
"""A slow, lossy Ethernet wire between two interfaces, in user space: what
`tc netem delay D J loss L rate R` does, for kernels built without
sch_netem (the test machines' kernel among them).

    wire.py IFACE_A IFACE_B --delay-ms 200 --jitter-ms 50 --loss 5 \
            --rate-kbit 256 [--limit 1000] [--seed N]

Every frame that arrives on one interface leaves on the other, in each
direction independently: dropped with probability LOSS %, otherwise queued
behind the frames before it (at most LIMIT frames, the rest dropped, as a
netem queue would), sent out after its serialisation time at RATE kbit/s
plus DELAY +- JITTER ms.  Frames keep their order (no reordering).  Run it
inside a network namespace that holds both interfaces (each the end of a
veth pair whose other end is a host of the test); it needs CAP_NET_RAW.

The interfaces' GSO/checksum offloads pass through: frames are read and
written with PACKET_VNET_HDR, so a TCP super-packet the kernel has not
segmented yet crosses as one unit and is segmented on the far side (netem
also drops such a packet whole).

It runs until SIGTERM or SIGINT and prints one line of counters per
direction to stdout when it stops.  Used by wjtest.SlowLink.
"""

import argparse
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_VNET_HDR = 15
PACKET_OUTGOING = 4
FRAME_MAX = 65536 + 64


class Direction:
    def __init__(self, name, src, dst, args, rnd):
        self.name, self.src, self.dst = name, src, dst
        self.args, self.rnd = args, rnd
        self.queue = []          # heap of (due, seq, frame)
        self.seq = 0
        self.tx_free = 0.0       # when the wire is free to send again
        self.last_due = 0.0      # keeps the frames in order
        self.passed = self.lost = self.overflow = self.errors = 0

    def take(self, frame, now):
        a = self.args
        if self.rnd.random() * 100.0 < a.loss:
            self.lost += 1
            return
        if len(self.queue) >= a.limit:
            self.overflow += 1
            return
        # The vnet header (10 bytes) is not on the wire.
        bits = (len(frame) - 10) * 8
        start = max(now, self.tx_free)
        self.tx_free = start + (bits / (a.rate_kbit * 1000.0)
                                if a.rate_kbit > 0 else 0.0)
        delay = a.delay_ms + self.rnd.uniform(-a.jitter_ms, a.jitter_ms)
        due = max(self.tx_free + max(delay, 0.0) / 1000.0, self.last_due)
        self.last_due = due
        self.seq += 1
        heapq.heappush(self.queue, (due, self.seq, frame))

    def release(self, now):
        while self.queue and self.queue[0][0] <= now:
            _, _, frame = heapq.heappop(self.queue)
            try:
                self.dst.send(frame)
                self.passed += 1
            except OSError:
                # The far interface is down (a cut link): the frame is
                # lost, as on a real wire.
                self.errors += 1

    def next_due(self):
        return self.queue[0][0] if self.queue else None

    def counters(self):
        return ('%s: %d passed, %d lost, %d over the limit, %d not sent'
                % (self.name, self.passed, self.lost, self.overflow,
                   self.errors))


def open_iface(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                      socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.bind((name, ETH_P_ALL))
    s.setblocking(False)
    return s


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('a')
    p.add_argument('b')
    p.add_argument('--delay-ms', type=float, default=0.0)
    p.add_argument('--jitter-ms', type=float, default=0.0)
    p.add_argument('--loss', type=float, default=0.0, help='percent')
    p.add_argument('--rate-kbit', type=float, default=0.0, help='0 = no limit')
    p.add_argument('--limit', type=int, default=1000)
    p.add_argument('--seed', type=int, default=None)
    args = p.parse_args()
    rnd = random.Random(args.seed)

    sa, sb = open_iface(args.a), open_iface(args.b)
    dirs = {sa.fileno(): Direction('%s->%s' % (args.a, args.b), sa, sb,
                                   args, rnd),
            sb.fileno(): Direction('%s->%s' % (args.b, args.a), sb, sa,
                                   args, rnd)}
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    print('wire: %s <-> %s up (pid %d)' % (args.a, args.b, os.getpid()),
          flush=True)

    while not stop:
        now = time.monotonic()
        dues = [d.next_due() for d in dirs.values()]
        dues = [x for x in dues if x is not None]
        timeout = max(0.0, min(dues) - now) if dues else 0.5
        try:
            ready, _, _ = select.select(list(dirs), [], [], min(timeout, 0.5))
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in ready:
            d = dirs[fd]
            for _ in range(256):
                try:
                    frame, addr = d.src.recvfrom(FRAME_MAX)
                except BlockingIOError:
                    break
                except OSError:
                    break  # interface went down; select again
                if addr[2] == PACKET_OUTGOING:
                    continue  # our own send, seen again
                d.take(frame, now)
        now = time.monotonic()
        for d in dirs.values():
            d.release(now)

    for d in dirs.values():
        print('wire: ' + d.counters(), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
