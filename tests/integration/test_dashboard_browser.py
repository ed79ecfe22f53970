"""The dashboard in real headless Chromium over `batchmeter-cloud serve` and a real InfluxDB.

Screenshots of every page go to $BATCHMETER_SCREENSHOTS, or the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from cloud.web.layout import fmt, pct
from tests.browser.chromium import chromium, full_page_screenshot, screenshot_dir
from tests.browser.serving import Served, served
from tests.servers import InfluxDB

pytestmark = pytest.mark.integration


@pytest.fixture
def server(influxdb: InfluxDB, tmp_path: Path) -> Iterator[Served]:
    with served(influxdb, tmp_path) as running:
        yield running


@pytest.fixture
def browser(server: Served, tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(tmp_path / "chromium-profile") as driver:
        driver.get(f"{server.url}/login")
        driver.find_element(By.ID, "token").send_keys(server.token)
        driver.find_element(By.ID, "login").click()
        _wait_for(driver, "#batches")
        yield driver


def _wait_for(driver: WebDriver, css: str) -> None:
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, css), f"{css} on the page")


def _table_ids(driver: WebDriver) -> list[str]:
    # read in one script: rows found one call and read in the next go stale when the table
    # re-renders between the two (seen once in CI)
    ids = driver.execute_script(
        "return Array.from(document.querySelectorAll('#batches tbody tr'),"
        " row => row.getAttribute('data-batch') || '')")
    return [str(i) for i in ids]


def test_batch_table_shows_sorts_and_filters_the_batches(
    server: Served, browser: WebDriver, tmp_path: Path
) -> None:
    assert _table_ids(browser) == [r.batch_id for r in server.results]
    full_page_screenshot(browser, screenshot_dir(tmp_path / "screenshots") / "batches.png")

    browser.find_element(By.LINK_TEXT, "Line kWh").click()
    by_energy = sorted(server.results, key=lambda r: (r.energy_kwh, r.batch_id), reverse=True)
    expected = [r.batch_id for r in by_energy]
    WebDriverWait(browser, 20).until(lambda d: _table_ids(d) == expected, "rows sorted by kWh, largest first")

    Select(browser.find_element(By.NAME, "line")).select_by_visible_text("L2")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, 20).until(lambda d: _table_ids(d) == ["B-002"], "only line L2's batch")

    browser.find_element(By.CSS_SELECTOR, "header form button").click()
    _wait_for(browser, "#token")
    browser.get(f"{server.url}/batches/B-001")
    _wait_for(browser, "#token")
    assert not browser.find_elements(By.CSS_SELECTOR, "#summary"), "logged out: no batch data"


def test_batch_page_shows_its_chart_and_the_apis_numbers(
    server: Served, browser: WebDriver, tmp_path: Path
) -> None:
    shots = screenshot_dir(tmp_path / "screenshots")
    browser.find_element(By.LINK_TEXT, "B-001").click()
    _wait_for(browser, "#power-curve svg")
    api = server.get("/api/batches/B-001").json()
    lines = browser.find_elements(By.CSS_SELECTOR, "#power-curve polyline.series")
    assert {line.get_attribute("data-series") for line in lines} == set(api["energy_by_meter_kwh"])
    assert all(len((line.get_attribute("points") or "").split()) > 10 for line in lines)
    for cell in browser.find_elements(By.CSS_SELECTOR, "#summary td[data-field]"):
        field, shown = cell.get_attribute("data-field") or "", cell.text
        assert float(cell.get_attribute("data-value") or "nan") == api[field], field
        assert shown in (fmt(api[field], 0), fmt(api[field], 3), fmt(api[field], 4), pct(api[field])), field
    bars = browser.find_elements(By.CSS_SELECTOR, "#scrap-destination rect.bar")
    assert {b.get_attribute("data-label"): float(b.get_attribute("data-value") or 0) for b in bars} == (
        api["scrap_by_destination_kg"]
    )
    full_page_screenshot(browser, shots / "batch.png")

    browser.find_element(By.CSS_SELECTOR, "dl a[href^='/products/']").click()
    _wait_for(browser, "#specific-energy svg polyline")
    product_rows = browser.find_elements(By.CSS_SELECTOR, "#product-batches tbody tr")
    assert len(product_rows) == sum(1 for r in server.results if r.product == "CELL-A")
    full_page_screenshot(browser, shots / "product.png")

    browser.get(f"{server.url}/plant?month=2026-11")
    _wait_for(browser, "#tier")
    status = server.get("/api/zero-waste?month=2026-11").json()
    assert browser.find_element(By.ID, "tier").text == status["tier"] == "Gold"
    assert browser.find_element(By.ID, "rate").text == pct(status["rate"])
    full_page_screenshot(browser, shots / "plant.png")
