"""Headless Chromium driven by Selenium for the console tests: the browser, its JavaScript errors,
and the page checks every console page must pass (labels, focus, no sideways scrolling).

Chromium and chromedriver are Debian's (``/usr/bin/chromium``, ``/usr/bin/chromedriver``); .ci/run
installs them. Without them the tests are skipped, saying why, except under CI (``CI=true``),
where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

CHROMIUM = os.environ.get("CLOUDSTATE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CLOUDSTATE_CHROMEDRIVER", "/usr/bin/chromedriver")

DESKTOP = (1280, 800)
PHONE = (375, 667)

T = TypeVar("T")


def require_chromium() -> None:
    """Skip (or fail under CI) when the browser or its driver is missing."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        reason = (
            f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver; "
            ".ci/run does)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def start_browser(size: tuple[int, int] = DESKTOP) -> Any:
    """A headless Chromium whose console log (every level) is kept for :func:`js_errors`."""
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        f"--window-size={size[0]},{size[1]}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    return driver


@contextlib.contextmanager
def open_browser(size: tuple[int, int] = DESKTOP) -> Iterator[Any]:
    """:func:`start_browser`, quit at the end; a JavaScript error logged by then fails."""
    driver = start_browser(size)
    try:
        yield driver
        assert js_errors(driver) == [], "JavaScript errors in the browser's log"
    finally:
        driver.quit()


def js_errors(driver: Any) -> list[str]:
    """The JavaScript errors logged since the last call (uncaught exceptions, console.error,
    CSP violations). Failed HTTP responses the page expects and shows (401 without a token, 404
    for an operation this proxy lacks) are logged by Chromium as network entries: not errors."""
    errors = []
    for entry in driver.get_log("browser"):
        if entry.get("level") != "SEVERE":
            continue
        if entry.get("source") == "network" or "Failed to load resource" in entry["message"]:
            continue
        errors.append(entry["message"])
    return errors


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 20.0) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # the page is re-rendering: try again
            last = error
        time.sleep(0.1)
    raise AssertionError(
        f"timed out waiting for {what}" + (f" (last error: {last})" if last else "")
    )


UNLABELLED = """
return [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && !e.labels.length && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML.slice(0, 120));
"""

NOT_BUTTONS = """
return [...document.querySelectorAll('[onclick], [role=button], a:not([href])')]
  .map(e => e.outerHTML.slice(0, 120));
"""

SIDEWAYS = "return document.documentElement.scrollWidth - window.innerWidth;"


def check_page(driver: Any, page: str) -> None:
    """Every form field has a label, every action is a button or a link, nothing makes the
    page scroll sideways (wide tables scroll inside their own region), no JavaScript error."""
    assert driver.execute_script(UNLABELLED) == [], f"{page}: form fields without a label"
    assert driver.execute_script(NOT_BUTTONS) == [], f"{page}: clickable elements not buttons"
    overflow = driver.execute_script(SIDEWAYS)
    assert overflow <= 0, f"{page}: the page is {overflow}px wider than the window"
    assert js_errors(driver) == [], f"{page}: JavaScript errors"


def screenshot(driver: Any, directory: Path, name: str, docs: Path | None = None) -> Path:
    """A PNG of the whole page into ``directory`` (and ``docs`` when given)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    size = driver.get_window_size()
    width, window_height = size["width"], size["height"]
    driver.set_window_size(width, max(window_height, min(height + 120, 2400)))
    driver.execute_script("window.scrollTo(0, 0)")
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(width, window_height)
    if docs is not None:
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, docs / path.name)
    return path
