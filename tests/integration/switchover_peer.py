#!/usr/bin/python3
"""switchover_peer.py - the two ends of t_switchover.sh's TCP connection.

  switchover_peer.py sink PORT COUNTFILE
      In the guest's namespace: accept one connection and read it to its
      end, answering nothing but the kernel's ACKs (the guest must stay
      quiet: a byte of its own would teach the switch its new port), then
      write the number of bytes received to COUNTFILE.

  switchover_peer.py client HOST PORT
      On the switch: send 64 bytes every 10 ms until stdin is closed,
      then wait up to 30 s for every byte to be acknowledged, close, and
      print one line: sent=BYTES stall_ms=MS acked=yes|no error=TEXT.
      stall_ms is the longest time the connection had data sent but not
      acknowledged (SIOCOUTQ, polled every 5 ms): how long TCP stood
      still across the move, retransmission back-off included.
"""
import fcntl
import os
import select
import socket
import struct
import sys
import termios
import time


def sink(port, countfile):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    conn, _ = srv.accept()
    total = 0
    while True:
        data = conn.recv(65536)
        if not data:
            break
        total += len(data)
    with open(countfile + ".tmp", "w") as f:
        f.write("%d\n" % total)
    os.rename(countfile + ".tmp", countfile)
    conn.close()


def unacked(s):
    return struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\0\0\0\0"))[0]


def client(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    sent, stall, since, error = 0, 0.0, None, ""
    next_send = time.monotonic()
    stdin_open = True
    deadline = None
    msg = b"x" * 64
    while True:
        now = time.monotonic()
        if stdin_open and now >= next_send:
            try:
                sent += s.send(msg)
            except BlockingIOError:
                pass
            except OSError as e:
                error = str(e)
                break
            next_send += 0.01
        try:
            q = unacked(s)
        except OSError as e:
            error = str(e)
            break
        if q > 0 and since is None:
            since = now
        elif q == 0 and since is not None:
            stall = max(stall, now - since)
            since = None
        if not stdin_open and q == 0:
            break
        if not stdin_open and now > deadline:
            break
        r, _, _ = select.select([sys.stdin] if stdin_open else [], [], [], 0.005)
        if r and not os.read(sys.stdin.fileno(), 4096):
            stdin_open = False
            deadline = now + 30
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err and not error:
        error = os.strerror(err)
    acked = not error and unacked(s) == 0
    if since is not None:
        stall = max(stall, time.monotonic() - since)
    s.close()
    print("sent=%d stall_ms=%d acked=%s error=%s" %
          (sent, int(stall * 1000), "yes" if acked else "no", error.replace(" ", "_") or "none"))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "sink":
        sink(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "client":
        client(sys.argv[2], int(sys.argv[3]))
    else:
        sys.stderr.write("usage: switchover_peer.py sink PORT COUNTFILE | client HOST PORT\n")
        sys.exit(2)
