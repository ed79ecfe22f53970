"""Headless Debian Chromium driven through selenium and /usr/bin/chromedriver (no downloads)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)
SCREENSHOT_ENV = "BATCHMETER_SCREENSHOTS"


def _binary(*candidates: str) -> str:
    for name in candidates:
        found = shutil.which(name) or (name if os.access(name, os.X_OK) else None)
        if found:
            return found
    pytest.skip(f"{candidates[0]} not installed (scripts/test installs chromium and chromedriver)")


@contextmanager
def chromium(profile_dir: Path) -> Iterator[webdriver.Chrome]:
    """A fresh headless browser with its own profile; quit (and its processes gone) afterwards."""
    options = Options()
    options.binary_location = _binary("/usr/bin/chromium", "chromium")
    for flag in (*FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    service = Service(executable_path=_binary("/usr/bin/chromedriver", "chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot_dir(default: Path) -> Path:
    folder = Path(os.environ.get(SCREENSHOT_ENV) or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def full_page_screenshot(driver: webdriver.Chrome, path: Path) -> Path:
    """The whole page, not just the viewport: grow the window to the document first."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1400, max(800, min(height + 40, 6000)))
    driver.save_screenshot(str(path))
    return path
