#!/usr/bin/env python3
"""An HTTP proxy on 127.0.0.1 in front of an archive's DICOMweb, for the client's fault tests.

Modes: "fail N": the first N requests are answered 503, the rest forwarded; "truncate": a multipart
answer (WADO-RS) is cut in half and the connection closed, as a server that dies mid-answer; "pass".
With CERT KEY CA after the mode, it serves HTTPS (Python's ssl, OpenSSL) and requires a client
certificate signed by CA (Debian 12's Orthanc 1.10.1 resets every HTTPS connection, so it cannot).
Usage: dicomweb_proxy.py PORT_FILE UPSTREAM_URL MODE [CERT KEY CA]  (the port is written to PORT_FILE)
"""
import http.server
import os
import ssl
import sys
import urllib.error
import urllib.request

port_file, upstream, mode = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
failures = int(mode.split()[1]) if mode.startswith("fail") else 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        global failures
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length) if length else None
        if failures > 0:
            failures -= 1
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        request = urllib.request.Request(upstream + self.path, data=body, method=self.command)
        for name in ("Authorization", "Accept", "Content-Type"):
            if name in self.headers:
                request.add_header(name, self.headers[name])
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                status, data, content_type = answer.status, answer.read(), answer.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, data, content_type = e.code, e.read(), e.headers.get("Content-Type", "")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if mode == "truncate" and content_type.startswith("multipart/"):
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = forward
    do_POST = forward

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) == 7:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4], sys.argv[5])
    context.load_verify_locations(sys.argv[6])
    context.verify_mode = ssl.CERT_REQUIRED
    server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
