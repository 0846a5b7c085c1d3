"""A real headless Chromium for the report and serve tests (Debian's chromium + chromium-driver).

Selenium drives it through the system chromedriver, so nothing is downloaded ('make
test' installs both packages).  Without them the tests that need a browser skip with
the reason; CI installs them, so there they run.  The flags are the ones known to work
on these machines: no sandbox as root, no GPU, and nothing that phones home (the
network is closed and Chromium would otherwise keep retrying).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
         "--window-size=1280,1600")


def missing() -> str | None:
    """Why no browser can be started here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing: install Debian's {package} ('make test' does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is missing: pip install -e '.[test]'"
    return None


@contextmanager
def chromium(*extra_flags: str) -> Iterator["WebDriver"]:  # noqa: F821 — selenium's type, imported lazily
    """A fresh headless Chromium; ``extra_flags`` such as --ignore-certificate-errors for a test server's
    self-signed certificate."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium Manager must not phone home
    profile = tempfile.mkdtemp(prefix="coach-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS + extra_flags:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    """Console messages at SEVERE level since the last call (errors, failed loads, CSP violations)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
