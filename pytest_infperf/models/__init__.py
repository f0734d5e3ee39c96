"""Model registry: shipped architecture configs (run with random/dummy weights), local checkpoints, hub ids.

Throughput depends on the architecture, not the weight values, so the studied models ship as their
`config.json` (facts from the model cards). `materialize` turns any of them into a folder both engines load:
the config plus a tokenizer trained locally when the model brings none.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).parent / "configs"
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")
# org/name as the hub allows them: each part starts with a letter or digit, and no part holds ".." (so no id
# can become a path out of a folder when it names a cache entry, a test id or a baseline file).
_HUB_ID = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


@functools.lru_cache(maxsize=1)
def known_models() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))


def check_model_name(name: str) -> None:
    """Raise ValueError with the choices when `name` is no registry model, local folder or hub id."""
    if name in known_models() or Path(name).expanduser().is_dir() or _HUB_ID.match(name):
        return
    raise ValueError(
        f"unknown model {name!r}: not in the registry ({', '.join(known_models())}), "
        "not a local checkpoint folder, not a hub id (org/name)"
    )


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from. `source` is registry, local or hub; `dummy` means random weights."""

    name: str
    source: str
    location: str  # registry: config file; local: folder; hub: id
    dummy: bool

    @property
    def slug(self) -> str:
        """Short name for test ids and baseline files: the registry name, a local folder's last path
        component, or a hub id with its organisation (`orgA/tiny` -> `orga--tiny`, as the hub's own cache
        names it), so two organisations' models of one name never share an id or a baseline file."""
        if self.source == "hub":
            return "--".join(_slug_part(part) for part in self.name.split("/"))
        return _slug_part(self.name.rstrip("/").split("/")[-1])


def _slug_part(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "model"


def resolve(name: str) -> ModelSpec:
    check_model_name(name)
    if name in known_models():
        return ModelSpec(name, "registry", str(CONFIG_DIR / f"{name}.json"), dummy=True)
    folder = Path(name).expanduser()
    if folder.is_dir():
        has_weights = any(any(folder.glob(p)) for p in _WEIGHT_PATTERNS)
        return ModelSpec(name, "local", str(folder.resolve()), dummy=not has_weights)
    return ModelSpec(name, "hub", name, dummy=False)


def load_config(spec: ModelSpec) -> dict[str, Any]:
    if spec.source == "registry":
        return json.loads(Path(spec.location).read_text())
    if spec.source == "local":
        return json.loads((Path(spec.location) / "config.json").read_text())
    from transformers import AutoConfig  # hub ids: only when asked for

    return AutoConfig.from_pretrained(spec.location).to_dict()


def config_value(config: dict[str, Any], *keys: str, default: Any = None) -> Any:
    """First present key: architectures name the same thing differently (n_positions,
    max_position_embeddings)."""
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    return default


def max_positions(config: dict[str, Any]) -> int:
    return int(config_value(config, "max_position_embeddings", "n_positions", "seq_length", default=2048))


def has_tokenizer(folder: Path) -> bool:
    return any((folder / f).exists() for f in ("tokenizer.json", "tokenizer.model", "vocab.json"))


def materialize(spec: ModelSpec, cache_dir: Path) -> Path:
    """A folder with config.json and a tokenizer that both engines can load from.

    Local checkpoints with their own tokenizer are used in place; everything else is built once under
    `cache_dir` (keyed by the config's hash, so an edited config never reuses a stale folder).
    """
    if spec.source == "hub":
        return Path(spec.location)  # the engines resolve hub ids themselves
    if spec.source == "local" and has_tokenizer(Path(spec.location)):
        return Path(spec.location)
    config = load_config(spec)
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    folder = cache_dir.expanduser() / "models" / f"{spec.slug}-{digest}"
    if (folder / "config.json").exists() and has_tokenizer(folder):
        return folder
    from filelock import FileLock

    from ..tokenizer import build_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):  # parallel workers build it once
        if (folder / "config.json").exists() and has_tokenizer(folder):
            return folder
        if spec.source == "local":  # real weights without a tokenizer: link them beside the new tokenizer
            for item in Path(spec.location).iterdir():
                if item.name != "config.json" and not (folder / item.name).exists():
                    (folder / item.name).symlink_to(item)
        vocab_size = int(config_value(config, "vocab_size", default=32000))
        build_tokenizer(folder, vocab_size=vocab_size, max_length=max_positions(config))
        # Written last: its presence marks a finished folder.
        (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder
