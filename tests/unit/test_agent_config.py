"""Gateway config: the example loads, errors name file, key and line; payloads match the wire."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.__main__ import main, probe_table
from agent.payload import readings_payload
from agent.poller import Polled
from config.gateway import load_gateway
from config.loader import ConfigError
from config.wire import Quality, ReadingsMessage

EXAMPLE = Path(__file__).parents[2] / "config" / "examples" / "gateway.yaml"


def test_the_example_config_loads_with_its_profiles() -> None:
    gateway, profiles = load_gateway(EXAMPLE)
    assert {d.id for d in gateway.devices} == set(profiles)
    assert gateway.connections["coating-bus"].type == "rtu"


def test_an_error_names_file_key_and_line(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("poll_interval: 5.0", "poll_intervall: 5.0")
    path = tmp_path / "gw.yaml"
    path.write_text(text)
    line = text.splitlines().index(next(x for x in text.splitlines() if "poll_intervall" in x)) + 1
    with pytest.raises(ConfigError) as info:
        load_gateway(path)
    message = str(info.value)
    assert str(path) in message
    assert f"line {line}" in message
    assert "devices.4.poll_intervall" in message


def test_unknown_connection_and_profile_are_named(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(EXAMPLE.read_text().replace("connection: hvac-gateway", "connection: nowhere"))
    with pytest.raises(ConfigError, match="nowhere"):
        load_gateway(path)
    path.write_text(EXAMPLE.read_text().replace("profile: iem3000", "profile: nosuchmeter"))
    line = 1 + next(i for i, x in enumerate(EXAMPLE.read_text().splitlines()) if "profile: iem3000" in x)
    with pytest.raises(ConfigError, match=rf"line {line}, key devices\.4\.profile"):
        load_gateway(path)


def test_cli_config_error_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("site: a\n")
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert str(path) in err
    assert "gateway" in err


def test_schema_command_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert '"connections"' in capsys.readouterr().out


def test_readings_payload_validates_against_the_wire_model() -> None:
    polled = [Polled("m1", 1000, {"power_w": 1.5, "line_state": "running"}),
              Polled("m2", 1001, {}, error="exception:2"),
              Polled("m3", 1002, {"power_w": 2.0}, stale=True)]
    message = ReadingsMessage.model_validate_json(readings_payload("s", "g", 7, polled))
    assert message.seq == 7
    assert [r.quality for r in message.readings] == [Quality.OK, Quality.ERROR, Quality.STALE]
    assert message.readings[1].values == {}
    assert message.readings[1].error == "exception:2"


def test_probe_shows_both_numberings_and_word_orders() -> None:
    table = "\n".join(probe_table(0x48, [0x4499, 0x5000]))
    assert "72" in table
    assert "73" in table
    assert "f32 @ 72" in table
    assert "ABCD=1226.5" in table
