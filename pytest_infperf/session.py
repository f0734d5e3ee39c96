"""The plugin's per-session state (kept in config.stash): settings, hardware, matrix, trial pool, records;
running a case and the terminal summary. The gate's lookup and decision are gate.py's, InfPop's orchestration
infpop.py's."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib.util
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .cases import (
    GRIDS,
    OVERRIDES,
    Case,
    MatrixError,
    Target,
    default_target,
    expand,
    load_matrix,
    parse_fields,
)
from .configure import check_baselines_folder, check_output, read_settings, reference_env
from .gate import Gate, Verdict, fails, joins_baseline
from .hardware.gpu import Gpu, Hardware, detect, xdist_share
from .metrics import GATE_METRICS
from .record_files import append_records
from .records import build_record
from .refenv import ReferenceEnv, describe_versions, versions_here
from .settings import Settings
from .store import BaselineStore


@dataclass
class InfperfSession:
    config: pytest.Config
    settings: Settings
    hardware: Hardware
    targets: list[Target]
    own_gpus: tuple[Gpu, ...] = ()  # this process's GPUs: all of them, or an xdist worker's share
    records: list[dict[str, Any]] = field(default_factory=list)
    _pool: Any = None
    _pair: Any = None
    _servers: Any = None
    _last_heartbeat: float = field(default_factory=time.monotonic)
    _gate: Gate | None = None
    session_id: str = ""  # xdist workers get the controller's, so they append to one file
    saved: int = 0  # sessions added to baselines (--infperf-save)
    held_back: list[tuple[str, str]] = field(default_factory=list)  # (case id, verdict) a gated save skipped
    reference: ReferenceEnv | None = None  # the A/B reference arm's environment (--infperf-ab-reference)

    @classmethod
    def from_config(cls, config: pytest.Config) -> "InfperfSession":
        settings = read_settings(config)
        try:
            hardware = detect()
            own_gpus = xdist_share(hardware.gpus)
        except ValueError as err:
            raise pytest.UsageError(str(err)) from None
        if settings.matrix is not None:
            try:
                targets = load_matrix(settings.matrix)
            except MatrixError as err:
                raise pytest.UsageError(str(err)) from None
        else:
            targets = [default_target(hardware.generation, hardware.gpu_count)]
        if settings.hardware:
            wanted = {hardware.generation if h == "auto" else h for h in settings.hardware}
            targets = [t for t in targets if t.hardware in wanted]
        if settings.compare not in (None, "auto") and not (settings.baselines / settings.compare).is_dir():
            known = ", ".join(BaselineStore(settings.baselines).fingerprints()) or "none"
            raise pytest.UsageError(
                f"--infperf-compare={settings.compare}: no such baseline folder under "
                f"{settings.baselines} (found: {known})"
            )
        if settings.ab_reference is not None and (settings.compare is not None or settings.save):
            raise pytest.UsageError(
                "--infperf-ab-reference gates against its reference arm: it cannot be combined "
                "with --infperf-compare or --infperf-save (its arms share the GPU, so their "
                "figures are not what a baseline holds)"
            )
        if settings.ab_max_rounds < settings.ab_rounds:
            raise pytest.UsageError(
                f"--infperf-ab-max-rounds ({settings.ab_max_rounds}) is below --infperf-ab-rounds "
                f"({settings.ab_rounds}): the first stage alone runs that many"
            )
        check_output(settings.output)
        if settings.save or settings.compare is not None:
            check_baselines_folder(settings.baselines, settings.save)
        worker = getattr(config, "workerinput", None)
        session_id = worker.get("infperf_session_id") if worker else None
        return cls(
            config,
            settings,
            hardware,
            targets,
            own_gpus,
            session_id=session_id or uuid.uuid4().hex[:12],
            reference=reference_env(settings, measuring=not config.option.collectonly),
        )

    # -- collection ----------------------------------------------------------------------------------------
    def cases(self, marker_fields: dict[str, Any], where: str) -> list[Case]:
        """The offline cases of a perf test: the matrix's own grid, or with `grid="latency"` its latency
        tables."""
        fields = dict(marker_fields)
        grid = fields.pop("grid", "throughput")
        if grid not in GRIDS:
            raise pytest.UsageError(
                f"{where}: @pytest.mark.infperf(grid={grid!r}): choose from {', '.join(GRIDS)}"
            )
        try:
            fields = parse_fields(fields, f"{where}: @pytest.mark.infperf")
        except MatrixError as err:
            raise pytest.UsageError(str(err)) from None
        return list(expand(self.targets, self.overrides(OVERRIDES), fields, self.settings.output_len, grid))

    def overrides(self, fields: dict[str, str]) -> dict[str, Any]:
        """{matrix field: the command line's value} for each settings attribute of `fields` that is set."""
        return {
            field: getattr(self.settings, name)
            for name, field in fields.items()
            if getattr(self.settings, name)
        }

    def serving_cases(self) -> list[Any]:
        """The serving cases of the targets' `serving` tables, with the command line's overrides."""
        from .serving.cases import OVERRIDES as SERVING_OVERRIDES
        from .serving.cases import expand as expand_serving

        targets = [serving for t in self.targets for serving in t.serving]
        return list(expand_serving(targets, self.overrides(SERVING_OVERRIDES), self.settings.output_len))

    def gate_metrics_of(self, case: Any) -> tuple[str, ...]:
        """What the gate judges a case on: serving and latency-grid cases have their own option."""
        from .serving.cases import ServingCase

        if isinstance(case, ServingCase):
            return self.settings.serve_gate_metrics
        return self.settings.latency_gate_metrics if case.grid == "latency" else self.settings.gate_metrics

    def skip_reason(self, case: Any) -> str | None:
        from .serving.cases import ServingCase

        found = self.hardware.generation
        if case.hardware != found:
            return f"requires {case.hardware}, found {found}"
        if case.gpus > len(self.own_gpus):
            if len(self.own_gpus) < self.hardware.gpu_count:
                return (
                    f"requires {case.gpus} GPUs, this xdist worker has {len(self.own_gpus)} of "
                    f"{self.hardware.gpu_count} (run fewer workers)"
                )
            return f"requires {case.gpus} GPUs, found {self.hardware.gpu_count}"
        if isinstance(case, ServingCase):
            from .serving.server import unavailable

            if self.settings.ab_reference is not None:
                return (
                    "serving tests are gated against stored baselines; --infperf-ab-reference runs offline "
                    "trials only"
                )
            return unavailable()
        if case.engine == "vllm" and importlib.util.find_spec("vllm") is None:
            return "requires vllm: pip install 'pytest-infperf[vllm]' (see README for CPU)"
        return None

    def header_lines(self) -> list[str]:
        lines = [f"infperf: hardware {self.hardware.fingerprint}: {self.hardware.describe()}"]
        source = self.settings.matrix or "built-in default"
        lines.append(
            f"infperf: matrix {source}: targets {', '.join(t.hardware for t in self.targets) or 'none'}; "
            f"repeats {self.settings.repeats}, warm-up {self.settings.warmup}; records -> {self.settings.output}"
        )
        if self.reference is not None:
            lines.append(self.ab_arms_line())
        return lines

    def ab_arms_line(self) -> str:
        """Both A/B arms' engine and torch versions, where the user looks first (header and summary)."""
        assert self.reference is not None
        return (
            f"infperf: A/B candidate {describe_versions(versions_here())} (this environment) vs reference "
            f"{describe_versions(self.reference.versions)} ({self.reference.describe()})"
        )

    # -- running -------------------------------------------------------------------------------------------
    @property
    def pool(self) -> Any:
        if self._pool is None:
            from .runner.pool import TrialPool

            log_dir = self.settings.output.parent / "logs"
            self._pool = TrialPool(self.settings, self.own_gpus, log_dir)
            self._pool.on_progress = self.heartbeat
        return self._pool

    def heartbeat(self, key: Any, progress: dict[str, Any], arm: str = "") -> None:
        """The progress of a long trial (or a tuning run): repeats done and the pace so far (say_progress)."""
        self.say_progress(
            f"infperf: {key.id}{arm} batch {progress['batch_size']}: repeat {progress['repeat']}/"
            f"{progress['repeats']}, {progress['tok_s']:,.1f} tok/s, {progress['elapsed_s']:.0f} s into "
            "the trial"
        )

    @property
    def servers(self) -> Any:
        """The serving tests' `vllm serve` processes (serving.pool), one live at a time."""
        if self._servers is None:
            from .serving.pool import ServerPool

            self._servers = ServerPool(self.settings, self.own_gpus, self.settings.output.parent / "logs")
            self._servers.on_progress = self.say_progress
        return self._servers

    def say_progress(self, line: str) -> None:
        """A heartbeat line through pytest's terminal reporter, at most every --infperf-heartbeat-s; xdist
        workers have no terminal and stay quiet."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        now = time.monotonic()
        if reporter is None or now - self._last_heartbeat < self.settings.heartbeat_s:
            return
        self._last_heartbeat = now
        capture = self.config.pluginmanager.get_plugin(
            "capturemanager"
        )  # a test's output is captured: step past
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(line)

    @functools.cached_property
    def store(self) -> BaselineStore:
        """One store for the session, so what its saves did (store.notices) reaches the summary."""
        return BaselineStore(self.settings.baselines)

    @property
    def gate(self) -> Gate:
        if self._gate is None:
            self._gate = Gate(self.store, self.settings, self.hardware)
        return self._gate

    def measure_case(self, case: Case, test_id: str) -> dict[str, Any]:
        outcome = self.pool.run(case)
        return build_record(
            case, outcome, self.hardware, self.settings, test_id, Path(str(self.config.rootpath))
        )

    @property
    def pair(self) -> Any:
        """The two arms of --infperf-ab-reference (runner.interleave), started on first use."""
        if self._pair is None:
            from .runner.interleave import InterleavedPair

            assert self.reference is not None
            self._pair = InterleavedPair(
                self.settings, self.reference, self.own_gpus, self.settings.output.parent / "logs"
            )
            self._pair.candidate.on_progress = lambda key, p: self.heartbeat(key, p, " (candidate)")
            self._pair.reference.on_progress = lambda key, p: self.heartbeat(key, p, " (reference)")
        return self._pair

    def measure_ab(self, case: Case, test_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(candidate record, reference record) of an interleaved A/B trial; the candidate's carries what the
        reference measured (ab_reference_*), so the records file alone shows both arms."""
        outcome = self.pair.run(case, plan=self.gate.ab_rounds_needed)
        root = Path(str(self.config.rootpath))
        record = build_record(case, outcome.candidate, self.hardware, self.settings, test_id, root)
        reference = build_record(case, outcome.reference, self.hardware, self.settings, test_id, root)
        rounds = (outcome.candidate.result or {}).get("ab_rounds", self.settings.ab_rounds)
        assert self.reference is not None
        record |= {
            "ab_reference_python": str(self.reference.python),
            "ab_reference_spec": self.reference.spec,
            "ab_rounds": rounds,
            "ab_rounds_planned": outcome.planned,
            **{f"ab_reference_{k}": reference.get(k) for k in AB_REFERENCE_FIELDS},
        }
        return record, reference

    def measure_serving(self, case: Any, test_id: str) -> dict[str, Any]:
        from .records import build_serving_record

        outcome = self.servers.run(case)
        return build_serving_record(
            case, outcome, self.hardware, self.settings, test_id, Path(str(self.config.rootpath))
        )

    def run(self, case: Any, test_id: str) -> tuple[dict[str, Any], Verdict | None]:
        """Measure (offline trial or serving load), judge (before saving, so a session never compares with
        itself), record, save."""
        from .serving.cases import ServingCase

        verdict = None
        if self.settings.ab_reference is not None and not isinstance(
            case, ServingCase
        ):  # never with --compare
            record, reference = self.measure_ab(case, test_id)
            verdict = self.gate.judge_ab(record, reference)
        else:
            serving = isinstance(case, ServingCase)
            record = self.measure_serving(case, test_id) if serving else self.measure_case(case, test_id)
            if self.settings.compare is not None:
                verdict = (
                    self.gate.judge(record, self.gate_metrics_of(case))
                    if record["status"] == "ok"
                    else self.gate.judge_failure(record)
                )
        if verdict is not None:
            record |= verdict.as_record_fields()
        self.records.append(record)
        append_records(self.records_path, [record])
        if self.settings.save and record["status"] == "ok" and self.settings.compare is None:
            self.save(record)  # a compared session saves at its end, once its verdicts are final
        return record, verdict

    def save(self, record: dict[str, Any]) -> None:
        self.store.save(
            {k: v for k, v in record.items() if not k.startswith("gate_")},
            replace=self.settings.save_replace,
            keep=self.settings.baseline_sessions,
        )
        self.saved += 1

    def save_judged(self, records: list[dict[str, Any]]) -> None:
        """--infperf-compare --infperf-save: a session joins a baseline only where its final verdict allows it. A
        regression would otherwise become part of the baseline it failed against and pass on the next run; a
        significant improvement says the baseline is stale, which --infperf-save-replace (or `infperf baseline
        add` after review) settles explicitly."""
        for record in records:
            if record["status"] != "ok":
                continue
            if not joins_baseline(record.get("gate_verdict")):
                self.held_back.append((record["case_id"], record["gate_verdict"]))
            else:
                self.save(record)

    # -- InfPop tuning (infpop.py)
    # ------------------------------------------------------------------------------
    @functools.cached_property
    def infpop(self) -> Any:
        """InfPop's orchestration, made once (infpop.py; imported on first use: most sessions never tune)."""
        from .infpop import InfPop

        return InfPop(self)

    def close(self, now: bool = False) -> None:
        """Stop every worker and server; `now` (after Ctrl-C) kills them without waiting for the trial or
        request in flight to end."""
        for runner in (self._pool, self._pair, self._servers):
            if runner is None:
                continue
            if now:
                runner.close(grace_s=0.0)
            else:
                runner.close()
        self._pool = self._pair = self._servers = None

    # -- reporting -----------------------------------------------------------------------------------------
    def session_records(self) -> list[dict[str, Any]]:
        """This session's records: our own, or, on the xdist controller (which runs no test), the output file
        every worker appended to."""
        if self.records or hasattr(self.config, "workerinput") or not self.records_path.exists():
            return self.records
        from .record_files import read_records

        return read_records(self.records_path)

    @property
    def records_path(self) -> Path:
        """Where this session appends its records as they are measured: beside --infperf-output, under this
        session's id, so a run that is interrupted keeps what it measured and no earlier file is touched."""
        out = self.settings.output
        return out.with_name(f"{out.name}.{self.session_id}.part")

    def publish_records(self) -> Path | None:
        """At the end (controller only): the session's records become --infperf-output by an atomic rename; an
        earlier run's file there is kept, renamed with its time. None when this session wrote no record."""
        part, out = self.records_path, self.settings.output
        if hasattr(self.config, "workerinput") or not part.exists():
            return None
        kept = None
        if out.exists():
            stamp = dt.datetime.fromtimestamp(out.stat().st_mtime).strftime("%Y%m%dT%H%M%S")
            kept = out.with_name(f"{out.stem}.{stamp}{out.suffix}")
            os.replace(out, kept)
        os.replace(part, out)
        Path(str(part) + ".lock").unlink(missing_ok=True)
        return kept

    def finish_gate(self) -> list[dict[str, Any]]:
        """At the session's end (not on xdist workers): the multiple-testing correction over every gated item;
        returns the records it turned into failures; the records file gets the final verdicts."""
        if not self.settings.comparing or hasattr(self.config, "workerinput"):
            return []
        records = self.session_records()
        changed = self.gate.finish(records)
        if changed:
            from .record_files import write_records

            write_records(self.records_path, records)
        s = self.settings
        if s.save:
            self.save_judged(records)
        return [
            r
            for r in changed
            if fails(Verdict(r["gate_verdict"], r["gate_message"]), s.fail_on, s.require_baseline, s.strict)
        ]

    def required_but_nothing_judged(self) -> bool:
        """--infperf-compare --infperf-require-baseline and not one test judged: every test skipped (e.g.
        --infperf-gpus 3 on a smaller machine) or deselected. Such a session fails: it asked to be gated and was not."""
        s = self.settings
        return (
            s.compare is not None
            and s.require_baseline
            and not any(r.get("gate_verdict") not in (None, "no-baseline") for r in self.session_records())
        )


# What a candidate's record keeps of its A/B reference arm (as ab_reference_<field>).
AB_REFERENCE_FIELDS = (
    "status",
    "reason",
    "engine_version",
    "torch_version",
    "throughput_tok_s",
    "throughput_tok_s_samples",
    "load_time_s",
    *(f"{m}_samples" for m in GATE_METRICS if m != "throughput_tok_s"),
)
