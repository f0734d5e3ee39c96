"""What the gate can judge: each metric's direction, display scale and unit (the options validate against it).
Nothing imported: the options table reads it at plugin load."""

from __future__ import annotations

# Per-request latencies kept per repeat, as mean and median, so the gate can judge them like throughput.
GATED_LATENCIES = ("ttft", "tpot", "e2e")
GATED_STATS = ("mean", "p50")
# Metrics the gate can judge: (higher is better, display scale, unit); each needs `<metric>_samples`.
GATE_METRICS: dict[str, tuple[bool, float, str]] = {
    "throughput_tok_s": (True, 1.0, " tok/s"),
    **{f"{name}_{stat}_s": (False, 1e3, " ms") for name in GATED_LATENCIES for stat in GATED_STATS},
    "ttlt_s": (False, 1e3, " ms"),
}
