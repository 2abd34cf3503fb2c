"""Headless Chromium for browser tests: Debian's `chromium` and `chromium-driver`, driven by Selenium.

The packages are installed on first use when missing (tests/support/apt.py: as root, with
apt-get, one process at a time). Selenium is given the driver's path, so Selenium Manager never
tries to download one.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import (
    element_to_be_clickable,
    invisibility_of_element_located,
    visibility_of_element_located,
)
from selenium.webdriver.support.wait import WebDriverWait

from support import apt

PACKAGES = ("chromium", "chromium-driver")
# Debian's names first; a hosted CI runner (GitHub's Ubuntu images) ships Google Chrome and its driver.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVER_NAMES = ("chromedriver",)
WINDOW_SIZE = (1400, 1000)


class BrowserUnavailable(apt.AptUnavailable):
    """Chromium or its driver is missing and could not be installed."""


def _which(names: tuple[str, ...]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


def _found() -> tuple[str, str] | None:
    browser, driver = _which(BROWSER_NAMES), _which(DRIVER_NAMES)
    return (browser, driver) if browser and driver else None


def ensure_chromium() -> tuple[str, str]:
    """(browser, driver) paths, installing Debian's packages first when either is missing."""
    try:
        return apt.ensure(PACKAGES, _found)
    except apt.AptUnavailable as error:
        raise BrowserUnavailable(str(error)) from error


def headless_chrome(browser: str, driver: str) -> webdriver.Chrome:
    """A headless Chromium fit for a root user in a container (no sandbox, no /dev/shm, no GPU)."""
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}")
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


@dataclass(frozen=True)
class LiveResponse:
    """What Swagger UI shows under "Server response" after "Execute"."""

    status: int
    documented: bool  # the document lists this status for the operation
    body: str
    request_url: str


class SwaggerUI:
    """Swagger UI's page at /docs, driven as a person would: clicks and typing (a script only
    scrolls the live response into view, for the screenshot)."""

    def __init__(self, driver: webdriver.Chrome, gateway_url: str, wait_seconds: float = 20) -> None:
        self.driver = driver
        self.url = f"{gateway_url}/docs"
        self.wait = WebDriverWait(driver, wait_seconds)

    def open(self) -> None:
        """Load the page and wait until the document has rendered as operations grouped by tag."""
        self.driver.get(self.url)
        self.wait.until(
            lambda d: (
                d.find_elements(By.CSS_SELECTOR, "h3.opblock-tag")
                or d.find_elements(By.CSS_SELECTOR, ".swagger-ui .errors-wrapper")
            ),
            message=f"Swagger UI did not render {self.url}",
        )
        errors = self.driver.find_elements(By.CSS_SELECTOR, ".swagger-ui .errors-wrapper")
        assert not errors, f"Swagger UI shows errors: {errors[0].text}"

    def listed_tags(self) -> list[str]:
        """The tag headings on the page that a person can see."""
        headings = self.driver.find_elements(By.CSS_SELECTOR, "h3.opblock-tag")
        return [str(h.get_attribute("data-tag")) for h in headings if h.is_displayed()]

    def authorize(self, token: str) -> None:
        """Authorize (top of the page) -> type the bearer token -> Authorize -> Close."""
        self._click(By.CSS_SELECTOR, ".auth-wrapper button.authorize")
        dialog = self.wait.until(visibility_of_element_located((By.CSS_SELECTOR, ".dialog-ux .modal-ux")))
        dialog.find_element(By.ID, "auth-bearer-value").send_keys(token)
        dialog.find_element(By.CSS_SELECTOR, "button.authorize[type=submit]").click()
        # Once authorized, the dialog says so and shows the value masked.
        authorized = "//div[contains(@class, 'modal-ux')]//h6[normalize-space() = 'Authorized']"
        self.wait.until(visibility_of_element_located((By.XPATH, authorized)), message="not authorized")
        dialog.find_element(By.CSS_SELECTOR, "button.btn-done").click()
        self.wait.until(invisibility_of_element_located((By.CSS_SELECTOR, ".dialog-ux")))

    def try_it_out(self, tag: str, operation_id: str) -> LiveResponse:
        """Expand the operation, "Try it out", "Execute" with its defaults, and read the live response."""
        block = f"#operations-{tag}-{operation_id}"
        self._click(By.CSS_SELECTOR, f"{block} .opblock-summary-control")
        self._click(By.CSS_SELECTOR, f"{block} button.try-out__btn")
        self._click(By.CSS_SELECTOR, f"{block} button.execute")
        live = f"{block} .live-responses-table"
        status = self.wait.until(
            visibility_of_element_located((By.CSS_SELECTOR, f"{live} tbody .response-col_status")),
            message=f"no live response for {operation_id}",
        )
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", status)
        bodies = self.driver.find_elements(
            By.CSS_SELECTOR, f"{live} tbody .response-col_description .highlight-code pre"
        )
        request_url = self.driver.find_element(By.CSS_SELECTOR, f"{block} .request-url pre").text
        # The cell reads "200", or "200\nUndocumented" for a status the document does not list.
        code, *undocumented = status.text.split()
        return LiveResponse(int(code), not undocumented, bodies[0].text if bodies else "", request_url)

    def save_screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.driver.save_screenshot(str(path)):
            raise OSError(f"could not write the screenshot {path}")
        return path

    def _click(self, by: str, selector: str) -> None:
        self.wait.until(element_to_be_clickable((by, selector))).click()
