"""The session's servers: one live `vllm serve` at a time, for the server key of the cases being run (the
cases of a key run back to back), started on first use and stopped when the next key needs the GPUs or the
session ends.

A server that fails to start fails every case of its key with its log's last lines (it is not restarted for
each); a server that dies under load fails the case that was running and is started afresh for the next one.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from ..hardware.gpu import Gpu
from ..models import load_config, materialize, max_positions, resolve
from ..runner.pool import Outcome, tail_lines
from ..settings import Settings
from . import load as loadgen
from .cases import ServerKey, ServingCase
from .server import ServerFailed, VllmServer, start_server

CACHE_DIR_MARK = "{cache_dir}"


class ServerPool:
    def __init__(self, settings: Settings, gpus: tuple[Gpu, ...], log_dir: Path) -> None:
        self.settings, self.gpus, self.log_dir = settings, gpus, log_dir
        self.server: VllmServer | None = None
        self.key: ServerKey | None = None
        self.info: dict[str, Any] = {}
        self.failed: dict[ServerKey, Outcome] = {}
        self.on_progress: Callable[[str], None] | None = None  # the session's heartbeat

    # -- the server ------------------------------------------------------------------------------------------
    def server_args(self, key: ServerKey, model_dir: Path, dummy: bool, max_len: int) -> list[str]:
        """`vllm serve` arguments from the same vLLM settings as the offline engine, then
        --infperf-serve-args."""
        knobs = self.settings.vllm
        args = [
            "--model",
            str(model_dir),
            "--dtype",
            self.settings.dtype,
            "--seed",
            str(self.settings.seed),
            "--tensor-parallel-size",
            str(max(key.gpus, 1)),
            "--max-model-len",
            str(knobs.max_model_len or max_len),
            "--enable-prefix-caching" if knobs.prefix_caching else "--no-enable-prefix-caching",
        ]
        if dummy:
            args += ["--load-format", "dummy"]
        if key.gpus > 0:
            args += ["--gpu-memory-utilization", str(knobs.gpu_memory_utilization)]
        if knobs.pipeline_parallel_size > 1:
            args += ["--pipeline-parallel-size", str(knobs.pipeline_parallel_size)]
        if knobs.enforce_eager:
            args.append("--enforce-eager")
        for name in ("max_num_seqs", "max_num_batched_tokens"):
            if getattr(knobs, name):
                args += [f"--{name.replace('_', '-')}", str(getattr(knobs, name))]
        return args + shlex.split(self.settings.serve_args or "")

    def env_for(self, key: ServerKey) -> dict[str, str]:
        env = dict(os.environ)
        physical = [g.index for g in self.gpus][: key.gpus * self.settings.vllm.pipeline_parallel_size]
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, physical))
        env["VLLM_CPU_KVCACHE_SPACE"] = str(self.settings.vllm.cpu_kv_cache_gb)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def ensure(self, key: ServerKey) -> Outcome | None:
        """A healthy server for `key` (starting one if needed); the failure, if it cannot start."""
        if key in self.failed:
            return self.failed[key]
        if self.server is not None and self.key == key and self.server.alive:
            return None
        self.close()
        spec = resolve(key.model)
        try:
            model_dir = materialize(spec, self.settings.cache_dir)
            max_len = min(max_positions(load_config(spec)), 4096)
        except Exception as err:  # noqa: BLE001 - a broken model folder is this key's error
            self.failed[key] = Outcome("error", f"could not prepare model {key.model!r}: {err}")
            return self.failed[key]
        args = self.server_args(key, model_dir, spec.dummy, max_len)
        try:
            self.server, start_s = start_server(
                args, self.env_for(key), self.log_dir / f"{key.id}.log", self.settings.load_timeout
            )
        except ServerFailed as err:
            self.failed[key] = Outcome(
                "error", f"vllm serve failed to start for {key.model} on {key.gpus} GPU(s): {err}"
            )
            return self.failed[key]
        self.key = key
        self.info = {
            "engine_version": self.server.version(),
            "load_time_s": start_s,
            "model_dir": str(model_dir),
            "dummy_weights": spec.dummy,
            "model_source": spec.source,
            "server_args": [self.portable(a) for a in args],
            "server_log": self.portable(str(self.server.log_path)),
        }
        return None

    def portable(self, arg: str) -> str:
        """An argument or path as a record keeps it: the model cache as {cache_dir}, logs relative to the
        records' folder, so committed records name no machine's paths (serving_vllm_bench.py expands
        {cache_dir} again)."""
        return arg.replace(str(self.settings.cache_dir), CACHE_DIR_MARK).removeprefix(
            f"{self.log_dir.parent}/"
        )

    def close(self, grace_s: float = 20.0) -> None:
        if self.server is not None:
            self.server.stop(grace_s)
        self.server, self.key = None, None

    # -- the load --------------------------------------------------------------------------------------------
    def run(self, case: ServingCase) -> Outcome:
        """Warm-up and measured repeats of `case` against its key's server, each a `vllm bench serve` run."""
        failure = self.ensure(case.server_key)
        if failure is not None:
            return failure
        assert self.server is not None
        warmup = 0 if self.settings.warmup == 0 else 1
        runs = warmup + self.settings.repeats
        with tempfile.TemporaryDirectory(prefix="infperf-serve-") as folder:
            args = loadgen.bench_args(
                case,
                self.server.url,
                self.info["model_dir"],
                self.info["model_dir"],
                self.settings.cache_dir,
                self.settings.seed,
                case.num_prompts,
            )
            from ..telemetry import GpuSampler

            indices = [g.index for g in self.gpus][: case.gpus]
            with GpuSampler(indices) as sampler:
                failure = self._drive(
                    case,
                    [*loadgen.LOAD_ENTRY, str(runs), folder, *args],
                    Path(folder),
                    runs,
                    on_warm=sampler.restart if warmup else None,
                    warmup=warmup,
                )
            if failure is not None:
                return failure
            try:
                results = loadgen.read_runs(Path(folder), runs)[warmup:]
            except ValueError as err:
                return Outcome("error", str(err), load=self.info)
        fields = loadgen.record_fields(results) | sampler.summary.as_record_fields()
        fields |= {"warmup_runs": warmup, "bench_args": [self.portable(a) for a in args]}
        if fields["failed_requests"]:
            return Outcome(
                "error",
                f"{fields['failed_requests']} of "
                f"{fields['failed_requests'] + fields['completed_requests']} requests failed "
                f"(server log: {self.server.log_path})",
                fields,
                self.info,
            )
        return Outcome("ok", result=fields, load=self.info)

    def _drive(
        self,
        case: ServingCase,
        command: list[str],
        folder: Path,
        runs: int,
        on_warm: Callable[[], None] | None = None,
        warmup: int = 0,
    ) -> Outcome | None:
        """Run the load generator to the end; an Outcome if it fails, times out, or the server dies meanwhile.
        `on_warm` is called once the warm-up runs' results are written (seen within the 0.5 s poll), so GPU
        telemetry covers the measured runs, not the client's start-up (its vLLM import) and warm-up."""
        assert self.server is not None
        log_path = self.log_dir / f"{case.id}.bench.log"
        start = time.perf_counter()
        with log_path.open("w") as log:
            client = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                done = 0
                while client.poll() is None:
                    time.sleep(0.5)
                    if not self.server.alive:
                        status, tail = self.server.process.returncode, self.server.log_tail()
                        self.close()
                        return Outcome(
                            "error",
                            f"vllm serve died during the load (exit status {status}):\n{tail}",
                            load=self.info,
                        )
                    if time.perf_counter() - start > self.settings.trial_timeout:
                        return Outcome(
                            "error",
                            f"vllm bench serve did not finish within "
                            f"{self.settings.trial_timeout:.0f} s (--infperf-trial-timeout); "
                            f"log: {log_path}",
                            load=self.info,
                        )
                    finished = len(list(folder.glob("run*.json")))
                    if on_warm is not None and finished >= warmup:
                        on_warm()
                        on_warm = None
                    if finished > done and self.on_progress is not None:
                        done = finished
                        self.on_progress(
                            f"infperf: {case.id}: run {done}/{runs} of vllm bench serve done, "
                            f"{time.perf_counter() - start:.0f} s"
                        )
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(client.pid, signal.SIGKILL)  # its own group: nothing of it outlives the case
                client.wait()
        if client.returncode != 0:
            tail = tail_lines(log_path, 15, "  | ")
            if not self.server.alive:
                self.close()
            return Outcome(
                "error", f"vllm bench serve exited with status {client.returncode}:\n{tail}", load=self.info
            )
        return None
