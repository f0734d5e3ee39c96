"""The plugin's per-session state (kept in config.stash): settings, hardware, matrix, trial pool, records."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .cases import OVERRIDES, Case, MatrixError, Target, default_target, expand, load_matrix, parse_fields
from .workloads import WorkloadSpec, parse_workload
from .hardware import Gpu, Hardware, detect, xdist_share
from .records import append_records, build_record
from .gate import Verdict, fails, judge
from .settings import OPTIONS, Settings, build_settings
from .store import BaselineError, BaselineStore


def read_settings(config: pytest.Config) -> Settings:
    """Command line beats ini beats the declared default; ini values get the same validation as options."""
    import argparse

    raw: dict[str, Any] = {}
    for option in OPTIONS:
        value = config.getoption(option.dest)
        if value is None and option.ini:
            text = config.getini(option.dest)
            source = f"ini option {option.dest}"
            if not text and option.default is not None:
                text, source = option.default, f"default of --infperf-{option.name}"
            if text:
                try:
                    value = option.parse(text)
                except argparse.ArgumentTypeError as err:
                    raise pytest.UsageError(f"{source}: {err}") from None
        raw[option.dest.removeprefix("infperf_")] = value if value is not False else None
    return build_settings(raw, Path(str(config.rootpath)))


@dataclass
class InfperfSession:
    config: pytest.Config
    settings: Settings
    hardware: Hardware
    targets: list[Target]
    own_gpus: tuple[Gpu, ...] = ()  # this process's GPUs: all of them, or an xdist worker's share
    records: list[dict[str, Any]] = field(default_factory=list)
    _pool: Any = None

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
            raise pytest.UsageError(f"--infperf-compare={settings.compare}: no such baseline folder under "
                                    f"{settings.baselines} (found: {known})")
        session = cls(config, settings, hardware, targets, own_gpus)
        if not hasattr(config, "workerinput") and settings.output.exists():
            settings.output.unlink()  # one session's records per file; xdist workers append to it
        return session

    # -- collection ----------------------------------------------------------------------------------------
    def cases(self, marker_fields: dict[str, Any], where: str) -> list[Case]:
        try:
            fields = parse_fields(marker_fields, f"{where}: @pytest.mark.infperf")
        except MatrixError as err:
            raise pytest.UsageError(str(err)) from None
        overrides = {OVERRIDES[k]: getattr(self.settings, k) for k in OVERRIDES if getattr(self.settings, k)}
        return list(expand(self.targets, overrides, fields, self.settings.output_len))

    def skip_reason(self, case: Case) -> str | None:
        found = self.hardware.generation
        if case.hardware != found:
            return f"requires {case.hardware}, found {found}"
        if case.gpus > len(self.own_gpus):
            if len(self.own_gpus) < self.hardware.gpu_count:
                return (f"requires {case.gpus} GPUs, this xdist worker has {len(self.own_gpus)} of "
                        f"{self.hardware.gpu_count} (run fewer workers)")
            return f"requires {case.gpus} GPUs, found {self.hardware.gpu_count}"
        if case.engine == "vllm" and importlib.util.find_spec("vllm") is None:
            return "requires vllm: pip install 'pytest-infperf[vllm]' (see README for CPU)"
        return None

    def header_lines(self) -> list[str]:
        lines = [f"infperf: hardware {self.hardware.fingerprint}: {self.hardware.describe()}"]
        source = self.settings.matrix or "built-in default"
        lines.append(f"infperf: matrix {source}: targets {', '.join(t.hardware for t in self.targets) or 'none'}; "
                     f"repeats {self.settings.repeats}, warm-up {self.settings.warmup}; records -> {self.settings.output}")
        return lines

    # -- running -------------------------------------------------------------------------------------------
    @property
    def pool(self) -> Any:
        if self._pool is None:
            from .runner.pool import TrialPool

            log_dir = self.settings.output.parent / "logs"
            self._pool = TrialPool(self.settings, self.own_gpus, log_dir)
        return self._pool

    @property
    def store(self) -> BaselineStore:
        return BaselineStore(self.settings.baselines)

    def measure_case(self, case: Case, test_id: str) -> dict[str, Any]:
        outcome = self.pool.run(case)
        return build_record(case, outcome, self.hardware, self.settings, test_id, Path(str(self.config.rootpath)))

    def run(self, case: Case, test_id: str) -> tuple[dict[str, Any], Verdict | None]:
        record = self.measure_case(case, test_id)
        verdict = self.judge(record) if self.settings.comparing and record["status"] == "ok" else None
        if verdict is not None:
            record |= verdict.as_record_fields()
        self.records.append(record)
        append_records(self.settings.output, [record])
        if self.settings.save and record["status"] == "ok":
            self.store.save({k: v for k, v in record.items() if not k.startswith("gate_")})
        return record, verdict

    def judge(self, record: dict[str, Any]) -> Verdict:
        paths = [self.store.path_for(ref, record) for ref in self.baseline_refs(record)]
        path = next((p for p in paths if p.exists()), None)
        if path is None:
            return Verdict("no-baseline", f"no baseline at {' or '.join(map(str, paths))}")
        try:
            baseline, why_not = self.store.find(path, record)
        except BaselineError as err:
            return Verdict("error", str(err))
        if baseline is None:
            return Verdict("no-baseline", why_not)
        return judge(record, baseline, self.settings.threshold, self.settings.alpha, str(path),
                     self.settings.gate_metrics)

    def baseline_refs(self, record: dict[str, Any]) -> list[str]:
        """Fingerprints to look in, in order: the named one; else this machine's, then that of a machine with just
        the GPUs the test uses (a 1-GPU test on 4 x H200 compares with the shipped 1 x H200 baseline)."""
        if self.settings.compare != "auto":
            return [str(self.settings.compare)]
        refs = [self.hardware.fingerprint]
        used = record["gpus"] * (self.settings.vllm.pipeline_parallel_size if record["engine"] == "vllm" else 1)
        if 0 < used < self.hardware.gpu_count:
            refs.append(self.hardware.fingerprint_with(used))
        return refs

    # -- InfPop tuning ------------------------------------------------------------------------------------------
    def tune_targets(self) -> list[tuple[str, str, WorkloadSpec, int | None, str]]:
        """(engine, model, workload, num_prompts, hardware target): ini infpop_targets, else the matrix's."""
        here = [t for t in self.targets if t.hardware == self.hardware.generation]
        num_prompts = self.settings.num_prompts or (here[0].num_prompts if here else None)
        declared = self.config.getini("infpop_targets")
        if declared:
            triples = []
            for line in declared:
                try:
                    engine, model, workload = line.split(":")
                    parse_fields({"engines": engine, "models": model, "workloads": workload}, "ini infpop_targets")
                except (ValueError, MatrixError) as err:
                    raise pytest.UsageError(f"ini infpop_targets: {line!r}: expected engine:model:workload ({err})")
                triples.append((engine, model, workload))
        else:
            triples = [(e, m, t.workloads[0]) for t in here for e in (self.settings.engine or t.engines)
                       for m in (self.settings.model or t.models)]
        return [(e, m, parse_workload(w, self.settings.output_len), num_prompts, self.hardware.generation)
                for e, m, w in triples]

    def tuned_file(self, name: str, kind: str, fingerprint: str | None = None) -> Path:
        """baselines/<fingerprint>/_infpop/<name>.<kind> (kind: tuned.json or landscape.jsonl)."""
        return self.settings.baselines / (fingerprint or self.hardware.fingerprint) / "_infpop" / f"{name}.{kind}"

    @staticmethod
    def tuned_name(engine: str, model: str, workload: WorkloadSpec) -> str:
        from .models import resolve

        return f"{engine}-{resolve(model).slug}-{workload.id}"

    def tune_all(self) -> None:
        from .tune import Landscape, case_for, load_space, start_points_for, tune

        config = self.config
        mode = config.getoption("infpop_tune")
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        say = reporter.write_line if reporter else print
        max_evals = config.getoption("infpop_max_evals") or int(config.getini("infpop_max_evals") or 24)
        ttft = config.getoption("infpop_max_ttft_p99_ms")
        space_file = config.getini("infpop_space")
        gpu_choices = [g for g in (1, 2, 4, 8) if g <= len(self.own_gpus)] or [0]
        for engine, model, workload, num_prompts, target in self.tune_targets():
            name = self.tuned_name(engine, model, workload)
            tuned_path = self.tuned_file(name, "tuned.json")
            if mode == "auto" and tuned_path.exists():
                say(f"infpop: {name}: tuned settings for {self.hardware.fingerprint} exist ({tuned_path}); "
                    "--infpop-tune=force re-tunes")
                continue
            try:
                space = load_space(Path(space_file) if space_file else None, engine, gpu_choices,
                                   on_cpu=not self.hardware.gpus)
            except ValueError as err:
                raise pytest.UsageError(str(err)) from None
            say(f"infpop: tuning {name} on {self.hardware.fingerprint}: {max_evals} evaluations over "
                f"{space}")
            landscape = Landscape.open(self.tuned_file(name, "landscape.jsonl"))
            previous = self.previous_tuned(name)

            def evaluate(point: dict[str, Any]) -> dict[str, Any]:
                case = case_for(point, engine, model, workload, target, num_prompts)
                return self.measure_case(case, f"infpop::{name}")

            result = tune(evaluate, space, landscape, max_evals, config.getoption("infpop_seed"),
                          config.getoption("infpop_time_budget"), ttft / 1e3 if ttft else None, say,
                          start_points=start_points_for(space, previous[1] if previous else None))
            if result.best_point is None:
                say(f"infpop: {name}: no evaluation succeeded ({result.failed} failed); nothing stored")
                continue
            summary = {"fingerprint": self.hardware.fingerprint, "gpu_name": self.hardware.gpu_name,
                       "engine": engine, "model": model, "workload": workload.id, "best_point": result.best_point,
                       "best_throughput_tok_s": result.best_throughput, "evaluations": result.evaluations,
                       "cached_evaluations": result.cached, "failed_evaluations": result.failed,
                       "max_evals": max_evals, "seed": config.getoption("infpop_seed"), "space": space,
                       "landscape": str(landscape.path)}
            if previous:
                summary |= self.gain_over_previous_hardware(*previous, result.best_throughput, landscape, evaluate)
            self.store.write_json(tuned_path, summary)
            say(f"infpop: {name}: best {result.best_point} -> {result.best_throughput:,.1f} tok/s "
                f"({result.evaluations} evaluations, {result.cached} cached, {result.failed} failed); "
                f"stored {tuned_path}")
            if "gain_over_previous" in summary:
                say(f"infpop: {name}: {summary['gain_over_previous']:+.1%} over the settings tuned on "
                    f"{summary['previous_fingerprint']} ({summary['previous_point']}, "
                    f"{summary['previous_point_throughput_tok_s']:,.1f} tok/s here)")
        self.close()

    def previous_tuned(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """(fingerprint, best point) of settings tuned for `name` on other hardware, if any."""
        for fingerprint in self.store.fingerprints():
            previous = self.tuned_file(name, "tuned.json", fingerprint)
            if fingerprint != self.hardware.fingerprint and previous.exists():
                return fingerprint, self.store.read_json(previous)["best_point"]
        return None

    def gain_over_previous_hardware(self, fingerprint: str, point: dict[str, Any], best: float, landscape: Any,
                                    evaluate: Any) -> dict[str, Any]:
        """The study's upgrade/downgrade experiment: how much re-tuning gains over keeping the settings that were
        tuned on other hardware (evaluated here, through the same cache)."""
        if point.get("gpus", 0) > len(self.own_gpus):
            return {"previous_fingerprint": fingerprint, "previous_point": point,
                    "previous_point_note": "needs more GPUs than present"}
        record, _ = landscape.measure(point, evaluate)
        if record["status"] != "ok":
            return {"previous_fingerprint": fingerprint, "previous_point": point,
                    "previous_point_note": f"{record['status']}: {record.get('reason')}"}
        return {"previous_fingerprint": fingerprint, "previous_point": point,
                "previous_point_throughput_tok_s": record["throughput_tok_s"],
                "gain_over_previous": best / record["throughput_tok_s"] - 1}

    def tuned_params(self) -> list[Any]:
        """Perf-test parameters at the tuned settings of this fingerprint; a skipped placeholder where none."""
        from .tune import case_for

        params = []
        for engine, model, workload, num_prompts, target in self.tune_targets():
            name = self.tuned_name(engine, model, workload)
            path = self.tuned_file(name, "tuned.json")
            if not path.exists():
                params.append(pytest.param(None, id=f"{target}-{name}-untuned", marks=[
                    getattr(pytest.mark, target), pytest.mark.skip(
                        reason=f"no tuned settings for {self.hardware.fingerprint} ({path}): run with --infpop-tune")]))
                continue
            try:
                point = self.store.read_json(path)["best_point"]
            except (BaselineError, KeyError) as err:
                raise pytest.UsageError(f"{path}: {err}") from None
            case = case_for(point, engine, model, workload, target, num_prompts)
            params.append(pytest.param(case, id=f"{case.id}-tuned", marks=[getattr(pytest.mark, target)]))
        return params

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # -- reporting -----------------------------------------------------------------------------------------
    def terminal_summary(self, reporter: Any) -> None:
        if not self.records:
            return
        from .report import records_table

        reporter.write_sep("=", f"infperf results ({self.hardware.fingerprint})")
        for line in records_table(self.records):
            reporter.write_line(line)
        reporter.write_line(f"records: {self.settings.output}")
        verdicts = [r for r in self.records if r.get("gate_verdict")]
        if verdicts:
            counts = {v: sum(r["gate_verdict"] == v for r in verdicts) for v in sorted({r["gate_verdict"] for r in verdicts})}
            reporter.write_sep("-", "infperf gate: " + ", ".join(f"{n} {v}" for v, n in counts.items()) +
                               f" (threshold {self.settings.threshold:.0%}, alpha {self.settings.alpha}, "
                               f"repeats {self.settings.repeats})")
            for r in verdicts:
                if r["gate_verdict"] != "unchanged":
                    reporter.write_line(f"  {r['case_id']}: {r['gate_message']}")
        if self.settings.save:
            saved = sum(r["status"] == "ok" for r in self.records)
            reporter.write_line(f"infperf: saved {saved} baseline(s) under {self.settings.baselines / self.hardware.fingerprint}")


class Measurer:
    """What the `infperf` fixture returns: runs the test's trial once and turns the outcome into pytest terms."""

    def __init__(self, session: InfperfSession, case: Case, test_id: str, benchmark: Any = None) -> None:
        self.session, self.case, self.test_id, self.benchmark = session, case, test_id, benchmark

    def measure(self) -> dict[str, Any]:
        run = lambda: self.session.run(self.case, self.test_id)  # noqa: E731
        if self.benchmark is not None:
            record, verdict = self.benchmark.pedantic(run, rounds=1, iterations=1)
            self.benchmark.extra_info.update({k: v for k, v in record.items() if not isinstance(v, (list, dict))})
        else:
            record, verdict = run()
        if record["status"] == "oom":
            pytest.skip(f"out of memory (recorded as oom): {record['reason']}")
        if record["status"] != "ok":
            pytest.fail(f"{self.case.id}: {record['reason']}", pytrace=False)
        settings = self.session.settings
        if verdict is not None and fails(verdict, settings.fail_on, settings.require_baseline):
            pytest.fail(f"{self.case.id}: {verdict.message}", pytrace=False)
        return record
