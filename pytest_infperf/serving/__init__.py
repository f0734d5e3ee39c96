"""Serving mode: a real OpenAI-compatible vLLM server (server.py) driven by vLLM's own load generator, `vllm
bench serve` (load.py), one server per (model, GPU count, server arguments) kept for all the tests of that key
(pool.py); the cases come from the matrix's `serving` sub-tables (cases.py). Records carry the same metric
names as the offline ones (throughput_tok_s, ttft_p50_s, ... with per-repeat `_samples`), so the gate judges
them unchanged."""
