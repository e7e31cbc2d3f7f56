"""Fixtures for the headless-browser tests of `nuri serve` (issue 3, "Browser").

Reuses the integration tests' `nuri` fixture (the real binary from $NURI_BIN, with its fd-leak
and clean-exit checks at teardown) and their per-test timeout, and adds `browser`: a headless
Debian Chromium driven through chromedriver by Selenium, with a fresh profile for each test.

Without /usr/bin/chromium the tests skip, unless NURI_REQUIRE_BROWSER is set (run-tests.sh sets
it): then they fail, so that CI cannot pass by skipping.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(INTEGRATION))


def _load_integration_fixtures():
    # Loaded under its own name: every conftest.py is "conftest" to pytest.
    spec = importlib.util.spec_from_file_location("nuri_integration_conftest",
                                                  INTEGRATION / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_integration = _load_integration_fixtures()
nuri = _integration.nuri
_per_test_timeout = _integration._per_test_timeout  # autouse there, so autouse here too

from nuri_helpers import REPO_ROOT  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO_ROOT / "build" / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-proxy-server", "--window-size=1280,900",
]


def _require_browser():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401  (only whether it is there)
    except ImportError:
        missing.append("python3-selenium")
    if not missing:
        return
    fix = "install chromium chromium-driver python3-selenium (scripts/install-deps.sh)"
    if CHROMIUM.exists() or os.environ.get("NURI_REQUIRE_BROWSER"):
        pytest.fail(f"browser tests cannot run, missing: {', '.join(missing)}; {fix}",
                    pytrace=False)
    pytest.skip(f"no headless browser: {CHROMIUM} is missing ({fix}; set NURI_REQUIRE_BROWSER=1 "
                "to fail instead of skipping)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


@pytest.fixture
def browser(request, nuri, tmp_path):
    """A headless Chromium (a Selenium WebDriver) with a fresh profile.

    It depends on `nuri` so that it quits first: Chromium's pooled keep-alive connections are
    closed before the nuri fixture checks that the server is back to its baseline fds. When the
    test fails, the page it was on is saved as build/test-artifacts/<test>-failure.png.
    """
    _require_browser()
    (ARTIFACTS / f"{request.node.name}-failure.png").unlink(missing_ok=True)  # a stale one
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.ignore_local_proxy_environment_variables()
    service = Service(str(CHROMEDRIVER),
                      service_args=[f"--log-path={tmp_path / 'chromedriver.log'}"])
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)
    try:
        yield driver
        call = getattr(request.node, "rep_call", None)
        if call is not None and call.failed:
            try:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(ARTIFACTS / f"{request.node.name}-failure.png"))
            except Exception:  # the failure itself is what matters
                pass
    finally:
        driver.quit()


@pytest.fixture
def screenshot(request, browser):
    """screenshot(suffix=''): saves the page as build/test-artifacts/<test>[-suffix].png."""
    def save(suffix: str = "") -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}{'-' + suffix if suffix else ''}.png"
        assert browser.save_screenshot(str(path)), f"could not save {path}"
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, f"bad screenshot {path}"
        return path
    return save
