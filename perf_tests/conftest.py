"""The perf suite uses the pytest-infperf plugin; its matrix is perf_tests/matrix.toml (see
pyproject.toml)."""
