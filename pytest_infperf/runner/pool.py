"""The test process's side of the runner: one worker process per trial key (engine, model, GPU count).

CUDA_VISIBLE_DEVICES must be set before CUDA starts, so each key gets a fresh process with exactly its GPUs.
The model loads once and serves every batch size of that key; the worker is stopped when the key changes.
A crash, a timeout or a failed load becomes that trial's error outcome and the session goes on; an OOM is an
outcome too, and larger batch sizes of the same key and workload are then reported as OOM without running.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

from ..cases import Case, TrialKey
from ..hardware.affinity import worker_cpus
from ..hardware.gpu import Gpu
from ..models import load_config, materialize, max_positions, resolve
from ..procs import PARENT_ENV
from ..settings import Settings, warmup_for

WORKER_ARGS = ["-m", "pytest_infperf.runner.worker"]


@dataclass
class Outcome:
    status: str  # ok | oom | error
    reason: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)


def tail_lines(path: Path, lines: int, prefix: str = "") -> str:
    """The last `lines` lines of a log file, each after `prefix`; empty when it cannot be read."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(prefix + line for line in text[-lines:])


class WorkerGone(RuntimeError):
    """The worker exited or stopped answering."""


class _Worker:
    def __init__(
        self, key: TrialKey, env: dict[str, str], log_path: Path, python: str = sys.executable
    ) -> None:
        self.key, self.log_path = key, log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log: IO[bytes] = log_path.open("wb")
        package_parent = str(Path(__file__).resolve().parents[2])
        env = {
            **env,
            "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")])),
            PARENT_ENV: str(os.getpid()),
        }
        self.process = subprocess.Popen(
            [python, *WORKER_ARGS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            text=True,
            start_new_session=True,
        )
        self.responses: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True, name=f"infperf-{key.id}").start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.responses.put(line)
        self.responses.put(None)

    def request(
        self,
        message: dict[str, Any],
        timeout: float,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Send one request and wait (at most `timeout` in all) for its response; progress lines the worker
        sends meanwhile go to `on_progress`."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerGone(self._death_note()) from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.responses.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise WorkerGone(
                    f"timed out after {timeout:g} s (raise --infperf-trial-timeout or "
                    f"--infperf-load-timeout); worker log: {self.log_path}"
                ) from None
            if line is None:
                raise WorkerGone(self._death_note())
            response = json.loads(line)
            if "progress" not in response:
                return response
            if on_progress is not None:
                on_progress(response["progress"])

    def _death_note(self) -> str:
        code = self.process.wait(timeout=30)
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return f"worker crashed ({how}); last log lines:\n{self.log_tail()}"

    def log_tail(self, lines: int = 15) -> str:
        self.log.flush()
        return tail_lines(self.log_path, lines)

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()

    def close(self, grace_s: float = 30.0) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"op": "close"}) + "\n")
                self.process.stdin.close()
                self.process.wait(timeout=grace_s)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                pass
        self.kill()  # the whole process group: engines leave helper processes behind
        self.log.close()


class TrialPool:
    def __init__(
        self,
        settings: Settings,
        gpus: tuple[Gpu, ...],
        log_dir: Path,
        python: str = sys.executable,
        env_drop: tuple[str, ...] = (),
    ) -> None:
        """`gpus`: the GPUs this pool may hand to its workers (all of them, or an xdist worker's share).
        `python`: the interpreter its workers run under (another environment's, for an A/B reference arm);
        `env_drop`: variables its workers must not inherit."""
        self.settings, self.gpus, self.log_dir = settings, gpus, log_dir
        self.python, self.env_drop = python, env_drop
        self.on_progress: Callable[[TrialKey, dict[str, Any]], None] | None = None  # the session's heartbeat
        self.worker: _Worker | None = None
        self.load_info: dict[str, Any] = {}
        self.failed_loads: dict[TrialKey, Outcome] = {}
        # Per model: one that could not be prepared (a hub id that cannot be fetched retries for about a
        # minute) fails every later trial key of that model at once, with the same message.
        self.unprepared: dict[str, Outcome] = {}
        self.oom_at: dict[tuple[TrialKey, str], int] = {}

    def env_for(self, key: TrialKey) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in self.env_drop}
        physical = [g.index for g in self.gpus][: key.gpus * self.settings.vllm.pipeline_parallel_size]
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, physical))
        env["INFPERF_NVML_INDICES"] = env["CUDA_VISIBLE_DEVICES"]
        env["VLLM_CPU_KVCACHE_SPACE"] = str(self.settings.vllm.cpu_kv_cache_gb)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env["PYTHONUNBUFFERED"] = "1"
        if self.settings.worker_memory:
            env["INFPERF_WORKER_MEMORY_BYTES"] = str(self.settings.worker_memory)
        cpus = worker_cpus(self.settings.pinning, physical)
        if cpus:
            env["INFPERF_WORKER_CPUS"] = ",".join(map(str, cpus))
        return env

    def _start(self, key: TrialKey) -> Outcome | None:
        """Start and load a worker for `key`; an Outcome on failure."""
        self.close()
        if key.model in self.unprepared:
            return self.unprepared[key.model]
        spec = resolve(key.model)
        try:
            model_dir = materialize(spec, self.settings.cache_dir)
        except Exception as err:  # noqa: BLE001 - a broken model folder is this trial's error
            self.unprepared[key.model] = Outcome("error", f"could not prepare model {key.model!r}: {err}")
            return self.unprepared[key.model]
        overrides = dict(key.knobs)
        dtype = overrides.pop("dtype", self.settings.dtype)
        knobs: dict[str, Any] = {}
        if key.engine == "vllm":
            knobs = dict(vars(self.settings.vllm)) | overrides
            knobs["max_model_len"] = knobs["max_model_len"] or min(max_positions(load_config(spec)), 4096)
        load = {
            "model_dir": str(model_dir),
            "dummy": spec.dummy,
            "gpus": key.gpus,
            "dtype": dtype,
            "seed": self.settings.seed,
            "knobs": knobs,
        }
        self.worker = _Worker(key, self.env_for(key), self.log_dir / f"{key.id}.log", self.python)
        try:
            response = self.worker.request(
                {"op": "load", "engine": key.engine, "load": load}, self.settings.load_timeout
            )
        except WorkerGone as gone:
            self.close()
            return Outcome("error", f"{key.engine} failed to load {key.model} on {key.gpus} GPU(s): {gone}")
        if not response["ok"]:
            tail = self.worker.log_tail()
            self.close()
            return Outcome(
                response["status"],
                f"{key.engine} failed to load {key.model} on {key.gpus} GPU(s): {response['reason']}\n{tail}",
            )
        self.load_info = {
            **response["info"],
            "load_time_s": response["load_time_s"],
            "model_dir": str(model_dir),
            "dummy_weights": spec.dummy,
            "model_source": spec.source,
        }
        return None

    def ensure_loaded(self, case: Case) -> Outcome | None:
        """Have a live worker with `case`'s trial key loaded (starting one if needed); its failure, if it
        fails."""
        key = case.trial_key
        if key in self.failed_loads:
            return self.failed_loads[key]
        if self.worker is None or self.worker.key != key or self.worker.process.poll() is not None:
            failure = self._start(key)
            if failure is not None:
                self.failed_loads[key] = failure
                return failure
        return None

    def run(self, case: Case, repeats: int | None = None, warmup: int | str | None = None) -> Outcome:
        """Measure `case` (loading its key's worker if needed); `repeats` and `warmup` override the settings'
        (an A/B round asks for one repeat, and warms up in its first round only)."""
        key = case.trial_key
        first_oom = self.oom_at.get((key, case.workload.id))
        if key not in self.failed_loads and first_oom is not None and case.batch_size >= first_oom:
            return Outcome("oom", f"not run: batch size {first_oom} already ran out of memory on this trial")
        failure = self.ensure_loaded(case)
        if failure is not None:
            return failure
        assert self.worker is not None
        request = {
            "op": "measure",
            "batch_size": case.batch_size,
            "workload": vars(case.workload),
            "num_prompts": case.num_prompts,
            "repeats": repeats or self.settings.repeats,
            "warmup": warmup_for(self.settings.warmup if warmup is None else warmup, key.engine),
            "seed": self.settings.seed,
            "min_repeat_s": self.settings.min_repeat_s,
        }
        try:
            report = self.on_progress
            response = self.worker.request(
                request, self.settings.trial_timeout, (lambda p: report(key, p)) if report else None
            )
        except WorkerGone as gone:
            self.close()
            return Outcome("error", str(gone), load=self.load_info)
        if response["ok"]:
            return Outcome("ok", result=response["result"], load=self.load_info)
        if response["status"] == "oom":
            self.oom_at[(key, case.workload.id)] = min(case.batch_size, first_oom or case.batch_size)
        return Outcome(response["status"], response["reason"], load=self.load_info)

    def close(self, grace_s: float = 30.0) -> None:
        """Stop the worker: `grace_s` for it to finish what it measures and close its engine, then its group
        is killed (0 after Ctrl-C: the user asked to stop now)."""
        if self.worker is not None:
            self.worker.close(grace_s)
            self.worker = None
