"""AWS's SSM document language service (npm `aws-ssm-document-language-service`), driven over its
language-server protocol: an independent check of exported Automation documents.

The package's `dist/server.js` is itself the server (`node server.js --stdio`): it validates a document
against its JSON schema on `textDocument/didOpen` and answers with `textDocument/publishDiagnostics`
(language id `ssm-json` for JSON, `ssm-yaml` for YAML). It is installed once with npm into the user's
cache dir and reused from there (no network when it is already installed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from queue import Empty, Queue
from typing import IO, Any

PACKAGE = "aws-ssm-document-language-service"
VERSION = "1.0.0"
SERVER = Path("node_modules") / PACKAGE / "dist" / "server.js"


def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("hybridops", appauthor=False)) / "ssm-language-service" / VERSION


def install() -> Path:
    """The server script, installed with npm into the cache dir unless it is there already (under a lock:
    the suite's two workers may both get here on a fresh machine)."""
    import fcntl

    prefix = cache_dir()
    server = prefix / SERVER
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f".{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if server.is_file():  # installed before (or by the other worker meanwhile): no network
            return server
        npm = shutil.which("npm")
        assert npm is not None
        proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(prefix),
                               f"{PACKAGE}@{VERSION}"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 and server.is_file(), f"npm install failed:\n{proc.stdout}\n{proc.stderr}"
    return server


class LanguageServer:
    """One `node server.js --stdio`; `diagnostics(docs)` opens each and collects what it publishes."""

    def __init__(self, server: Path) -> None:
        node = shutil.which("node")
        assert node is not None
        self.proc = subprocess.Popen([node, str(server), "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env={**os.environ})
        self.messages: Queue[dict[str, Any]] = Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()
        self.request(1, "initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {},
                                       "initializationOptions": {}})
        self.notify("initialized", {})

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                key, _, value = line.decode("ascii").partition(":")
                if key.strip().lower() == "content-length":
                    length = int(value)
            assert length is not None
            self.messages.put(json.loads(stream.read(length)))

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            return self.messages.get(timeout=timeout)
        except Empty:
            raise AssertionError(f"the language server sent nothing for {timeout} s") from None

    def request(self, id: int, method: str, params: dict[str, Any], timeout: float = 60) -> Any:
        self._send({"id": id, "method": method, "params": params})
        while True:
            message = self._next(timeout)
            if message.get("id") == id:
                assert "error" not in message, message
                return message.get("result")

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    def diagnostics(self, docs: dict[str, str], timeout: float = 60) -> dict[str, list[dict[str, Any]]]:
        """{file name: its diagnostics}; `.json` names are opened as ssm-json, the others as ssm-yaml."""
        uris = {f"file:///exported/{name}": name for name in docs}
        for uri, name in uris.items():
            self.notify("textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": "ssm-json" if name.endswith(".json") else "ssm-yaml", "version": 1,
                "text": docs[name]}})
        found: dict[str, list[dict[str, Any]]] = {}
        while len(found) < len(uris):
            message = self._next(timeout)
            if message.get("method") == "textDocument/publishDiagnostics" and message["params"]["uri"] in uris:
                found[uris[message["params"]["uri"]]] = message["params"]["diagnostics"]
        return found

    def close(self) -> None:
        try:
            self.request(99, "shutdown", {}, timeout=10)
            self.notify("exit", {})
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
