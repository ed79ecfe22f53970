"""Hostile YAML is rejected with a ConfigError, or read as the person typing it meant.

A config file is input like any other: it may come from a copy-paste, a template gone
wrong or an attacker with write access to one directory. The loader must never run code,
never blow up memory or the stack, and never turn `NO` (Norway), `on` or `0755` into
something else behind the user's back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from config.gateway import Gateway
from config.loader import MAX_CONFIG_BYTES, MAX_EXPANDED_NODES, ConfigError, load_file, load_text

pytestmark = pytest.mark.faults


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    flag: bool = False
    mode: int = 0
    items: list[str] = []


GATEWAY = """\
site: {site}
gateway: gw-1
mqtt:
  host: 127.0.0.1
  password: {password}
connections:
  bus: {{type: tcp, host: 127.0.0.1, port: 5020}}
devices:
  - {{id: m1, connection: bus, unit: 1, profile: sdm630}}
"""


@pytest.mark.parametrize(
    "text",
    [
        "name: !!python/object/apply:os.system ['touch {marker}']",
        "name: !!python/object:pathlib.Path {{}}",
        "name: !!python/name:os.system",
        "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    ],
)
def test_python_tags_are_refused_and_run_nothing(text: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_text(Settings, text.format(marker=marker))
    assert not marker.exists()


def test_a_file_over_the_size_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"name: x\n" + b"# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match="larger than"):
        load_file(Settings, path)


def test_an_alias_bomb_is_refused() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(ConfigError, match=f"over {MAX_EXPANDED_NODES} nodes"):
        load_text(Settings, "\n".join(lines))


def test_deep_nesting_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        load_text(Settings, "items: " + "[" * 5000 + "]" * 5000)


def test_a_duplicate_key_is_refused_naming_its_line() -> None:
    with pytest.raises(ConfigError, match=r"line 3: duplicate key 'name'"):
        load_text(Settings, "name: a\nflag: true\nname: b\n")


def test_yaml11_booleans_and_octals_stay_as_typed() -> None:
    settings = load_text(Settings, "name: NO\nitems: [on, off, yes, no, Y, n, '0755', 0755, 12:30]\n")
    assert settings.name == "NO"
    assert settings.items == ["on", "off", "yes", "no", "Y", "n", "0755", "0755", "12:30"]


def test_a_leading_zero_integer_is_decimal_never_octal() -> None:
    assert load_text(Settings, "mode: 0755").mode == 755
    assert load_text(Settings, "mode: 0o755").mode == 0o755


def test_a_bool_field_takes_only_what_pydantic_reads_as_bool() -> None:
    assert load_text(Settings, "flag: on").flag is True
    with pytest.raises(ConfigError, match=r"line 1, key flag"):
        load_text(Settings, "flag: maybe")


def test_a_date_looking_string_is_refused_with_its_place_not_silently_converted() -> None:
    with pytest.raises(ConfigError, match=r"line 2, key name"):
        load_text(Settings, "flag: true\nname: 2024-01-01\n")


@pytest.mark.parametrize(("site", "password"), [("NO", "on"), ("ON", "0755"), ("no", "'123456'")])
def test_gateway_ids_and_passwords_are_read_verbatim(site: str, password: str) -> None:
    gateway = load_text(Gateway, GATEWAY.format(site=site, password=password))
    assert gateway.site == site
    assert gateway.mqtt.password == password.strip("'")


def test_a_numeric_password_is_refused_not_mangled() -> None:
    with pytest.raises(ConfigError, match=r"line 5, key mqtt.password"):
        load_text(Gateway, GATEWAY.format(site="s", password="0x1F"))


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: Gr\u00fcn\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_file(Settings, path)
