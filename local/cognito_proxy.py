"""A pass-through in front of cognito-local's API that corrects one wrong error code.

cognito-local 5.3.0 answers ``AdminUpdateUserAttributes``, ``AdminDeleteUserAttributes`` and
``AdminConfirmSignUp`` for a user that does not exist with ``NotAuthorizedException``; Cognito
answers ``UserNotFoundException`` ("User does not exist."), and code that treats a deleted
user as nothing to do (the Cognito sync) relies on that. Every other request and response
passes through unchanged.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MISSING_USER_AS_NOT_AUTHORIZED = frozenset(
    {"AdminUpdateUserAttributes", "AdminDeleteUserAttributes", "AdminConfirmSignUp"}
)
UPSTREAM_TIMEOUT_SECONDS = 15
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"})


class CognitoProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        super().__init__(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> CognitoProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: CognitoProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {key: value for key, value in self.headers.items() if key.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=UPSTREAM_TIMEOUT_SECONDS)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            status, payload = response.status, response.read()
            reply_headers = [(key, value) for key, value in response.getheaders() if key.lower() not in _HOP_BY_HOP]
        finally:
            upstream.close()
        target = str(self.headers.get("X-Amz-Target", "")).rpartition(".")[2]
        if status == 400 and target in MISSING_USER_AS_NOT_AUTHORIZED:
            payload = _missing_user(payload)
        self.send_response(status)
        for key, value in reply_headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _missing_user(payload: bytes) -> bytes:
    try:
        error = json.loads(payload)
    except ValueError:
        return payload
    if error.get("__type") != "NotAuthorizedException":
        return payload
    return json.dumps({"__type": "UserNotFoundException", "message": "User does not exist."}).encode()
