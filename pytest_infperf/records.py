"""The Record: one flat, versioned, JSON-serialisable dict per perf test, every measure named with its unit.

status is ok | oom | error | skipped, with `reason` for all but ok. Records are written as JSON lines
(appended under a file lock, so xdist workers can share a file) and load back as dicts or a pandas DataFrame.
"""

from __future__ import annotations

import datetime as dt
import platform
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, TypedDict

from . import __version__
from .hardware.host import host_info, host_load
from .provenance import git_info

if TYPE_CHECKING:
    from .cases import Case
    from .hardware.gpu import Hardware
    from .runner.pool import Outcome
    from .serving.cases import ServingCase
    from .settings import Settings

SCHEMA_VERSION = 1
STATUSES = ("ok", "oom", "error", "skipped")
REQUIRED = (
    "schema",
    "status",
    "test_id",
    "case_id",
    "engine",
    "model",
    "gpus",
    "batch_size",
    "workload",
    "hardware_fingerprint",
    "timestamp",
)

# How the suite times an engine, where a change altered what that engine's records report: a baseline measured
# the earlier way is not comparable (store.MATCH_FIELDS), as asv does not compare results across benchmark
# versions. Absent from a record: the engine's first way.
MEASUREMENT_VERSIONS = {"vllm": 2}
MEASUREMENT_CHANGES = {
    (
        "vllm",
        2,
    ): "since measurement version 2 the suite reads vLLM's latency histograms before and after each repeat "
    "instead of around every timed call, where they cost milliseconds per call: earlier baselines "
    "understate vLLM's throughput where a call takes tens of milliseconds (small batches, short "
    "outputs); save them again",
}


class Record(TypedDict, total=False):
    """The fields of a record (schema 1) that the gate, the store and the reports read; a record holds many
    more (every measured figure, its `<metric>_samples`, the host's `host_*` fields), all written by
    `build_record`."""

    schema: int
    status: str  # ok, oom, error, timeout
    reason: str | None
    case_id: str
    test_id: str
    engine: str
    engine_version: str | None
    torch_version: str | None
    model: str
    gpus: int
    batch_size: int
    workload: str
    dtype: str
    num_prompts: int
    hardware_fingerprint: str
    measurement_version: int | None
    timestamp: str
    throughput_tok_s: float
    throughput_tok_s_samples: list[float]
    gpu_util_mean_pct: float | None
    host_boot_id: str | None
    host_cpu_model: str | None
    gate_verdict: str | None
    gate_message: str | None
    gate_change: float | None
    gate_p_worse: float | None
    gate_p_better: float | None
    gate_detectable: float | None


def what_changed(engine: str, versions: Iterable[Any]) -> str:
    """What the latest of an engine's measurement `versions` (None: the first) changed in the suite's
    timing."""
    latest = max(v or 1 for v in versions)
    return MEASUREMENT_CHANGES.get((engine, latest), "the suite's way of timing this engine changed")


def measurement_change(record: dict[str, Any], earlier: Iterable[Any]) -> str | None:
    """Why `record` cannot be compared with sessions of the `earlier` measurement versions, or None where they
    are all its own: the store's matching and the gate's verdict (`infperf compare` too) both say it this
    way."""
    versions, now = set(earlier), record.get("measurement_version")
    if versions <= {now}:
        return None
    shown = ", ".join(sorted(map(repr, versions)))
    return f"measurement_version: baseline {shown}, now {now!r}: {what_changed(record['engine'], versions | {now})}"


class RecordError(ValueError):
    pass


def environment_fields(hardware: "Hardware", settings: "Settings", rootdir: Path) -> dict[str, Any]:
    """What every record says of where and with what it was measured: hardware, host, software, code, time."""
    return {
        "hardware_fingerprint": hardware.fingerprint,
        "hardware_generation": hardware.generation,
        "gpu_name": hardware.gpu_name,
        "gpu_count_present": hardware.gpu_count,
        "gpu_memory_bytes": hardware.gpus[0].memory_bytes if hardware.gpus else None,
        "driver_version": hardware.driver_version,
        "cuda_driver_version": hardware.cuda_driver_version,
        "cpu_model": hardware.cpu_model,
        "cpu_count": hardware.cpu_count,
        "cpu_affinity": settings.pinning,
        "python_version": platform.python_version(),
        "infperf_version": __version__,
        **git_info(str(rootdir)),
        "host": socket.gethostname(),
        **host_info(),
        "host_load_1m": host_load(),
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _identity_fields(case: Any, outcome: "Outcome", test_id: str) -> dict[str, Any]:
    """What every record opens with, offline or serving: schema, outcome, test and case, engine and its version."""
    return {
        "schema": SCHEMA_VERSION,
        "status": outcome.status,
        "reason": outcome.reason,
        "test_id": test_id,
        "case_id": case.id,
        "hardware_target": case.hardware,
        "engine": case.engine,
        "engine_version": outcome.load.get("engine_version"),
    }


def build_record(
    case: "Case", outcome: "Outcome", hardware: "Hardware", settings: "Settings", test_id: str, rootdir: Path
) -> Record:
    load = outcome.load
    record: dict[str, Any] = {
        **_identity_fields(case, outcome, test_id),
        "torch_version": load.get("torch_version"),
        "model": case.model,
        "model_source": load.get("model_source"),
        "dummy_weights": load.get("dummy_weights"),
        "dtype": load.get("dtype") or settings.dtype,
        "gpus": case.gpus,
        "gpus_used": load.get("gpus_used"),
        "batch_size": case.batch_size,
        "workload": case.workload.id,
        "workload_name": case.workload.name,
        "input_len_tokens": case.workload.input_len,
        "output_len_tokens": case.workload.output_len,
        "num_prompts": case.num_prompts,
        "knobs": dict(case.knobs) or None,
        "repeats": settings.repeats,
        "warmup_batches": settings.warmup,
        "load_time_s": load.get("load_time_s"),
        "engine_args": load.get("engine_args"),
        **environment_fields(hardware, settings, rootdir),
    }
    if case.engine in MEASUREMENT_VERSIONS:
        record["measurement_version"] = MEASUREMENT_VERSIONS[case.engine]
    record.update(outcome.result)
    return record


def build_serving_record(
    case: "ServingCase",
    outcome: "Outcome",
    hardware: "Hardware",
    settings: "Settings",
    test_id: str,
    rootdir: Path,
) -> dict[str, Any]:
    """A serving test's record: engine `vllm-serve`; its workload names the dataset and the request rate, and
    batch_size (which the server decides) is the concurrency limit, None without one."""
    from .serving.cases import rate_text

    load, rate = outcome.load, rate_text(case.request_rate)
    record: dict[str, Any] = {
        **_identity_fields(case, outcome, test_id),
        "model": case.model,
        "model_source": load.get("model_source"),
        "dummy_weights": load.get("dummy_weights"),
        "dtype": settings.dtype,
        "gpus": case.gpus,
        "batch_size": case.max_concurrency or None,
        "workload": f"{case.dataset.id}-rate{rate}",
        "workload_name": case.dataset.name,
        "dataset": case.dataset.id,
        "request_rate": rate,
        "max_concurrency": case.max_concurrency or None,
        "goodput_slo_ms": dict(case.goodput) or None,
        "input_len_tokens": case.dataset.input_len,
        "output_len_tokens": case.dataset.output_len,
        "num_prompts": case.num_prompts,
        "repeats": settings.repeats,
        "load_time_s": load.get("load_time_s"),
        "server_args": load.get("server_args"),
        "server_log": load.get("server_log"),
        **environment_fields(hardware, settings, rootdir),
    }
    record.update(outcome.result)
    return record


def check_record(record: Any, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a record must be a JSON object")
    if record.get("schema") != SCHEMA_VERSION:
        raise RecordError(f"{where}: schema {record.get('schema')!r} is not {SCHEMA_VERSION}")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise RecordError(f"{where}: missing {', '.join(missing)}")
    if record["status"] not in STATUSES:
        raise RecordError(f"{where}: status {record['status']!r} is not one of {', '.join(STATUSES)}")
    return record
