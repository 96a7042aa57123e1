"""A static HTTP server for a generated CC-NEWS mirror, with faults on demand."""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Mirror(BaseHTTPRequestHandler):
    """Serves a directory; a path in ``stall`` sends half its bytes, then waits."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        server.asked.append((time.monotonic(), self.path))
        status = server.status.get(self.path)
        if status:
            status_code, headers = status.pop(0) if status else (200, {})
            if status_code != 200:
                self.send_response(status_code)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        path = server.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in server.stall:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            server.stalled.set()
            server.release.wait(60)
            return
        self.wfile.write(body)


@contextlib.contextmanager
def mirror_server(root):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    server.daemon_threads = True
    server.root, server.asked, server.status = root, [], {}
    server.stall, server.stalled, server.release = set(), threading.Event(), threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def base_of(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/"
