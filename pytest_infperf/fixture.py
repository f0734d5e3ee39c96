"""The `infperf` fixture's object: one trial run and turned into pytest terms (fail, skip, warn), with the
measurement and the verdict in the test's JUnit XML properties."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import pytest

from .cases import Case
from .gate import fails

if TYPE_CHECKING:
    from .session import InfperfSession


class Measurer:
    """What the `infperf` fixture returns: runs the test's trial once and turns the outcome into pytest terms,
    with the verdict in the test's JUnit XML properties."""

    def __init__(
        self, session: "InfperfSession", case: Case, node: pytest.Item, benchmark: Any = None
    ) -> None:
        self.session, self.case, self.node, self.benchmark = session, case, node, benchmark

    def measure(self) -> dict[str, Any]:
        run = lambda: self.session.run(self.case, self.node.nodeid)  # noqa: E731
        if self.benchmark is not None:
            record, verdict = self.benchmark.pedantic(run, rounds=1, iterations=1)
            self.benchmark.extra_info.update(
                {k: v for k, v in record.items() if not isinstance(v, (list, dict))}
            )
        else:
            record, verdict = run()
        self.node.user_properties.extend(junit_properties(record))
        settings = self.session.settings
        if verdict is not None and fails(
            verdict, settings.fail_on, settings.require_baseline, settings.strict
        ):
            pytest.fail(f"{self.case.id}: {verdict.message}", pytrace=False)
        if record["status"] == "oom":
            pytest.skip(f"out of memory (recorded as oom): {record['reason']}")
        if record["status"] != "ok":
            pytest.fail(f"{self.case.id}: {record['reason']}", pytrace=False)
        if record.get("gpus_used") is not None and len(record["gpus_used"]) < self.case.gpus:
            warnings.warn(
                FewerGpusWarning(
                    f"{self.case.id}: the weights sit on {len(record['gpus_used'])} of the trial's {self.case.gpus} "
                    f'GPUs (GPU {", ".join(map(str, record["gpus_used"]))}): device_map="auto" put no layer on the '
                    "others, so this measures fewer GPUs than the test id says (record field gpus_used)"
                )
            )
        return record


class FewerGpusWarning(UserWarning):
    """HF's balanced device map left some of a trial's GPUs without layers (a model smaller than its GPUs'
    shares): the measurement is real, but of fewer GPUs than the case names."""


JUNIT_FIELDS = (
    "status",
    "throughput_tok_s",
    "ttft_mean_s",
    "gate_verdict",
    "gate_change",
    "gate_ratio_low",
    "gate_ratio_high",
    "gate_p_worse",
    "gate_p_better",
    "gate_sessions",
    "gate_noise_sd",
    "gate_detectable",
    "gate_cliffs_delta",
    "gate_stale",
    "gate_baseline",
    "gate_message",
)


def junit_properties(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """What `record_property` would add: the measurement and the verdict, as infperf_* JUnit properties."""
    return [(f"infperf_{k}", record[k]) for k in JUNIT_FIELDS if record.get(k) is not None]
