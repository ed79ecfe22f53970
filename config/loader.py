"""Load YAML config files into pydantic models with errors that name file, key path and line.

Only safe YAML is read. The resolver follows YAML 1.2's core schema for scalars, so
`on`, `no`, `yes` stay strings (not booleans) and `0755` stays the decimal 755-looking
string it was typed as instead of turning into an octal number behind the user's back.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_EXPANDED_NODES = 200_000

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A config file could not be read as the model it declares; the message says where and why."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + ("\n  " if len(problems) > 1 else "") + "\n  ".join(problems))


class _CoreSchemaLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and duplicate keys refused."""


_YAML11_NUMBERS_AND_BOOLS = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_CoreSchemaLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag not in _YAML11_NUMBERS_AND_BOOLS]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_CoreSchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CoreSchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|0o[0-7_]+)$"),
    list("-+0123456789"),
)
_CoreSchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9_]*)\.[0-9_]*)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?(?:0|[1-9][0-9_]*)[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text, 10)


_CoreSchemaLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _line_map(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_map(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, (*path, index), out)


def _check_structure(node: yaml.Node, source: str) -> None:
    """Refuse duplicate keys and alias bombs before anything is constructed."""
    seen: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        if id(n) in seen:
            return seen[id(n)]
        total = 1
        if isinstance(n, yaml.MappingNode):
            keys: set[Any] = set()
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in keys:
                        raise ConfigError(
                            source, [f"line {k.start_mark.line + 1}: duplicate key {k.value!r}"]
                        )
                    keys.add(k.value)
                total += size(k) + size(v)
        elif isinstance(n, yaml.SequenceNode):
            total += sum(size(item) for item in n.value)
        seen[id(n)] = total
        if total > MAX_EXPANDED_NODES:
            raise ConfigError(source, [f"document expands to over {MAX_EXPANDED_NODES} nodes"])
        return total

    size(node)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML text safely; return the data and a map from key path to line number."""
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise ConfigError(source, [f"file is larger than {MAX_CONFIG_BYTES} bytes"])
    try:
        node = yaml.compose(text, Loader=_CoreSchemaLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from exc
    except RecursionError:
        raise ConfigError(source, ["nested too deeply to be a config file"]) from None
    if node is None:
        return {}, {}
    lines: dict[tuple[Any, ...], int] = {}
    try:
        _check_structure(node, source)
        _line_map(node, (), lines)
    except RecursionError:
        raise ConfigError(source, ["nested too deeply to be a config file"]) from None
    try:
        data = yaml.load(text, Loader=_CoreSchemaLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from exc
    return data, lines


def _nearest_line(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for cut in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:cut]))
        if line is not None:
            return line
    return None


def describe_validation_error(
    exc: ValidationError, source: str, lines: dict[tuple[Any, ...], int]
) -> ConfigError:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = _nearest_line(loc, lines)
        where = f"line {line}, " if line is not None else ""
        detail = err["msg"]
        if err["type"] == "extra_forbidden":
            detail = "unknown key (typo?)"
        elif "input" in err and err["type"] != "missing":
            detail += f" (got {err['input']!r})"
        problems.append(f"{where}key {key}: {detail}")
    return ConfigError(source, problems)


def load_model(model: type[M], data: Any, lines: dict[tuple[Any, ...], int], source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise describe_validation_error(exc, source, lines) from None


def load_text(model: type[M], text: str, source: str = "<string>") -> M:
    data, lines = parse_yaml(text, source)
    return load_model(model, data, lines, source)


def load_file(model: type[M], path: str | Path) -> M:
    """Read one YAML config file into `model`; raise ConfigError naming file, key and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(str(path), [f"file is larger than {MAX_CONFIG_BYTES} bytes"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text: {exc}"]) from exc
    return load_text(model, text, str(path))
