"""`batchmeter-cloud serve`: registered, and refuses to start an API nobody can call."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.__main__ import build_parser, main


def test_serve_is_a_subcommand() -> None:
    args = build_parser().parse_args(["serve", "--config", "c.yaml", "--port", "0"])
    assert args.command == "serve"
    assert args.port == 0


def test_serve_without_tokens_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cloud.yaml"
    config.write_text("api:\n  port: 0\n  tokens: []\n")
    assert main(["serve", "--config", str(config)]) == 2
    assert "api.tokens" in capsys.readouterr().err
