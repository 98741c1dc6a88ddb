"""OAuth end to end with an independent client library (requests-oauth2client, which makes its own
PKCE, PAR, DPoP proofs with nonce retries, and private_key_jwt assertions) driving real headless
Chromium (Debian's chromium + chromium-driver, through selenium) through the sign-in and consent
pages: discovery → PAR → consent → code → token → DPoP createRecord → refresh → revoke → refresh
refused, for a public and a confidential client, and the account page's revoke in the browser.
Screenshots go to Tests/interop/artifacts/ (kept by CI, ignored by git).
"""

import os
import shutil
import time
from pathlib import Path

import pytest
import requests
from requests_oauth2client import DPoPToken, OAuth2Client, PrivateKeyJwt
from requests_oauth2client.exceptions import InvalidGrant

from oauth_support import ClientSite, approve_with_forms, new_key, public_jwk

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 30


@pytest.fixture(scope="module")
def site():
    site = ClientSite()
    yield site
    site.close()


@pytest.fixture(scope="module")
def issuer(server):
    # Discovery as a client does it: the resource's metadata names its authorization server.
    resource = requests.get(server.url + "/.well-known/oauth-protected-resource", timeout=WAIT).json()
    assert resource["resource"] == server.url
    return resource["authorization_servers"][0]


@pytest.fixture()
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromium-driver are required (apt-get install chromium chromium-driver)")
        pytest.skip("chromium / chromium-driver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=420,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


def shot(driver, name):
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"oauth-{name}.png"))


def wait_until(condition, what):
    deadline = time.time() + WAIT
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def browser_consent(driver, url, server, name):
    """Signs in and allows in Chromium; returns the URL the browser was sent back to."""
    from selenium.webdriver.common.by import By
    driver.get(url)
    if driver.find_elements(By.ID, "password"):
        identifier = driver.find_element(By.ID, "identifier")
        # login_hint pre-fills the identifier.
        assert identifier.get_attribute("value") == server.handle
        shot(driver, f"{name}-1-sign-in")
        driver.find_element(By.ID, "password").send_keys(server.password)
        driver.find_element(By.ID, "sign-in").click()
    wait_until(lambda: driver.find_elements(By.ID, "allow") or "/callback?" in driver.current_url, "the consent page")
    if "/callback?" not in driver.current_url:
        page = driver.page_source
        assert "Create, change and delete any of your records" in page
        shot(driver, f"{name}-2-consent")
        driver.find_element(By.ID, "allow").click()
    wait_until(lambda: "/callback?" in driver.current_url, "the redirect back to the client")
    shot(driver, f"{name}-3-callback")
    return driver.current_url


def oauth_client(issuer, client_id, redirect_uri, auth=None):
    identity = {"auth": auth} if auth is not None else {"client_id": client_id}
    return OAuth2Client.from_discovery_endpoint(
        issuer + "/.well-known/oauth-authorization-server", issuer=issuer, redirect_uri=redirect_uri,
        dpop_bound_access_tokens=True, testing=True, **identity)


def create_post(server, token, did, text):
    body = {"repo": did, "collection": "app.bsky.feed.post",
            "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-01T00:00:00.000Z"}}
    return requests.post(server.xrpc_url("com.atproto.repo.createRecord"), json=body, auth=token, timeout=WAIT)


def raw_write(server, token):
    """createRecord with the token and a proof from its key, without the library's retry hook (it
    gives up with an exception when a 401 repeats the nonce it already has)."""
    import base64
    import hashlib
    url = server.xrpc_url("com.atproto.repo.createRecord")
    ath = base64.urlsafe_b64encode(hashlib.sha256(token.access_token.encode()).digest()).rstrip(b"=").decode()
    nonce = token.dpop_key.rs_nonce
    for _ in range(2):
        proof = token.dpop_key.proof(htm="POST", htu=url, ath=ath, nonce=nonce)
        response = requests.post(url, json={}, headers={"Authorization": f"DPoP {token.access_token}", "DPoP": str(proof)},
                                 timeout=WAIT)
        if 'error="use_dpop_nonce"' not in response.headers.get("WWW-Authenticate", ""):
            break
        nonce = response.headers["DPoP-Nonce"]
    return response


def run_flow(server, issuer, site, driver, client, name):
    azr = client.authorization_request(scope="atproto transition:generic", login_hint=server.handle)
    par = client.pushed_authorization_request(azr)
    assert par.request_uri.startswith("urn:ietf:params:oauth:request_uri:")
    callback = browser_consent(driver, par.uri, server, name) if driver else approve_with_forms(
        par.uri, issuer, server.handle, server.password)
    response = azr.validate_callback(callback)  # checks state and iss (RFC 9207)
    token = client.authorization_code(response)
    assert isinstance(token, DPoPToken)
    assert token.scope == "atproto transition:generic"
    assert token.kwargs["sub"].startswith("did:")
    assert 0 < (token.expires_at.timestamp() - time.time()) <= 30 * 60
    return token


def test_metadata_documents(server, issuer):
    assert issuer == server.url
    response = requests.get(issuer + "/.well-known/oauth-authorization-server", headers={"Origin": "https://app.example"},
                            timeout=WAIT)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    metadata = response.json()
    assert metadata["issuer"] == issuer
    for field in ("authorization_endpoint", "token_endpoint", "pushed_authorization_request_endpoint", "revocation_endpoint"):
        assert metadata[field].startswith(issuer + "/oauth/")
    assert metadata["require_pushed_authorization_requests"] is True
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert {"none", "private_key_jwt"} <= set(metadata["token_endpoint_auth_methods_supported"])
    assert "ES256" in metadata["token_endpoint_auth_signing_alg_values_supported"]
    assert "none" not in metadata["token_endpoint_auth_signing_alg_values_supported"]
    assert metadata["dpop_signing_alg_values_supported"] == ["ES256"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "atproto" in metadata["scopes_supported"]
    preflight = requests.options(issuer + "/oauth/token", headers={"Origin": "https://app.example",
                                                                   "Access-Control-Request-Headers": "dpop,content-type"},
                                 timeout=WAIT)
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "dpop" in preflight.headers["Access-Control-Allow-Headers"]


def test_public_client_in_the_browser(server, issuer, site, browser, did):
    client_id = site.client("public")
    client = oauth_client(issuer, client_id, site.callback)
    token = run_flow(server, issuer, site, browser, client, "public")
    assert token.kwargs["sub"] == did

    # A DPoP-bound write (the library answers the resource server's use_dpop_nonce itself).
    created = create_post(server, token, did, "written over OAuth")
    assert created.status_code == 200, created.text
    assert created.json()["uri"].startswith(f"at://{did}/app.bsky.feed.post/")

    refreshed = client.refresh_token(token)
    assert refreshed.refresh_token != token.refresh_token
    assert refreshed.scope == "atproto transition:generic"
    assert create_post(server, refreshed, did, "after refresh").status_code == 200

    assert client.revoke_refresh_token(refreshed.refresh_token) is True
    with pytest.raises(InvalidGrant):
        client.refresh_token(refreshed)


def test_confidential_client_in_the_browser(server, issuer, site, browser, did):
    key = new_key("interop-key-1")
    client_id = site.client("confidential", confidential=True, jwks=[public_jwk(key)])
    auth = PrivateKeyJwt(client_id, key.as_dict(private=True), alg="ES256", aud=issuer)
    client = oauth_client(issuer, client_id, site.callback, auth=auth)
    token = run_flow(server, issuer, site, browser, client, "confidential")
    assert create_post(server, token, did, "confidential client").status_code == 200
    refreshed = client.refresh_token(token)
    assert create_post(server, refreshed, did, "confidential refresh").status_code == 200
    assert client.revoke_access_token(refreshed.access_token) is True
    with pytest.raises(InvalidGrant):
        client.refresh_token(refreshed)


def test_withdrawn_client_key_revokes_the_session(server, issuer, site, did):
    old, new = new_key("old"), new_key("new")
    client_id = site.client("rotating", confidential=True, jwks=[public_jwk(old)])
    client = oauth_client(issuer, client_id, site.callback, auth=PrivateKeyJwt(client_id, old.as_dict(private=True), alg="ES256", aud=issuer))
    token = run_flow(server, issuer, site, None, client, "rotating")
    # The client publishes only its new key: refreshing re-reads the JWKS and ends the session.
    site.serve_json("/rotating-jwks.json", {"keys": [public_jwk(new)]})
    rotated = oauth_client(issuer, client_id, site.callback, auth=PrivateKeyJwt(client_id, new.as_dict(private=True), alg="ES256", aud=issuer))
    with pytest.raises(InvalidGrant):
        rotated.refresh_token(token)
    response = raw_write(server, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_account_page_revokes_in_the_browser(server, issuer, site, browser, did):
    from selenium.webdriver.common.by import By
    client_id = site.client("account-page")
    client = oauth_client(issuer, client_id, site.callback)
    token = run_flow(server, issuer, site, None, client, "account-page")
    assert create_post(server, token, did, "before revoke").status_code == 200

    browser.get(issuer + "/account")
    browser.find_element(By.ID, "identifier").send_keys(server.handle)
    browser.find_element(By.ID, "password").send_keys(server.password)
    browser.find_element(By.ID, "sign-in").click()
    wait_until(lambda: browser.find_elements(By.ID, "apps"), "the account page")
    apps = [element.text for element in browser.find_elements(By.CSS_SELECTOR, "#apps code.app")]
    assert client_id in apps
    shot(browser, "account-1-apps")
    index = apps.index(client_id)
    browser.find_element(By.ID, f"revoke-app-{index}").click()
    wait_until(lambda: client_id not in browser.page_source, "the app to disappear")
    shot(browser, "account-2-revoked")
    # The token is dead at once.
    response = raw_write(server, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    # App passwords are created and revoked on the same page.
    browser.find_element(By.ID, "app-password-name").send_keys("from-the-account-page")
    browser.find_element(By.ID, "create-app-password").click()
    password = wait_until(lambda: browser.find_elements(By.ID, "new-app-password"), "the new app password")[0].text
    assert len(password) == 19
    assert server.create_session(password=password)["handle"] == server.handle
    browser.find_element(By.ID, "revoke-password-from-the-account-page").click()
    wait_until(lambda: "from-the-account-page" not in browser.page_source, "the app password to disappear")
    failed = server.post("com.atproto.server.createSession", {"identifier": server.handle, "password": password})
    assert failed.status_code == 401
