"""pytest entry point (pytest11): options, markers, parametrisation, fixtures, reporting.

Kept thin: torch, transformers, vllm and pynvml are imported only by the worker processes that run trials
(and pynvml once, by the hardware probe at configure time), so `pytest --help` and collection stay fast.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from .hardware.gpu import GENERATIONS
from .serving.cases import ServingCase
from .settings import OPTIONS, TUNE_INI, Option, default_text

session_key = pytest.StashKey["InfperfSession"]()


def plugin_args() -> list[str]:
    """What a child pytest run needs to load this plugin: nothing where it is installed (pytest11 entry
    point), `-p pytest_infperf.plugin` where it only sits on PYTHONPATH (a copied checkout on a GPU machine);
    asking for an installed plugin again makes pytest refuse to start."""
    from importlib.metadata import entry_points

    installed = any(ep.value == __name__ for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", __name__]


def _help(option: Option) -> str:
    shown = default_text(option)
    return option.help + (f" (default: {shown})" if shown is not None else "")


def _escape(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help texts


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("infperf", "LLM inference performance (pytest-infperf)")
    for option in OPTIONS:
        common = {"dest": option.dest, "default": None, "help": _escape(_help(option))}
        if option.flag:
            group.addoption(option.flag_name, action="store_true", **common)
        elif option.const is not None:
            group.addoption(
                option.flag_name,
                nargs="?",
                const=option.const,
                type=option.parse,
                metavar=option.metavar,
                **common,
            )
        else:
            group.addoption(option.flag_name, type=option.parse, metavar=option.value_name, **common)
        if option.ini:
            parser.addini(option.dest, help=_help(option), type="string", default=None)
    for name, kind, help_text in TUNE_INI:
        parser.addini(name, help=help_text, type=kind, default=[] if kind == "linelist" else None)


def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """A value-taking --infperf-* / --infpop-* option written with a space before an existing path: pytest has
    already taken that path for a test path and chosen the rootdir (and with it the ini file and the matrix)
    from it, so the session would run another project's settings without a word. Stop before anything runs."""
    takes_value = {
        name
        for option in parser.getgroup("infperf").options
        for name in option.names()
        if option.attrs().get("action") not in ("store_true", "store_false")
        and option.attrs().get("nargs") != "?"
    }
    for flag, value in zip(args, args[1:]):
        if flag in takes_value and not value.startswith("-") and os.path.exists(value):
            raise pytest.UsageError(
                f"{flag} {value}: write it as {flag}={value} (given as a separate argument, "
                f"pytest takes {value} for a test path and chooses its rootdir and ini file "
                "from it)"
            )


def pytest_configure(config: pytest.Config) -> None:
    for generation in GENERATIONS:
        config.addinivalue_line(
            "markers", f"{generation}: perf test for {generation} hardware (pytest-infperf)"
        )
    config.addinivalue_line(
        "markers",
        "infperf(**fields): override matrix fields (engines, models, gpus, "
        "batch_sizes, workloads, num_prompts) for one perf test; "
        "infperf(grid='latency') runs the matrix's latency tables (the factor grid "
        "batch x input x output length x GPUs, gated on --infperf-latency-gate-metrics); "
        "infperf(tuned=True) runs it at this hardware's InfPop-tuned settings",
    )
    config.addinivalue_line("markers", "xdist_group(name): keep a trial key's tests on one xdist worker")
    from .session import InfperfSession

    config.stash[session_key] = InfperfSession.from_config(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    infperf = session.config.stash[session_key]
    if infperf.settings.tune.tune and not hasattr(session.config, "workerinput"):
        infperf.infpop.tune_all()


def pytest_report_header(config: pytest.Config) -> list[str]:
    session = config.stash[session_key]
    return session.header_lines()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = metafunc.config.stash[session_key]
    if "infperf_serving_case" in metafunc.fixturenames:
        metafunc.parametrize("infperf_serving_case", [_param(case) for case in session.serving_cases()])
        return
    if "infperf_case" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("infperf")
    if marker and marker.kwargs.get("tuned"):
        metafunc.parametrize("infperf_case", session.infpop.tuned_params())
        return
    cases = session.cases(marker.kwargs if marker else {}, where=metafunc.definition.nodeid)
    metafunc.parametrize("infperf_case", [_param(case) for case in cases])


def _key_of(case: Any) -> Any:
    """What runs a case and stays loaded for the next: the server of a serving case, the worker of an offline
    one."""
    return case.server_key if isinstance(case, ServingCase) else case.trial_key


def _param(case: Any) -> Any:
    """A case as a test parameter: its hardware's marker, and its key's xdist group (one worker loads it
    once)."""
    return pytest.param(
        case,
        id=case.id,
        marks=[getattr(pytest.mark, case.hardware), pytest.mark.xdist_group(_key_of(case).id)],
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    session = config.stash[session_key]
    for item in items:
        case = _case_of(item)
        if case is None:
            continue
        reason = session.skip_reason(case)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    # Tests sharing a trial key run back to back, batch sizes ascending, so each model loads once and an OOM
    # at one batch size can stand for the larger ones.
    order = {id(item): i for i, item in enumerate(items)}
    first_seen: dict[Any, int] = {}
    for item in items:
        case = _case_of(item)
        if case is not None:
            first_seen.setdefault((case.hardware, _key_of(case)), order[id(item)])

    def sort_key(item: pytest.Item) -> tuple[Any, ...]:
        case = _case_of(item)
        if case is None:
            return (order[id(item)], 0, "", 0)
        first = first_seen[(case.hardware, _key_of(case))]
        if isinstance(case, ServingCase):  # expand() already orders a server key's cases, lightest load first
            return (first, 0, "", order[id(item)])
        return (first, case.batch_size, case.workload.id, order[id(item)])

    items.sort(key=sort_key)


def _case_of(item: pytest.Item) -> Any:
    """The item's Case or ServingCase; None for other tests."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    return callspec.params.get("infperf_case", callspec.params.get("infperf_serving_case"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """The gate's family size m: the perf tests this session will run (after -k, -m and skips), each counted
    once per metric it is judged on."""
    infperf = session.config.stash[session_key]
    infperf.gate.planned = sum(
        len(infperf.gate_metrics_of(case))
        for item in session.items
        if (case := _case_of(item)) is not None and not item.get_closest_marker("skip")
    )


_failed_at_end_key = pytest.StashKey[list]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Holm (or BH) over every gated item; a verdict it turns into a failure fails the session, as pytest-cov's
    --cov-fail-under does, since the items themselves have already been reported."""
    if exitstatus == pytest.ExitCode.INTERRUPTED:  # Ctrl-C: engines stop now, not after their trial
        session.config.stash[session_key].close(now=True)
    failed = session.config.stash[session_key].finish_gate()
    session.config.stash[_failed_at_end_key] = failed
    nothing = session.config.stash[session_key].required_but_nothing_judged()
    if (failed and session.exitstatus == pytest.ExitCode.OK) or (
        nothing and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    from .summary import terminal_summary

    terminal_summary(config.stash[session_key], terminalreporter, config.stash.get(_failed_at_end_key, []))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: each worker appends to the controller's records file of this session."""
    node.workerinput["infperf_session_id"] = node.config.stash[session_key].session_id


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(session_key, None)
    if session is not None:
        session.close()
        session.publish_records()


@pytest.fixture
def infperf_case(request: pytest.FixtureRequest) -> Any:
    raise pytest.UsageError(
        f"{request.node.nodeid}: infperf_case is parametrised by pytest-infperf; "
        "request the `infperf` fixture from a test collected with the plugin active"
    )


@pytest.fixture
def engine(infperf_case: Any) -> str:
    return infperf_case.engine


@pytest.fixture
def model(infperf_case: Any) -> str:
    return infperf_case.model


@pytest.fixture
def gpu_count(infperf_case: Any) -> int:
    return infperf_case.gpus


@pytest.fixture
def batch_size(infperf_case: Any) -> int:
    return infperf_case.batch_size


@pytest.fixture
def workload(infperf_case: Any) -> Any:
    return infperf_case.workload


@pytest.fixture
def infperf(request: pytest.FixtureRequest, infperf_case: Any) -> Any:
    """Runs this test's trial: `record = infperf.measure()`. OOM skips the test (recorded) unless the baseline
    was ok; an engine error fails it with the reason; with --infperf-compare a regression fails it with the
    statistics. The verdict goes into the JUnit XML as infperf_* properties."""
    benchmark = None
    if request.config.pluginmanager.hasplugin("benchmark"):  # pytest-benchmark's entry-point name
        benchmark = request.getfixturevalue("benchmark")
    return _measurer(request, infperf_case, benchmark)


def _measurer(request: pytest.FixtureRequest, case: Any, benchmark: Any = None) -> Any:
    from .fixture import Measurer

    return Measurer(request.config.stash[session_key], case, request.node, benchmark)


@pytest.fixture
def infperf_serving_case(request: pytest.FixtureRequest) -> Any:
    raise pytest.UsageError(
        f"{request.node.nodeid}: infperf_serving_case is parametrised by pytest-infperf from "
        "the matrix's serving tables; request the `infperf_serving` fixture"
    )


@pytest.fixture
def request_rate(infperf_serving_case: Any) -> float:
    return infperf_serving_case.request_rate


@pytest.fixture
def infperf_serving(request: pytest.FixtureRequest, infperf_serving_case: Any) -> Any:
    """Runs this serving test: `record = infperf_serving.measure()` starts (or reuses) the `vllm serve` of the
    case's model and GPU count, drives it with `vllm bench serve` (a warm-up run, then the repeats) and gates
    the record like an offline one, on --infperf-serve-gate-metrics. A server that fails to start or dies
    fails the test with its log's last lines."""
    return _measurer(request, infperf_serving_case)
