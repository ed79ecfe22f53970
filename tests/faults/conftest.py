"""Fault tier fixtures: figures per scenario, rendered into docs/reliability.md at session end."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

from tests.faults.figures import FigureFile, render

_FIGURES = pytest.StashKey[FigureFile]()
_OUTCOMES = pytest.StashKey[dict[str, str]]()

Record = Callable[..., None]


@pytest.fixture(scope="session")
def figure_file(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> FigureFile:
    store = FigureFile(tmp_path_factory.mktemp("figures") / "figures.jsonl")
    pytestconfig.stash[_FIGURES] = store
    return store


@pytest.fixture
def figures(figure_file: FigureFile, request: pytest.FixtureRequest) -> Record:
    """`figures(scenario, {figure: value}, note="")` records one scenario's table."""

    def record(scenario: str, values: dict[str, Any], note: str = "") -> None:
        figure_file.record(scenario, values, request.node.nodeid, note)

    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = "xfail" if hasattr(report, "wasxfail") else report.outcome
        item.config.stash.setdefault(_OUTCOMES, {})[item.nodeid] = outcome
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Render the page only when scenarios of this tier ran and recorded figures."""
    store = session.config.stash.get(_FIGURES, None)
    if store is None:
        return
    entries = store.entries()
    if not entries:
        return
    outcomes = session.config.stash.get(_OUTCOMES, {})
    for entry in entries:
        entry["outcome"] = outcomes.get(entry["node"], "unknown")
    render(entries)


