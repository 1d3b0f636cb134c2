"""The floor for concurrent transfers on this machine: a minimal server sending N fixed bytes.

Run as its own process (``python -m bench.floor PORT SIZE``) so it has its own interpreter lock.
It does nothing but accept, read the request and ``sendall`` a prepared response from a new
thread per connection, so its three-concurrent-scrapes ratio shows what sharing the cores
between three transfers of that size costs, whatever the server.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("size", type=int, help="bytes of body")
    args = parser.parse_args(argv)
    port, size = args.port, args.size
    body = os.urandom(size)
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode()
    server = socket.create_server(("127.0.0.1", port), backlog=64)

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.recv(65536)
            conn.sendall(head)
            conn.sendall(body)

    while True:
        conn, _ = server.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
