"""pytest-infperf: LLM inference speed as regression-gated pytest tests."""

__version__ = "0.1.0"
