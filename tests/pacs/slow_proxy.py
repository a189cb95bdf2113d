#!/usr/bin/env python3
"""A slow TCP relay for tests: listens on 127.0.0.1:PORT, relays one connection at a time to
127.0.0.1:TARGET, the client's bytes in 4 KiB pieces with DELAY seconds between them (the answers at
once). A sender through it takes seconds to deliver a series, so a test can kill the receiver while
the series is arriving. Usage: slow_proxy.py PORT TARGET DELAY"""
import socket
import sys
import threading
import time

port, target, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])


def pump(src, dst, pause):
    try:
        while True:
            data = src.recv(4096)
            if not data:
                break
            dst.sendall(data)
            if pause:
                time.sleep(pause)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(4)
while True:
    client, _ = listener.accept()
    server = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pump, args=(server, client, 0), daemon=True).start()
    threading.Thread(target=pump, args=(client, server, delay), daemon=True).start()
