"""Fields of a matrix table, a serving table or a marker: parsed by the options' own parsers, errors naming
where."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from . import settings as parsers


class MatrixError(ValueError):
    pass


# An offline target's fields (a serving table has its own, serving.cases).
FIELD_PARSERS: dict[str, Callable[[str], Any]] = {
    "engines": parsers.engines,
    "models": parsers.models,
    "gpus": parsers.gpu_counts,
    "batch_sizes": parsers.batch_sizes,
    "workloads": parsers.workloads,
    "num_prompts": parsers.positive_int,
}


def parse_fields(
    values: dict[str, Any], where: str, field_parsers: dict[str, Callable[[str], Any]] | None = None
) -> dict[str, Any]:
    """Validate matrix or marker fields (or a serving table's, with its parsers); errors name `where` and the
    field."""
    field_parsers = FIELD_PARSERS if field_parsers is None else field_parsers
    parsed = {}
    for name, value in values.items():
        if name not in field_parsers:
            raise MatrixError(f"{where}: unknown field {name!r}; known: {', '.join(field_parsers)}")
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        try:
            parsed[name] = field_parsers[name](text)
        except argparse.ArgumentTypeError as err:
            raise MatrixError(f"{where}: {name}: {err}") from None
    return parsed
