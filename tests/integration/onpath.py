#!/usr/bin/env python3
"""onpath.py - a hostile host between two xlmig hosts, for t_hostile.sh.

    onpath.py inject LISTEN TARGET BYTES
        A TCP relay from LISTEN to TARGET.  Once BYTES have gone towards
        TARGET on the first connection (channel 0), a forged CTRL GO frame
        is written raw into the TCP stream there, then relaying goes on:
        an on-path attacker who cannot read the TLS records injecting a
        commit message.
    onpath.py cut LISTEN TARGET BYTES
        The same, but at BYTES the source's side of channel 0 is cut and
        the forged GO goes on the destination's TCP stream after it: the
        attacker drops the session and speaks in its place.
    onpath.py reflect LISTEN TARGET CERT KEY CA
        A TLS relay that holds a certificate of the cluster (CERT, KEY):
        it terminates the source's TLS and replays every byte, the HELLO
        first, on a new TLS connection to TARGET (the source's own
        listener): the source's own HELLO reflected back to it.

LISTEN and TARGET are HOST:PORT.  Each connection's events go to stdout,
one line each, for the test's log.
"""
import socket
import ssl
import struct
import sys
import threading

FRAME_CTRL = 0x21
CTRL_GO = 4


def forged_go():
    """A well-formed CTRL GO frame ("XF" header, le32 type, "{}")."""
    payload = struct.pack("<I", CTRL_GO) + b"{}"
    return b"XF" + bytes([FRAME_CTRL, 0]) + struct.pack("<IQ", len(payload), 0) + payload


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def say(*words):
    print(*words, flush=True)


def pump(src, dst, on_bytes=None):
    """Copy src to dst until either ends; on_bytes(total) may stop it."""
    total = 0
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            total += len(data)
            if on_bytes and on_bytes(total):
                break
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def relay_tcp(mode, client, target, threshold, first):
    server = socket.create_connection(target)
    fired = [False]

    def towards_target(total):
        if not first or fired[0] or total < threshold:
            return False
        fired[0] = True
        if mode == "cut":
            client.shutdown(socket.SHUT_RDWR)
            say("cut the source's side of channel 0 after", total, "bytes")
        server.sendall(forged_go())
        say("forged CTRL GO written raw after", total, "bytes")
        if mode == "cut":
            threading.Event().wait(2)  # let the destination read it
            return True
        return False

    back = threading.Thread(target=pump, args=(server, client), daemon=True)
    back.start()
    pump(client, server, towards_target)
    back.join(5)
    client.close()
    server.close()


def relay_tls(client, target, cert, key, ca):
    srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv_ctx.load_cert_chain(cert, key)
    srv_ctx.load_verify_locations(ca)
    srv_ctx.verify_mode = ssl.CERT_REQUIRED
    cli_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cli_ctx.load_cert_chain(cert, key)
    cli_ctx.load_verify_locations(ca)
    cli_ctx.check_hostname = False
    try:
        inner = srv_ctx.wrap_socket(client, server_side=True)
        outer = cli_ctx.wrap_socket(socket.create_connection(target))
    except (OSError, ssl.SSLError) as e:
        say("TLS relay set-up failed:", e)
        client.close()
        return
    say("relaying", inner.getpeercert()["subject"], "to", target)
    back = threading.Thread(target=pump, args=(outer, inner), daemon=True)
    back.start()
    pump(inner, outer)
    back.join(5)
    inner.close()
    outer.close()


def main(argv):
    mode = argv[1]
    listen, target = addr(argv[2]), addr(argv[3])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(listen)
    sock.listen(16)
    say("listening on", argv[2], "mode", mode)
    first = True
    while True:
        client, peer = sock.accept()
        say("connection from", peer)
        if mode == "reflect":
            args = (client, target, argv[4], argv[5], argv[6])
            worker = relay_tls
        else:
            args = (mode, client, target, int(argv[4]), first)
            worker = relay_tcp
        threading.Thread(target=worker, args=args, daemon=True).start()
        first = False


if __name__ == "__main__":
    main(sys.argv)
