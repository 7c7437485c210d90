"""The status page in a real headless Chromium (Debian's, driven through its chromedriver by Selenium): what a person
sees, and how it follows changes made on disk. One browser session and one sidecar process for the whole module."""

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from services.common.atomic import atomic_write_bytes
from tests.conftest import free_port, is_healthy, wait_for

from .jobs import done, failed, mark_running, queued

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1500",
)
HOSTILE = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script> not a PDF"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "status-page.png"


def write(jobs_dir, job):
    atomic_write_bytes(jobs_dir / job.job_key / "state.json", job.to_bytes())


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    data = tmp_path_factory.mktemp("page") / "data"
    jobs_dir = data / "jobs"
    for job in [
        done("a1" * 16, pages=3),
        done("a2" * 16, pages=12),
        failed("b1" * 16, "BadDocument", HOSTILE),
        failed("b2" * 16, "HTTP502", "y" * 200_000),
        queued("c1" * 16),
    ]:
        (jobs_dir / job.job_key).mkdir(parents=True)
        write(jobs_dir, job)
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(data), "ORCHESTRATOR_PORT": str(port), "SIDECAR_HOST": "127.0.0.1"}
    process = subprocess.Popen([sys.executable, "-m", "sidecar"], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: is_healthy(port), timeout_s=20, what="the sidecar")
        wait_for(lambda: _ready(port), timeout_s=20, what="the sidecar's scan")
        yield f"http://127.0.0.1:{port}", jobs_dir
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.fail(
            "chromium and chromedriver are needed: run `make test-tools` (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never try to download a driver or browser
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def _ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def tile(driver, section, label):
    """Read in one script call: the page re-renders live, so an element found first may be replaced before `.text`."""
    selector = f"#{section} .tile[data-label='{label}'] b"
    return driver.execute_script("const n = document.querySelector(arguments[0]); return n && n.textContent", selector)


def wait_until(driver, condition, timeout_s=10):
    waiting = WebDriverWait(
        driver, timeout_s, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)
    )
    return waiting.until(lambda d: condition(d))


def _click(driver, selector):
    """Find and click in one go: a live re-render may replace the button between the two (retried when stale)."""
    found = driver.find_elements(By.CSS_SELECTOR, selector)
    if not found:
        return False
    found[0].click()
    return True


def test_the_page_shows_counts_queues_latest_jobs_and_failures_escaped(sidecar, browser):
    url, _jobs_dir = sidecar
    browser.get(url + "/")
    wait_until(browser, lambda d: tile(d, "states", "DONE") == "2")
    counts = [tile(browser, "states", label) for label in ("ERROR", "QUEUED", "RUNNING", "total")]
    assert counts == ["2", "1", "0", "5"]
    assert tile(browser, "throughput", "done") == "2" and tile(browser, "throughput", "failed") == "2"
    queues = browser.find_element(By.ID, "queues").text
    assert "PREP 1 0" in queues and "OCR 0 0" in queues
    assert len(browser.find_elements(By.CSS_SELECTOR, "#latest tbody tr")) == 5
    failures = browser.find_element(By.ID, "failures").text
    assert HOSTILE in failures  # shown as the text it is
    assert browser.title == "OCR pipeline"  # nothing in it ran
    assert not browser.find_elements(By.CSS_SELECTOR, "#failures img, #failures script")
    messages = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "#failures .message")]
    assert max(len(m) for m in messages) <= 500  # the 200 kB message is cut
    wait_until(browser, lambda d: d.find_element(By.ID, "live").text == "live")


def test_changes_on_disk_show_up_without_a_reload(sidecar, browser):
    url, jobs_dir = sidecar
    browser.get(url + "/")
    wait_until(browser, lambda d: d.find_element(By.ID, "live").text == "live")
    marker = browser.execute_script("return window.performance.timeOrigin")
    job = queued("d1" * 16, name="arrived-while-watching.pdf")
    (jobs_dir / job.job_key).mkdir()
    write(jobs_dir, job)
    wait_until(browser, lambda d: tile(d, "states", "QUEUED") == "2")
    mark_running(job)
    write(jobs_dir, job)
    wait_until(browser, lambda d: tile(d, "states", "RUNNING") == "1")
    finished = failed("c1" * 16, "StageTimeout", "ocr did not answer in 3s")
    write(jobs_dir, finished)
    wait_until(browser, lambda d: "ocr did not answer in 3s" in d.find_element(By.ID, "failures").text)
    assert tile(browser, "states", "ERROR") == "3"
    assert browser.execute_script("return window.performance.timeOrigin") == marker  # the same page, never reloaded


def test_clicking_a_job_shows_its_timeline(sidecar, browser):
    url, _jobs_dir = sidecar
    browser.get(url + "/")
    wait_until(browser, lambda d: _click(d, f"#latest button.key[data-key='{'a2' * 16}']"))
    wait_until(browser, lambda d: d.find_element(By.ID, "detail").is_displayed())
    steps = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li")]
    assert len(steps) == 5 and "DONE OCR #1 - ocr done" in steps[-1] and "created" in steps[0]
    assert "prep 1.5 s" in browser.find_element(By.ID, "detail-summary").text
    if os.environ.get("UPDATE_SCREENSHOT"):
        browser.save_screenshot(str(SCREENSHOT))


def test_the_page_loads_nothing_but_its_own_files_and_never_the_job_list(sidecar, browser):
    url, _jobs_dir = sidecar
    browser.get(url + "/")
    wait_until(browser, lambda d: tile(d, "states", "total") != "")
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(name.startswith(url + "/") for name in loaded)
    paths = {name.removeprefix(url).split("?")[0] for name in loaded}
    assert paths <= {"/status.css", "/status.js", "/overview", "/events"} | {p for p in paths if p.startswith("/jobs/")}
    assert "/jobs" not in paths


def test_the_page_and_its_files_are_small_and_forbid_other_origins(sidecar):
    url, _jobs_dir = sidecar
    total = 0
    for path in ("/", "/status.js", "/status.css"):
        with urllib.request.urlopen(url + path, timeout=5) as response:
            total += len(response.read())
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert total < 20_000
    with urllib.request.urlopen(url + "/overview", timeout=5) as response:
        view = orjson.loads(response.read())
    assert view["jobs"]["total"] >= 5 and len(view["latestJobs"]) <= 15
