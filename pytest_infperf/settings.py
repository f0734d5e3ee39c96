"""One validated settings object, built once at configure time from options, ini and defaults.

Every option is declared once in OPTIONS: the same parser validates the command line (argparse `type=`,
so errors appear at parse time) and the ini value (pytest.UsageError at configure time).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .metrics import GATE_METRICS
from .refenv import Reference, parse_reference
from .serving.datasets import parse_dataset

ENGINES = ("hf", "vllm")
FAIL_ON = ("regression", "any", "never")
MULTIPLE_TESTING = ("holm", "bh", "none")
DTYPES = ("auto", "float16", "bfloat16", "float32")
EXECUTOR_BACKENDS = ("auto", "mp", "ray", "uni")


def _csv(text: str) -> list[str]:
    items = [t.strip() for t in re.split(r"[,\s]+", text) if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, got nothing")
    return items


def _int(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} is below the minimum of {minimum}")
    return value


def positive_int(text: str) -> int:
    return _int(text, 1)


def non_negative_int(text: str) -> int:
    return _int(text, 0)


def warmup_spec(text: str) -> int | str:
    """Warm-up before the measured repeats: a number of batches, `pass` or `auto` (see `warmup_for`)."""
    if text in ("auto", "pass"):
        return text
    try:
        return _int(text, 0)
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"{err}; expected a number of batches, pass or auto") from None


def warmup_for(spec: int | str, engine: str) -> int | str:
    """`auto`: whole passes for both engines until --infperf-min-repeat-s has gone by. HF tunes kernels per
    new input shape, so its first pass runs slow after a single warm-up batch; vLLM compiles and captures CUDA
    graphs while loading, yet small models on it still speed up over the first seconds of a session
    (docs/RESULTS.md)."""
    if spec == "auto":
        return "pass"
    return spec


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be greater than 0")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is below the minimum of 0")
    return value


def fraction(text: str) -> float:
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{value} must lie strictly between 0 and 1")
    return value


def open_fraction(text: str) -> float:
    """A fraction in (0, 1], such as gpu_memory_utilization."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{value} must lie in (0, 1]")
    return value


def positive_ints(text: str) -> tuple[int, ...]:
    """Batch sizes, token lengths: ascending, each once."""
    return tuple(sorted({positive_int(t) for t in _csv(text)}))


batch_sizes = positive_ints


def gpu_counts(text: str) -> tuple[int, ...]:
    """GPU counts; 0 means the CPU."""
    return tuple(sorted({non_negative_int(t) for t in _csv(text)}))


def engines(text: str) -> tuple[str, ...]:
    names = _csv(text)
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown engine {', '.join(map(repr, unknown))}; choose from {', '.join(ENGINES)}"
        )
    return tuple(dict.fromkeys(names))


def gate_metrics(text: str) -> tuple[str, ...]:
    names = _csv(text)
    unknown = [n for n in names if n not in GATE_METRICS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown gate metric {', '.join(map(repr, unknown))}; choose from {', '.join(GATE_METRICS)}"
        )
    return tuple(dict.fromkeys(names))


def _checked_names(text: str, check: Callable[[str], Any]) -> tuple[str, ...]:
    """Comma-separated names, each passed to `check` (its ValueError becomes the usage error), duplicates
    dropped."""
    names = _csv(text)
    for name in names:
        try:
            check(name)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return tuple(dict.fromkeys(names))


def models(text: str) -> tuple[str, ...]:
    from .models import check_model_name

    return _checked_names(text, check_model_name)


def workloads(text: str) -> tuple[str, ...]:
    from .workloads import parse_workload

    return _checked_names(text, lambda name: parse_workload(name, output_len=5))


def serve_datasets(text: str) -> tuple[str, ...]:
    return _checked_names(text, lambda name: parse_dataset(name, output_len=5))


def request_rates(text: str) -> tuple[float, ...]:
    """Requests per second; `inf` sends every request at once."""
    return tuple(float("inf") if item.lower() == "inf" else positive_float(item) for item in _csv(text))


def concurrencies(text: str) -> tuple[int, ...]:
    """Most requests in flight; 0: no limit."""
    return tuple(non_negative_int(item) for item in _csv(text))


GOODPUT_METRICS = ("ttft", "tpot", "e2el")


def goodput(text: str) -> tuple[tuple[str, float], ...]:
    """`ttft:500,tpot:50` -> (("ttft", 500.0), ("tpot", 50.0)), in milliseconds, as `vllm bench serve
    --goodput`."""
    slos = []
    for item in _csv(text):
        name, _, value = item.partition(":")
        if name not in GOODPUT_METRICS or not value:
            raise argparse.ArgumentTypeError(
                f"goodput SLO {item!r}: use <metric>:<ms> with metric one of {', '.join(GOODPUT_METRICS)}"
            )
        slos.append((name, positive_float(value)))
    return tuple(slos)


def hardware_targets(text: str) -> tuple[str, ...]:
    from .hardware.gpu import GENERATIONS

    names = _csv(text)
    allowed = set(GENERATIONS) | {"auto"}
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown hardware {', '.join(map(repr, unknown))}; choose from auto, {', '.join(GENERATIONS)}"
        )
    return tuple(dict.fromkeys(names))


def choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(options)}")
        return text

    parse.__name__ = "choice"
    return parse


def memory_size(text: str) -> int:
    """'4GB', '512MiB', '2g' -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a memory size such as 4GB or 512MiB")
    number, unit, _ = match.groups()
    return int(float(number) * 1024 ** " kmgt".index(unit or " "))


AFFINITY_POLICIES = ("auto", "none", "cores", "gpu-local", "shared")


def cpu_affinity(text: str) -> str:
    """auto, none, cores, gpu-local, shared, or an explicit CPU list such as 0-7,16-23."""
    if text in AFFINITY_POLICIES:
        return text
    from .hardware.affinity import parse_cpu_list, unavailable_cpus

    try:
        wanted = parse_cpu_list(text)
    except ValueError:
        wanted = []
    if not wanted:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not {', '.join(AFFINITY_POLICIES)} or a CPU list such as 0-7,16-23"
        )
    outside, allowed = unavailable_cpus(wanted)
    if outside:
        raise argparse.ArgumentTypeError(
            f"CPUs {outside} are not available here (this process may use "
            f"{len(allowed)} CPUs: {allowed[:8]}...)"
        )
    return text


def path(text: str) -> Path:
    return Path(text)


@dataclass(frozen=True)
class Option:
    """One setting: `--<prefix>-<name>` on the command line, `<prefix>_<name>` in the ini file. Its default is
    the field's in `Settings` (or `VllmKnobs`, `TuneSettings`): written there once, shown by `--help` and
    docs/options.md from there."""

    name: str
    parse: Callable[[str], Any]
    help: str
    ini: bool = True
    flag: bool = False  # a store_true switch
    prefix: str = "infperf"  # infpop: the tuner's options
    const: str | None = None  # given bare (`--infperf-compare`), the option takes this value
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return f"{self.prefix}_{self.name.replace('-', '_')}"

    @property
    def flag_name(self) -> str:
        return f"--{self.prefix}-{self.name}"

    @property
    def field(self) -> str:
        return self.name.replace("-", "_")

    @property
    def value_name(self) -> str:
        """What --help and docs/options.md call the option's value."""
        return self.metavar or self.name.upper().replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option(
        "matrix",
        path,
        "TOML file declaring the hardware targets to generate tests for (relative to rootdir)",
    ),
    Option(
        "hardware",
        hardware_targets,
        "only generate tests for these hardware targets (auto = the detected one)",
    ),
    Option("engine", engines, "engines to run, overriding the matrix: hf, vllm"),
    Option(
        "model",
        models,
        "models to run, overriding the matrix: registry names, local checkpoint dirs or hub ids",
    ),
    Option("gpus", gpu_counts, "GPU counts to run, overriding the matrix (0 = CPU)"),
    Option("batch-sizes", batch_sizes, "batch sizes to run, overriding the matrix, e.g. 1,2,4,...,1024"),
    Option("workload", workloads, "workloads, overriding the matrix: humaneval, synthetic-in<N>-out<M>"),
    Option(
        "output-len",
        positive_int,
        "tokens generated per prompt for the humaneval workload (forced, no early EOS)",
    ),
    Option(
        "num-prompts",
        positive_int,
        "prompts per repeat (default: the matrix's, else the whole workload)",
    ),
    Option("repeats", positive_int, "measured repeats per trial (each a full pass over the prompts)"),
    Option(
        "warmup",
        warmup_spec,
        "warm-up before the measured repeats: N batches, or pass / auto (whole "
        "passes over the prompts until --infperf-min-repeat-s has gone by, at least one)",
    ),
    Option(
        "min-repeat-s",
        non_negative_float,
        "each measured repeat runs whole passes over the prompts until it "
        "has lasted this many seconds (short samples drift with the host; 0: one pass)",
    ),
    Option(
        "dtype",
        choice(DTYPES),
        "weight dtype (auto: bfloat16 on GPUs that have it, float16 on older ones, float32 on CPU)",
    ),
    Option("output", path, "JSON-lines file the session's records are written to"),
    Option("cache-dir", path, "where built model folders and tokenizers are kept"),
    Option("load-timeout", positive_float, "seconds a worker may take to load a model"),
    Option("trial-timeout", positive_float, "seconds one measurement may take"),
    Option(
        "worker-memory",
        memory_size,
        "cap the worker's address space (e.g. 8GB): larger batches then OOM cleanly",
    ),
    Option("seed", non_negative_int, "seed for random weights and synthetic prompts"),
    Option(
        "heartbeat-s",
        non_negative_float,
        "during a trial, print a progress line (repeats done, tok/s of "
        "the last repeat) at most this often; 0: after every repeat",
    ),
    Option(
        "cpu-affinity",
        cpu_affinity,
        "CPUs each trial's worker and its engine processes run on: auto "
        "(none, except in A/B runs: shared), none, cores (one per physical core, no shared hyperthreads), "
        "gpu-local (those of the GPUs' NUMA node, one per core, like numactl --cpunodebind), shared (4 of "
        "gpu-local's CPUs for one GPU, 2 more per further GPU: both A/B arms on the same ones), or a list such "
        "as 0-7",
    ),
    # vLLM knobs
    Option("max-num-seqs", positive_int, "vLLM max_num_seqs"),
    Option("max-num-batched-tokens", positive_int, "vLLM max_num_batched_tokens"),
    Option("gpu-memory-utilization", open_fraction, "vLLM gpu_memory_utilization"),
    Option("enforce-eager", choice(("true", "false")), "vLLM enforce_eager (no CUDA graphs)"),
    Option(
        "pipeline-parallel-size",
        positive_int,
        "vLLM pipeline_parallel_size (GPUs per trial = gpus x this)",
    ),
    Option(
        "distributed-executor-backend",
        choice(EXECUTOR_BACKENDS),
        "vLLM distributed_executor_backend: mp on one host, ray across hosts",
    ),
    Option(
        "prefix-caching",
        choice(("true", "false")),
        "vLLM enable_prefix_caching (off: repeats over the same prompts measure compute, not cache hits)",
    ),
    Option("max-model-len", positive_int, "vLLM max_model_len (default: the model's, capped at 4096)"),
    Option("cpu-kv-cache-gb", positive_int, "KV-cache size for vLLM on CPU, in GiB"),
    # baselines and the gate
    Option("baselines", path, "folder of stored baselines (relative to rootdir)"),
    Option(
        "save",
        str,
        "add this session's results to the baselines (each baseline keeps its sessions apart)",
        ini=False,
        flag=True,
    ),
    Option(
        "save-replace",
        str,
        "with --infperf-save, start each saved baseline over with this session alone",
        ini=False,
        flag=True,
    ),
    Option("baseline-sessions", positive_int, "sessions a baseline keeps (the newest)"),
    Option(
        "compare",
        str,
        "compare with the stored baseline for this hardware, or with a named fingerprint (REF: a hardware "
        "fingerprint folder under the baselines)",
        ini=False,
        const="auto",
        metavar="REF",
    ),
    Option(
        "require-baseline",
        str,
        "with --infperf-compare, fail tests that have no comparable baseline",
        ini=False,
        flag=True,
    ),
    Option(
        "fail-on",
        choice(FAIL_ON),
        "what fails a test when comparing: regression, any significant change, never",
    ),
    Option("threshold", fraction, "smallest relative change that counts (0.05 = 5%)"),
    Option(
        "gate-metrics",
        gate_metrics,
        "what the gate judges, each on its per-repeat samples: "
        "throughput_tok_s (higher is better); per-request latency, lower is better: ttft_mean_s, ttft_p50_s, "
        "tpot_mean_s, tpot_p50_s, e2e_mean_s, e2e_p50_s (mean or median of each repeat); ttlt_s (a batch's time "
        "to its last token, median pass of each repeat); a test fails if any regresses",
    ),
    Option(
        "latency-gate-metrics",
        gate_metrics,
        "what the gate judges in latency-grid tests "
        '(@pytest.mark.infperf(grid="latency")): ttlt_s is the time to the last token of a batch (median pass), '
        "ttft_p50_s the median request's time to first token",
    ),
    Option(
        "alpha",
        fraction,
        "significance level of the whole session's gate (the family-wise false-alarm rate with holm)",
    ),
    Option(
        "multiple-testing",
        choice(MULTIPLE_TESTING),
        "correction over the session's gated items: holm "
        "(family-wise error <= alpha), bh (Benjamini-Hochberg false discovery rate), none (alpha per item)",
    ),
    Option(
        "noise-floor",
        non_negative_float,
        "smallest between-session spread (relative sd) the gate assumes for any configuration",
    ),
    Option(
        "ab-reference",
        parse_reference,
        "interleaved A/B on this host: also run every trial in a "
        "reference environment, alternating rounds with this one, and gate this environment against it round by "
        "round; needs no stored baseline, and host drift cancels (vLLM arms share the GPU: each gets half of "
        "--infperf-gpu-memory-utilization). A Python interpreter (a venv with the previous engine), or package "
        'specs ("vllm==0.20.1", several separated by spaces) or a requirements file: that environment is '
        "built once under --infperf-cache-dir (this environment with the spec's packages swapped in, by pip) "
        "and reused",
        ini=False,
    ),
    Option(
        "ab-rounds",
        positive_int,
        "rounds of an A/B trial; each runs one repeat of each arm, their order alternating",
    ),
    Option(
        "ab-max-rounds",
        positive_int,
        "A/B rounds at most: a trial whose first --infperf-ab-rounds show "
        "noise that would hide a change of --infperf-threshold runs as many more as that noise needs, up to "
        "this many (Stein's two-stage design); set it to --infperf-ab-rounds for a fixed number",
    ),
    Option(
        "ab-power",
        fraction,
        "the chance an A/B trial catches a change of twice "
        "--infperf-threshold (the power term of the rule that sets its rounds; a change of the threshold itself "
        "is flagged at most half the time)",
    ),
    Option(
        "request-rates",
        request_rates,
        "serving tests: request rates to sweep (requests/s, "
        "Poisson arrivals; inf sends all at once), overriding the matrix",
    ),
    Option(
        "max-concurrency",
        concurrencies,
        "serving tests: most requests in flight (0 = no limit), overriding the matrix",
    ),
    Option(
        "serve-datasets",
        serve_datasets,
        "serving tests: request datasets, overriding the matrix: "
        'humaneval, synthetic-in<N>-out<M>, jsonl:<file of {"prompt": ...} lines>',
    ),
    Option(
        "goodput",
        goodput,
        "serving tests: SLOs in ms a request must meet to count toward "
        "goodput, e.g. ttft:500,tpot:50 (metrics ttft, tpot, e2el), overriding the matrix",
    ),
    Option(
        "serve-args",
        str,
        'serving tests: extra `vllm serve` arguments, e.g. "--enforce-eager" (the '
        "vLLM options above apply to the server too)",
    ),
    Option(
        "serve-gate-metrics",
        gate_metrics,
        "what the gate judges in serving tests (throughput_tok_s is output tokens/s: below saturation it "
        "follows the request rate, so TPOT carries the verdict there; TTFT moves between hosts of one kind, so "
        "add ttft_p50_s only with baselines from your own hosts; docs/RESULTS.md has the figures)",
    ),
    Option(
        "strict",
        str,
        "also fail on a stale baseline (significant improvement beyond the threshold), on "
        "a missing or not comparable one, and on an underpowered item (one that could not tell a change of the "
        "threshold), so a passing run means every item was judged",
        ini=False,
        flag=True,
    ),
    # InfPop, the tuner
    Option(
        "tune",
        choice(("auto", "force")),
        "tune GPU count, batch size and engine knobs with hyperopt TPE before the tests: when this hardware has "
        "no tuned settings yet (auto), or always (force)",
        ini=False,
        prefix="infpop",
        const="auto",
        metavar="MODE",
    ),
    Option("max-evals", positive_int, "evaluations per tuning run", prefix="infpop", metavar="N"),
    Option(
        "time-budget",
        positive_float,
        "stop tuning after this many seconds",
        ini=False,
        prefix="infpop",
        metavar="SECONDS",
    ),
    Option("seed", non_negative_int, "TPE seed", ini=False, prefix="infpop"),
    Option(
        "grid",
        str,
        "with --infpop-tune: first measure every point of the space (one engine load per combination of load "
        "knobs, serving all its batch sizes), then tune on the measured landscape: the stored setting is the "
        "grid's best (TPE's answer kept beside it), and further seeds re-use the landscape",
        ini=False,
        flag=True,
        prefix="infpop",
    ),
    Option(
        "max-ttft-p99-ms",
        positive_float,
        "latency constraint: points whose p99 TTFT exceeds it fail (maximise goodput)",
        ini=False,
        prefix="infpop",
        metavar="MS",
    ),
    Option(
        "serve",
        str,
        "with --infpop-tune: tune `vllm serve`'s max_num_seqs and max_num_batched_tokens for goodput (requests/s "
        "within the SLOs) under each serving case's load, instead of the offline targets; the case's goodput "
        "SLOs (its table, or --infperf-goodput) are required",
        ini=False,
        flag=True,
        prefix="infpop",
    ),
)

# ini-only settings of the tuner (`[tool.pytest.ini_options]`): (name, type, help)
TUNE_INI: tuple[tuple[str, str, str], ...] = (
    (
        "infpop_space",
        "string",
        "TOML file with the search space per engine ([vllm], [hf], [vllmserve]: lists of "
        "values per knob; default: built in)",
    ),
    (
        "infpop_targets",
        "linelist",
        "engine:model:workload lines to tune (default: those of the matrix's target for this hardware)",
    ),
)


@dataclass(frozen=True)
class VllmKnobs:
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    gpu_memory_utilization: float = 0.9
    enforce_eager: bool = False
    pipeline_parallel_size: int = 1
    distributed_executor_backend: str = "auto"
    prefix_caching: bool = False
    max_model_len: int | None = None
    cpu_kv_cache_gb: int = 2


@dataclass(frozen=True)
class TuneSettings:
    """InfPop's options (--infpop-*)."""

    tune: str | None = None  # auto or force; None: no tuning
    max_evals: int = 24
    time_budget: float | None = None
    seed: int = 0
    grid: bool = False
    max_ttft_p99_ms: float | None = None
    serve: bool = False


@dataclass(frozen=True)
class Settings:
    matrix: Path | None = None
    hardware: tuple[str, ...] | None = None
    engine: tuple[str, ...] | None = None
    model: tuple[str, ...] | None = None
    gpus: tuple[int, ...] | None = None
    batch_sizes: tuple[int, ...] | None = None
    workload: tuple[str, ...] | None = None
    output_len: int = 5
    num_prompts: int | None = None
    repeats: int = 5
    warmup: int | str = "auto"
    min_repeat_s: float = 2.0
    dtype: str = "auto"
    output: Path = Path(".infperf/records.jsonl")
    cache_dir: Path = Path("~/.cache/pytest-infperf")
    load_timeout: float = 1200.0
    trial_timeout: float = 1800.0
    worker_memory: int | None = None
    seed: int = 0
    heartbeat_s: float = 30.0
    cpu_affinity: str = "auto"
    vllm: VllmKnobs = field(default_factory=VllmKnobs)
    baselines: Path = Path("baselines")
    save: bool = False
    save_replace: bool = False
    baseline_sessions: int = 10
    compare: str | None = None
    require_baseline: bool = False
    fail_on: str = "regression"
    threshold: float = 0.05
    gate_metrics: tuple[str, ...] = ("throughput_tok_s",)
    latency_gate_metrics: tuple[str, ...] = ("ttft_p50_s", "ttlt_s")
    alpha: float = 0.05
    multiple_testing: str = "holm"
    noise_floor: float = 0.01
    strict: bool = False
    ab_reference: Reference | None = None
    ab_rounds: int = 16
    ab_max_rounds: int = 128
    ab_power: float = 0.95
    request_rates: tuple[float, ...] | None = None
    max_concurrency: tuple[int, ...] | None = None
    serve_datasets: tuple[str, ...] | None = None
    goodput: tuple[tuple[str, float], ...] | None = None
    serve_args: str | None = None
    serve_gate_metrics: tuple[str, ...] = ("throughput_tok_s", "tpot_p50_s")
    tune: TuneSettings = field(default_factory=TuneSettings)

    @property
    def pinning(self) -> str:
        """The CPU policy in force: `auto` is `shared` in A/B runs and `none` otherwise. Unpinned A/B arms
        drift apart (one sits on slow vCPUs for minutes while the other does not), which the measured rounds
        showed as false alarms that pinning both arms to the same CPUs removed (docs/RESULTS.md)."""
        if self.cpu_affinity != "auto":
            return self.cpu_affinity
        return "shared" if self.ab_reference is not None else "none"

    @property
    def comparing(self) -> bool:
        """Whether tests are gated: against stored baselines, or against an A/B reference arm."""
        return self.compare is not None or self.ab_reference is not None


_VLLM_FIELDS = {f.name for f in dataclasses.fields(VllmKnobs)}
# Paths relative to pytest's rootdir, not to the working directory.
_ROOTED = ("matrix", "baselines", "output")


def _holder(option: Option) -> type:
    """The dataclass whose field holds the option's value (and its default)."""
    if option.prefix == "infpop":
        return TuneSettings
    return VllmKnobs if option.field in _VLLM_FIELDS else Settings


def default(option: Option) -> Any:
    """The option's default: its field's in Settings, VllmKnobs or TuneSettings (written there only)."""
    declared = {f.name: f for f in dataclasses.fields(_holder(option))}[option.field]
    return None if declared.default is dataclasses.MISSING else declared.default


def default_text(option: Option) -> str | None:
    """The default as one would type it (`--help`, docs/options.md); None where there is none to show."""
    value = default(option)
    if value is None or (option.flag and value is False):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def build_settings(raw: dict[str, Any], rootdir: Path) -> Settings:
    """raw maps an option's dest (`infperf_threshold`, `infpop_seed`) to its parsed value, or None for its
    default."""
    groups: dict[type, dict[str, Any]] = {Settings: {}, VllmKnobs: {}, TuneSettings: {}}
    for option in OPTIONS:
        value = raw.get(option.dest)
        if value is None or value is False:
            continue
        if option.field in ("enforce_eager", "prefix_caching"):
            value = value == "true"
        groups[_holder(option)][option.field] = value
    values = groups[Settings]
    settings = Settings(
        vllm=VllmKnobs(**groups[VllmKnobs]), tune=TuneSettings(**groups[TuneSettings]), **values
    )
    rooted = {
        key: rootdir / getattr(settings, key)
        for key in _ROOTED
        if getattr(settings, key) is not None and not getattr(settings, key).is_absolute()
    }
    return dataclasses.replace(settings, cache_dir=settings.cache_dir.expanduser(), **rooted)


def options_reference() -> str:
    """docs/options.md: every option, its ini name and its default, from OPTIONS and the settings' fields
    (`infperf options --out docs/options.md` writes it; a test keeps the committed page in sync)."""
    lines = [
        "# Options",
        "",
        "Generated from the plugin's OPTIONS table by `infperf options --out docs/options.md`; do not edit by hand.",
        "Every option with an ini name can also be set in `[tool.pytest.ini_options]` of `pyproject.toml`;",
        "the command line wins over the ini file, which wins over the default. Value-taking options are best",
        "written with `=` (`--infperf-model=/path/ckpt`): pytest reads a path given as a separate argument as a",
        "test path.",
        "",
        "| option | ini | default | meaning |",
        "|---|---|---|---|",
    ]
    for option in OPTIONS:
        if option.flag:
            shown = f"`{option.flag_name}`"
        elif option.const is not None:
            shown = f"`{option.flag_name}[={option.metavar}]`"
        else:
            shown = f"`{option.flag_name}={option.value_name}`"
        ini = f"`{option.dest}`" if option.ini else "—"
        value = default_text(option)
        meaning = option.help.replace("|", "\\|")
        lines.append(f"| {shown} | {ini} | {'—' if value is None else f'`{value}`'} | {meaning} |")
    for name, _, help_text in TUNE_INI:
        lines.append(f"| — | `{name}` | — | {help_text} |")
    lines += [
        "",
        "For tests only: `INFPERF_SIMULATED_HARDWARE=h200x8` makes the hardware probe report simulated hardware,",
        "to check the selection and skipping of multi-GPU cases on a machine without those GPUs.",
        "",
    ]
    return "\n".join(lines)
