"""A named test double of `vllm serve` for the serving tests: answers /health and /version on --host/--port
and starts a helper child (as vLLM's engine core is), so process-group cleanup can be checked.
FAKE_SERVER_MODE: ok | fail (exits before it is ready, with a log line) | die (exits 1.5 s after it is first
found healthy). /version also reports the --max-num-seqs it was started with. Each process appends its pid and
its child's to FAKE_SERVER_PIDS."""

from __future__ import annotations

import argparse
import http.server
import json
import os
import subprocess
import sys
import threading


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-num-seqs", type=int, default=256)
    args, _ = parser.parse_known_args()
    mode = os.environ.get("FAKE_SERVER_MODE", "ok")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(os.environ["FAKE_SERVER_PIDS"], "a") as f:
        f.write(f"{os.getpid()} {child.pid}\n")
    print(f"fake vllm serve: starting on port {args.port}", flush=True)
    if mode == "fail":
        print(
            "fake vllm serve: torch.OutOfMemoryError: CUDA out of memory while loading the model", flush=True
        )
        sys.exit(3)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            # the scheduler knob it was started with, so the load double can make goodput depend on it
            body = (
                json.dumps({"version": "0.0-fake", "fake_max_num_seqs": args.max_num_seqs}).encode()
                if self.path == "/version"
                else b""
            )
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
            if mode == "die" and self.path == "/health":
                threading.Timer(
                    1.5, lambda: (print("fake vllm serve: engine core died", flush=True), os._exit(9))
                ).start()

        def log_message(self, *args: object) -> None:
            pass

    try:
        server = http.server.HTTPServer((args.host, args.port), Handler)
    except OSError as err:
        print(
            f"fake vllm serve: {err}", flush=True
        )  # "[Errno 98] Address already in use", as uvicorn logs it
        sys.exit(1)
    server.serve_forever()


if __name__ == "__main__":
    main()
