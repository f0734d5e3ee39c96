"""InfPop's orchestration inside a pytest session: what to tune, tuning before the tests (`--infpop-tune`),
the gain over settings tuned on other hardware, and the tuned parameters of `@pytest.mark.infperf(tuned=True)`
tests. The search itself (hyperopt TPE, the landscape cache) is tune.py's."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from .cases import MatrixError, parse_fields
from .store import BaselineError
from .workloads import WorkloadSpec, parse_workload, prompt_count

if TYPE_CHECKING:
    from .cases import Case, Target
    from .hardware.gpu import Gpu, Hardware
    from .settings import Settings
    from .store import BaselineStore


class TuningSession(Protocol):
    """What InfPop uses of the pytest session (session.InfperfSession): typed here, so infpop never imports
    it."""

    config: pytest.Config
    settings: "Settings"
    hardware: "Hardware"
    targets: "list[Target]"
    own_gpus: "tuple[Gpu, ...]"

    @property
    def store(self) -> "BaselineStore": ...

    def measure_case(self, case: "Case", test_id: str) -> dict[str, Any]: ...

    def close(self, now: bool = False) -> None: ...


class TunedSettingsWarning(UserWarning):
    """Tuned settings whose summary carries a note on how far to trust them (tuned before a fix, say): the
    tuned tests still run them, and the note is shown until they are tuned again."""


class InfPop:
    def __init__(self, session: TuningSession) -> None:
        self.session = session

    def tune_targets(self) -> list[tuple[str, str, WorkloadSpec, int | None, str]]:
        """(engine, model, workload, num_prompts, hardware target): ini infpop_targets, else the matrix's."""
        here = [t for t in self.session.targets if t.hardware == self.session.hardware.generation]
        num_prompts = self.session.settings.num_prompts or (here[0].num_prompts if here else None)
        declared = self.session.config.getini("infpop_targets")
        if declared:
            triples = []
            for line in declared:
                try:
                    engine, model, workload = line.split(":")
                    parse_fields(
                        {"engines": engine, "models": model, "workloads": workload}, "ini infpop_targets"
                    )
                except (ValueError, MatrixError) as err:
                    raise pytest.UsageError(
                        f"ini infpop_targets: {line!r}: expected engine:model:workload ({err})"
                    )
                triples.append((engine, model, workload))
        else:
            triples = [
                (e, m, t.workloads[0])
                for t in here
                for e in (self.session.settings.engine or t.engines)
                for m in (self.session.settings.model or t.models)
            ]
        return [
            (
                e,
                m,
                parse_workload(w, self.session.settings.output_len),
                num_prompts,
                self.session.hardware.generation,
            )
            for e, m, w in triples
        ]

    def tuned_file(self, name: str, kind: str, fingerprint: str | None = None) -> Path:
        """baselines/<fingerprint>/_infpop/<name>.<kind> (kind: tuned.json or landscape.jsonl)."""
        return (
            self.session.settings.baselines
            / (fingerprint or self.session.hardware.fingerprint)
            / "_infpop"
            / f"{name}.{kind}"
        )

    @staticmethod
    def tuned_name(engine: str, model: str, workload: WorkloadSpec) -> str:
        from .models import resolve

        return f"{engine}-{resolve(model).slug}-{workload.id}"

    def say(self, line: str) -> None:
        """A line through pytest's terminal reporter (past output capture), else stdout."""
        reporter = self.session.config.pluginmanager.get_plugin("terminalreporter")
        (reporter.write_line if reporter else print)(line)

    def max_evals(self) -> int:
        return self.session.settings.tune.max_evals

    def space(self, engine: str, gpu_choices: list[int]) -> dict[str, list[Any]]:
        """The search space for `engine` (ini infpop_space, else built in); a bad one is a usage error."""
        from .tuning.space import load_space

        space_file = self.session.config.getini("infpop_space")
        try:
            return load_space(
                Path(space_file) if space_file else None,
                engine,
                gpu_choices,
                on_cpu=not self.session.hardware.gpus,
            )
        except ValueError as err:
            raise pytest.UsageError(str(err)) from None

    def search(
        self,
        evaluate: Any,
        space: dict[str, list[Any]],
        landscape: Any,
        previous: tuple[str, dict[str, Any]] | None,
        max_ttft_p99_s: float | None = None,
        **objective: str,
    ) -> Any:
        """One TPE run with the session's --infpop-* settings, starting from `previous` (other hardware's tuned
        setting, when there is one); `objective`: what to maximise and its unit, when not throughput."""
        from .tuning.search import tune
        from .tuning.space import start_points_for

        options = self.session.settings.tune
        return tune(
            evaluate,
            space,
            landscape,
            self.max_evals(),
            options.seed,
            options.time_budget,
            max_ttft_p99_s,
            self.say,
            start_points=start_points_for(space, previous[1] if previous else None),
            **objective,
        )

    def already_tuned(self, name: str) -> bool:
        """--infpop-tune=auto and this fingerprint has tuned settings for `name`: say so, and skip it."""
        tuned_path = self.tuned_file(name, "tuned.json")
        if self.session.settings.tune.tune == "auto" and tuned_path.exists():
            self.say(
                f"infpop: {name}: tuned settings for {self.session.hardware.fingerprint} exist ({tuned_path}); "
                "--infpop-tune=force re-tunes"
            )
            return True
        return False

    def tune_all(self) -> None:
        from .tuning.landscape import Landscape, grid_best, measure_grid
        from .tuning.space import case_for, within_prompts

        if self.session.settings.tune.serve:
            return self.tune_serving_all()
        say, max_evals = self.say, self.max_evals()
        ttft = self.session.settings.tune.max_ttft_p99_ms
        gpu_choices = [g for g in (1, 2, 4, 8) if g <= len(self.session.own_gpus)] or [0]
        for engine, model, workload, num_prompts, target in self.tune_targets():
            name = self.tuned_name(engine, model, workload)
            tuned_path = self.tuned_file(name, "tuned.json")
            if self.already_tuned(name):
                continue
            prompts = prompt_count(workload, num_prompts)
            space, dropped = within_prompts(self.space(engine, gpu_choices), prompts)
            if "batch_size" in space and not space["batch_size"]:
                raise pytest.UsageError(
                    f"infpop: {name}: every batch size of the space is above the {prompts} "
                    "prompts of an evaluation; raise --infperf-num-prompts"
                )
            say(
                f"infpop: tuning {name} on {self.session.hardware.fingerprint}: {max_evals} evaluations over "
                f"{space}, {prompts} prompts an evaluation"
                + (
                    f"; batch sizes {dropped} dropped, above the prompts (raise --infperf-num-prompts to search "
                    "them)"
                    if dropped
                    else ""
                )
            )
            landscape = Landscape.open(self.tuned_file(name, "landscape.jsonl"))
            previous = self.previous_tuned(name)

            def evaluate(point: dict[str, Any]) -> dict[str, Any]:
                case = case_for(point, engine, model, workload, target, num_prompts)
                return self.session.measure_case(case, f"infpop::{name}")

            if self.session.settings.tune.grid:
                measured = measure_grid(evaluate, space, landscape, say)
                say(f"infpop: {name}: grid of {len(landscape.points)} points, {measured} measured now")
            result = self.search(evaluate, space, landscape, previous, ttft / 1e3 if ttft else None)
            if result.best_point is None:
                say(f"infpop: {name}: no evaluation succeeded ({result.failed} failed); nothing stored")
                continue
            summary = {
                "fingerprint": self.session.hardware.fingerprint,
                "gpu_name": self.session.hardware.gpu_name,
                "engine": engine,
                "model": model,
                "workload": workload.id,
                "best_point": result.best_point,
                "best_throughput_tok_s": result.best_throughput,
                "evaluations": result.evaluations,
                "cached_evaluations": result.cached,
                "failed_evaluations": result.failed,
                "max_evals": max_evals,
                "seed": self.session.settings.tune.seed,
                "space": space,
                "num_prompts": prompts,
                "landscape": landscape.path.name,
            }  # the file beside this one
            exhaustive = grid_best(space, landscape)
            if (
                exhaustive
            ):  # every point is measured: the tuned tests run the best of them, TPE's answer is kept
                summary |= {
                    "best_point": exhaustive[0],
                    "best_throughput_tok_s": exhaustive[1],
                    "tpe_best_point": result.best_point,
                    "tpe_best_throughput_tok_s": result.best_throughput,
                }
            if previous:  # the study's RQ5 measures the tuner: TPE's best over the previous setting
                summary |= self.gain_over_previous_hardware(
                    *previous, result.best_throughput, landscape, evaluate, space
                )
            self.session.store.write_json(tuned_path, summary)
            say(
                f"infpop: {name}: best {result.best_point} -> {result.best_throughput:,.1f} tok/s "
                f"({result.evaluations} evaluations, {result.cached} cached, {result.failed} failed); "
                f"stored {tuned_path}"
            )
            if exhaustive:
                say(
                    f"infpop: {name}: the grid's best is {exhaustive[0]} -> {exhaustive[1]:,.1f} tok/s (stored: the "
                    f"tuned tests run it); TPE found {result.best_throughput / exhaustive[1]:.1%} of it"
                )
            if "gain_over_previous" in summary:
                measured_at = summary.get("previous_point_here", summary["previous_point"])
                say(
                    f"infpop: {name}: {summary['gain_over_previous']:+.1%} over the settings tuned on "
                    f"{summary['previous_fingerprint']} ({measured_at}, "
                    f"{summary['previous_point_throughput_tok_s']:,.1f} tok/s here)"
                )
        self.session.close()

    def tune_serving_all(self) -> None:
        """`--infpop-serve`: for each serving case of this hardware, TPE over the server's scheduler knobs,
        each evaluation a fresh `vllm serve` with those knobs under the case's own load (dataset, rate,
        concurrency), maximising its goodput at the case's SLOs; stored like the offline tuning, under
        `vllmserve-<case>`."""
        import dataclasses

        from .records import build_serving_record
        from .serving.cases import rate_text
        from .serving.pool import ServerPool
        from .serving.server import unavailable
        from .tuning.landscape import Landscape
        from .tuning.space import SERVE_ENGINE

        session, config = self.session, self.session.config
        say, max_evals, space = self.say, self.max_evals(), self.space(SERVE_ENGINE, [])
        cases = [c for c in session.serving_cases() if c.hardware == session.hardware.generation]
        if not cases:
            raise pytest.UsageError(
                f"--infpop-serve: the matrix has no serving case for {session.hardware.generation}"
            )
        missing = [c.id for c in cases if not c.goodput]
        if missing:
            raise pytest.UsageError(
                f"--infpop-serve tunes for goodput: {', '.join(missing)} declare no SLO (add "
                'goodput = ["ttft:MS", "tpot:MS"] to the serving table, or '
                "--infperf-goodput)"
            )
        why = unavailable()
        if why:
            raise pytest.UsageError(f"--infpop-serve: {why}")
        root = Path(str(config.rootpath))
        for case in cases:
            if case.gpus > len(session.own_gpus):
                say(f"infpop: {case.id}: skipped, needs {case.gpus} GPUs")
                continue
            name = f"{SERVE_ENGINE}-{case.id.removeprefix(case.hardware + '-vllmserve-')}"
            tuned_path = self.tuned_file(name, "tuned.json")
            if self.already_tuned(name):
                continue
            slo = ", ".join(f"{k} <= {v:g} ms" for k, v in case.goodput)
            say(
                f"infpop: tuning {name} on {session.hardware.fingerprint}: {max_evals} evaluations over {space}, "
                f"each a fresh vllm serve; objective: goodput (req/s with {slo})"
            )
            landscape = Landscape.open(self.tuned_file(name, "landscape.jsonl"))

            def evaluate(point: dict[str, Any], case: Any = case, name: str = name) -> dict[str, Any]:
                session.close()  # nothing else holds the GPUs while a server of other knobs starts
                vllm = dataclasses.replace(session.settings.vllm, **point)
                pool = ServerPool(
                    dataclasses.replace(session.settings, vllm=vllm),
                    session.own_gpus,
                    session.settings.output.parent / "logs" / "infpop",
                )
                pool.on_progress = session.say_progress
                try:
                    outcome = pool.run(case)
                finally:
                    pool.close()
                return build_serving_record(
                    case, outcome, session.hardware, session.settings, f"infpop::{name}", root
                )

            previous = self.previous_tuned(name)
            result = self.search(evaluate, space, landscape, previous, maximise="goodput_req_s", unit="req/s")
            if result.best_point is None:
                say(f"infpop: {name}: no evaluation succeeded ({result.failed} failed); nothing stored")
                continue
            summary = {
                "fingerprint": session.hardware.fingerprint,
                "gpu_name": session.hardware.gpu_name,
                "engine": SERVE_ENGINE,
                "model": case.model,
                "case_id": case.id,
                "workload": case.dataset.id,
                "request_rate": rate_text(case.request_rate),
                "max_concurrency": case.max_concurrency,
                "goodput_slo_ms": dict(case.goodput),
                "objective": "goodput_req_s",
                "best_point": result.best_point,
                "best_goodput_req_s": result.best_throughput,
                "evaluations": result.evaluations,
                "cached_evaluations": result.cached,
                "failed_evaluations": result.failed,
                "max_evals": max_evals,
                "seed": self.session.settings.tune.seed,
                "space": space,
                "landscape": landscape.path.name,
            }  # the file beside this one
            session.store.write_json(tuned_path, summary)
            say(
                f"infpop: {name}: best {result.best_point} -> {result.best_throughput:,.2f} req/s of goodput "
                f"({result.evaluations} evaluations, {result.cached} cached, {result.failed} failed); "
                f"stored {tuned_path}"
            )
        session.close()

    def previous_tuned(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """(fingerprint, best point) of settings tuned for `name` on other hardware, if any."""
        for fingerprint in self.session.store.fingerprints():
            previous = self.tuned_file(name, "tuned.json", fingerprint)
            if fingerprint != self.session.hardware.fingerprint and previous.exists():
                return fingerprint, self.session.store.read_json(previous)["best_point"]
        return None

    def gain_over_previous_hardware(
        self,
        fingerprint: str,
        point: dict[str, Any],
        best: float,
        landscape: Any,
        evaluate: Any,
        space: dict[str, list[Any]],
    ) -> dict[str, Any]:
        """The study's upgrade/downgrade experiment: how much re-tuning gains over keeping the settings that
        were tuned on other hardware (evaluated here, through the same cache, as this space runs them: snapped
        onto it, as InfPop starts from them)."""
        from .tuning.space import snap_to_space

        if point.get("gpus", 0) > len(self.session.own_gpus):
            return {
                "previous_fingerprint": fingerprint,
                "previous_point": point,
                "previous_point_note": "needs more GPUs than present",
            }
        here = snap_to_space(point, space)
        if here is None:
            return {
                "previous_fingerprint": fingerprint,
                "previous_point": point,
                "previous_point_note": "a choice this space lacks",
            }
        moved = {"previous_point_here": here} if here != point else {}
        record, _ = landscape.measure(here, evaluate)
        if record["status"] != "ok":
            return {
                "previous_fingerprint": fingerprint,
                "previous_point": point,
                **moved,
                "previous_point_note": f"{record['status']}: {record.get('reason')}",
            }
        return {
            "previous_fingerprint": fingerprint,
            "previous_point": point,
            **moved,
            "previous_point_throughput_tok_s": record["throughput_tok_s"],
            "gain_over_previous": best / record["throughput_tok_s"] - 1,
        }

    def tuned_params(self) -> list[Any]:
        """Perf-test parameters at the tuned settings of this fingerprint; a skipped placeholder where
        none."""
        from .tuning.space import case_for

        params = []
        for engine, model, workload, num_prompts, target in self.tune_targets():
            name = self.tuned_name(engine, model, workload)
            path = self.tuned_file(name, "tuned.json")
            if not path.exists():
                params.append(
                    pytest.param(
                        None,
                        id=f"{target}-{name}-untuned",
                        marks=[
                            getattr(pytest.mark, target),
                            pytest.mark.skip(
                                reason=f"no tuned settings for {self.session.hardware.fingerprint} ({path}): "
                                "run with --infpop-tune"
                            ),
                        ],
                    )
                )
                continue
            try:
                summary = self.session.store.read_json(path)
                point = summary["best_point"]
            except (BaselineError, KeyError) as err:
                raise pytest.UsageError(f"{path}: {err}") from None
            if summary.get("note"):
                warnings.warn(TunedSettingsWarning(f"{path}: {summary['note']}"))
            case = case_for(point, engine, model, workload, target, num_prompts)
            params.append(pytest.param(case, id=f"{case.id}-tuned", marks=[getattr(pytest.mark, target)]))
        return params
