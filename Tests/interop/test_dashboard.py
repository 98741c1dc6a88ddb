"""The owner's dashboard (issue 15, point 1) in real headless Chromium (Debian's chromium +
chromium-driver, through selenium), on a phone-sized and a desktop viewport: signed in with the
account password (the same browser session as /account), it must show numbers that match what
XRPC says (records per collection, blobs, the DID and handle, the DID document checks against the
PLC stand-in, the live firehose subscriber, the relay stand-in's answer to requestCrawl, and the
writes and errors of the last 24 hours). Screenshots go to Tests/interop/artifacts/ (kept by CI).
"""

import os
import re
import shutil
import time
from pathlib import Path

import pytest
import requests

from network_server import TIMEOUT, assert_ok, start_pds
from repo_check import FirehoseRecorder
from standins import Network

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 30
HANDLE = "owner.test"
VIEWPORTS = {"phone": (390, 2600), "desktop": (1366, 1400)}


@pytest.fixture(scope="module")
def net():
    with Network() as network:
        yield network


@pytest.fixture(scope="module")
def pds(net, tmp_path_factory):
    with start_pds(tmp_path_factory.mktemp("pds-dashboard"), HANDLE, env=net.env()) as server:
        yield server


@pytest.fixture(scope="module")
def activity(pds):
    """Writes and one refused request, counted here as XRPC answered them."""
    token = pds.create_session()["accessJwt"]
    writes = 0
    for index in range(3):
        assert_ok(pds.post("com.atproto.repo.createRecord", {"repo": pds.did, "collection": "app.bsky.feed.post", "record": {
            "$type": "app.bsky.feed.post", "text": f"post {index} <b>&</b>", "createdAt": "2026-01-01T00:00:00.000Z"}},
            token=token), "createRecord")
        writes += 1
    blob = assert_ok(pds.post("com.atproto.repo.uploadBlob", data=os.urandom(300), token=token,
                              headers={"Content-Type": "application/octet-stream"}), "uploadBlob")["blob"]
    writes += 1
    for index in range(2):
        assert_ok(pds.post("com.atproto.repo.createRecord", {"repo": pds.did, "collection": "com.example.attachment",
                                                              "record": {"$type": "com.example.attachment", "file": blob, "n": index}}, token=token), "createRecord")
        writes += 1
    missing = pds.get("com.atproto.repo.getRecord", {"repo": pds.did, "collection": "app.bsky.feed.post", "rkey": "3zzzzzzzzzzzz"})
    assert missing.status_code == 400, missing.text
    return {"writes": writes, "errors": 1}


def xrpc_state(pds):
    counts = {}
    for collection in assert_ok(pds.get("com.atproto.repo.describeRepo", {"repo": pds.did}), "describeRepo")["collections"]:
        listed = assert_ok(pds.get("com.atproto.repo.listRecords", {"repo": pds.did, "collection": collection, "limit": 100}),
                           "listRecords")
        counts[collection] = len(listed["records"])
    blobs = assert_ok(pds.get("com.atproto.sync.listBlobs", {"did": pds.did}), "listBlobs")["cids"]
    return counts, blobs


@pytest.fixture(params=sorted(VIEWPORTS))
def browser(request):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromium-driver are required (apt-get install chromium chromium-driver)")
        pytest.skip("chromium / chromium-driver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    width, height = VIEWPORTS[request.param]
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # Headless Chromium will not make a window narrower than ~500 px: the phone is emulated.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": request.param == "phone"})
    driver.set_page_load_timeout(WAIT)
    driver.viewport = request.param
    yield driver
    driver.quit()


def sign_in(driver, pds):
    from selenium.webdriver.common.by import By
    driver.get(pds.url + "/dashboard")
    assert driver.find_elements(By.ID, "did") == [], "the dashboard showed before sign-in"
    driver.find_element(By.ID, "identifier").send_keys(pds.handle)
    driver.find_element(By.ID, "password").send_keys(pds.password)
    driver.find_element(By.ID, "sign-in").click()
    wait_until(lambda: driver.find_elements(By.ID, "did"), "the dashboard after sign-in")


def wait_until(condition, what, seconds=WAIT):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def text(driver, element_id):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.ID, element_id).text.strip()


def test_dashboard_shows_the_xrpc_state(pds, net, activity, browser):
    from selenium.webdriver.common.by import By
    counts, blobs = xrpc_state(pds)
    with FirehoseRecorder(pds.url) as firehose:
        sign_in(browser, pds)

        def fresh(check):
            browser.refresh()
            return check()

        # The live subscriber and the relay's answer arrive asynchronously: reload until they show.
        wait_until(lambda: fresh(lambda: text(browser, "firehose-subscribers") == "1"), "one firehose subscriber")
        relay_cell = wait_until(lambda: fresh(lambda: [row for row in browser.find_elements(By.CSS_SELECTOR, "tr.relay")
                                                       if "HTTP" in row.text]), "the relay's answer")
        assert firehose.errors == []
    assert net.relay.url in relay_cell[0].text and "HTTP 200" in relay_cell[0].text, relay_cell[0].text
    assert net.relay.crawl_requests, "the relay stand-in received no requestCrawl"

    assert text(browser, "did") == pds.did
    assert text(browser, "handle") == HANDLE
    for check in ("identity-handle", "identity-pds-endpoint", "identity-signing-key"):
        assert text(browser, check).startswith("✓"), f"{check}: {text(browser, check)}"
    shown = {cell.get_attribute("data-collection"): int(cell.text)
             for cell in browser.find_elements(By.CSS_SELECTOR, "#collections td[data-collection]")}
    assert shown == counts, f"dashboard {shown} != listRecords {counts}"
    assert int(text(browser, "records-total")) == sum(counts.values())
    assert int(text(browser, "blobs-count")) == len(blobs) == 1
    assert int(text(browser, "total-writes")) == activity["writes"]
    assert int(text(browser, "total-errors")) >= activity["errors"]
    assert int(text(browser, "total-requests")) > activity["writes"] + activity["errors"]
    chart = browser.find_element(By.ID, "chart-writes")
    assert int(chart.get_attribute("data-total")) == activity["writes"]
    assert chart.size["width"] > 100, "the writes chart is not drawn"
    for element_id in ("database-size", "wal-size", "disk-free", "tls-mode", "mirror-state", "replication"):
        assert text(browser, element_id), f"{element_id} is empty"
    assert browser.execute_script("return window.innerWidth") == VIEWPORTS[browser.viewport][0]
    # Nothing overflows the viewport sideways (the phone layout stacks the sections).
    overflow = browser.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than the {browser.viewport} viewport"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"dashboard-{browser.viewport}.png"))


def test_dashboard_needs_the_owners_session_and_is_the_accounts(pds):
    http = requests.Session()
    http.trust_env = False
    page = http.get(pds.url + "/dashboard", timeout=TIMEOUT)
    assert page.status_code == 200 and 'id="sign-in"' in page.text and pds.did not in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and page.headers["X-Frame-Options"] == "DENY"
    # Signing in on /account opens the same session the dashboard takes.
    form = http.get(pds.url + "/account", timeout=TIMEOUT)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    signed = http.post(pds.url + "/account", data={"csrf": csrf, "action": "signin", "identifier": HANDLE,
                                                   "password": pds.password}, allow_redirects=False, timeout=TIMEOUT)
    assert signed.status_code == 303, signed.text[:300]
    page = http.get(pds.url + "/dashboard", timeout=TIMEOUT)
    assert page.status_code == 200 and f'id="did">{pds.did}<' in page.text
    assert "<script" not in page.text and page.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in page.headers
    # A wrong password shows the form again, refused.
    fresh = requests.Session()
    fresh.trust_env = False
    form = fresh.get(pds.url + "/dashboard", timeout=TIMEOUT)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    refused = fresh.post(pds.url + "/dashboard", data={"csrf": csrf, "action": "signin", "identifier": HANDLE,
                                                       "password": "wrong"}, allow_redirects=False, timeout=TIMEOUT)
    assert refused.status_code == 401 and pds.did not in refused.text


def test_public_root_stays_a_short_page_about_the_server(pds):
    page = requests.get(pds.url + "/", timeout=TIMEOUT)
    assert page.status_code == 200
    assert "AT Protocol Personal Data Server" in page.text and len(page.text) < 2000
    assert pds.did not in page.text
