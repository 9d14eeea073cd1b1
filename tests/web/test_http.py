"""The console over real HTTP (uvicorn on loopback): every refusal, and what is allowed, without a browser."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from certrotor.store import observations
from certrotor.web.console.security import MAX_FAILURES
from certrotor.web.console.sessions import COOKIE_NAME

from ._support import OPERATOR, PASSWORDS, VIEWER, ConsoleWorld, csrf_of

PAGES = ["/", "/credentials/demo1", "/events", "/connect", "/credentials/demo1/rotation.json"]


def _wait_for_job(world: ConsoleWorld, name: str) -> None:
    job = world.console.jobs.latest(name)
    assert job is not None
    assert job.finished.wait(60), "the console's rotation did not finish"


def _get_with_cookie(world: ConsoleWorld, cookie: str) -> httpx2.Response:
    """The fleet page asked by a fresh client that sends exactly this session cookie."""
    return world.client().get("/", headers={"Cookie": f"{COOKIE_NAME}={cookie}"})


class TestLoginRequired:
    @pytest.mark.parametrize("path", [p for p in PAGES if not p.endswith(".json")])
    def test_pages_without_a_session_redirect_to_login(self, world: ConsoleWorld, path: str) -> None:
        """Every page sends a visitor without a session to /login, remembering where they were going."""
        answer = world.client().get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login?next={path}"

    def test_json_without_a_session_is_401(self, world: ConsoleWorld) -> None:
        """The rotation progress endpoint answers 401 JSON, not a login page."""
        answer = world.client().get("/credentials/demo1/rotation.json")
        assert answer.status_code == 401
        assert answer.json() == {"error": "login_required"}

    def test_post_without_a_session_changes_nothing(self, world: ConsoleWorld) -> None:
        """A rotate POST without a session is sent to /login and starts no rotation."""
        before = world.current_certificate_id("demo1")
        answer = world.client().post("/credentials/demo1/rotate", data={"csrf_token": "x"})
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
        assert world.console.jobs.latest("demo1") is None
        assert world.current_certificate_id("demo1") == before

    def test_a_forged_cookie_is_no_session(self, world: ConsoleWorld) -> None:
        """A cookie whose signature does not match the console's key counts as no session."""
        client = world.logged_in(OPERATOR)
        value = client.cookies[COOKIE_NAME]
        version, payload, signature = value.split(".")
        forged = f"{version}.{payload}.{signature[::-1]}"
        assert _get_with_cookie(world, forged).status_code == 303
        assert _get_with_cookie(world, value).status_code == 200

    def test_an_idle_session_expires(self, world: ConsoleWorld) -> None:
        """A session unused for longer than the idle timeout is refused; activity keeps it alive."""
        client = world.logged_in(OPERATOR)
        codec = world.console.codec
        session = codec.decode(client.cookies[COOKIE_NAME])
        assert session is not None
        assert session.user == OPERATOR
        stale = session.touched(time.time() - codec.idle_timeout - 5)
        assert _get_with_cookie(world, codec.encode(stale)).status_code == 303
        fresh = session.touched(time.time() - codec.idle_timeout + 60)
        assert _get_with_cookie(world, codec.encode(fresh)).status_code == 200

    def test_a_removed_user_loses_access_at_once(self, world: ConsoleWorld) -> None:
        """Removing a user ends their session at the next request."""
        client = world.logged_in(VIEWER)
        assert client.get("/").status_code == 200
        world.console.web_store.remove_user(VIEWER)
        assert client.get("/").status_code == 303


class TestLogin:
    def test_wrong_password_is_refused_and_audited(self, world: ConsoleWorld) -> None:
        """A wrong password gives 401 with the login form again; the failure is in the audit trail."""
        client = world.client()
        answer = client.post(
            "/login",
            data={
                "username": OPERATOR,
                "password": "not the password",
                "csrf_token": csrf_of(client, "/login"),
            },
        )
        assert answer.status_code == 401
        assert "Wrong user name or password." in answer.text
        assert client.get("/").status_code == 303
        event = world.store.events(None, limit=1)[0]
        assert (event.actor, event.action, event.outcome.value) == (f"web:{OPERATOR}", "web-login", "error")
        assert "not the password" not in str(event.detail)

    def test_unknown_user_gets_the_same_answer(self, world: ConsoleWorld) -> None:
        """An unknown name is answered exactly like a wrong password (no user enumeration)."""
        client = world.client()
        answer = client.post(
            "/login",
            data={
                "username": "mallory",
                "password": "whatever12345",
                "csrf_token": csrf_of(client, "/login"),
            },
        )
        assert answer.status_code == 401
        assert "Wrong user name or password." in answer.text

    def test_login_without_csrf_token_is_403(self, world: ConsoleWorld) -> None:
        """The login form's own csrf_token is checked too: a cross-site login POST is refused."""
        client = world.client()
        client.get("/login")
        answer = client.post("/login", data={"username": OPERATOR, "password": PASSWORDS[OPERATOR]})
        assert answer.status_code == 403
        assert client.get("/").status_code == 303

    def test_login_attempts_are_rate_limited(self, world: ConsoleWorld) -> None:
        """After MAX_FAILURES wrong passwords even the right one is refused with 429 for a while."""
        client = world.client()
        for _ in range(MAX_FAILURES):
            token = csrf_of(client, "/login")
            answer = client.post(
                "/login", data={"username": VIEWER, "password": "wrong password!", "csrf_token": token}
            )
            assert answer.status_code == 401
        token = csrf_of(client, "/login")
        answer = client.post(
            "/login", data={"username": VIEWER, "password": PASSWORDS[VIEWER], "csrf_token": token}
        )
        assert answer.status_code == 429
        assert "Too many failed logins" in answer.text
        assert client.get("/").status_code == 303

    def test_login_then_logout(self, world: ConsoleWorld) -> None:
        """A login gives a new session (no fixation); logging out ends it."""
        client = world.client()
        token = csrf_of(client, "/login")
        anonymous = client.cookies[COOKIE_NAME]
        answer = client.post(
            "/login",
            data={
                "username": OPERATOR,
                "password": PASSWORDS[OPERATOR],
                "csrf_token": token,
                "next": "/events",
            },
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/events")
        assert client.cookies[COOKIE_NAME] != anonymous
        page_token = csrf_of(client, "/")
        assert page_token != token
        assert client.post("/logout", data={"csrf_token": page_token}).status_code == 303
        assert client.get("/").status_code == 303

    def test_next_never_leaves_the_console(self, world: ConsoleWorld) -> None:
        """A login's ``next`` pointing at another site sends the user to the fleet instead."""
        client = world.client()
        token = csrf_of(client, "/login")
        answer = client.post(
            "/login",
            data={
                "username": OPERATOR,
                "password": PASSWORDS[OPERATOR],
                "csrf_token": token,
                "next": "//evil.example/",
            },
        )
        assert answer.headers["location"] == "/"


class TestCsrf:
    @pytest.mark.parametrize("token", [None, "", "wrong-token"])
    def test_rotate_without_the_right_csrf_token_is_403_and_changes_nothing(
        self, world: ConsoleWorld, token: str | None
    ) -> None:
        """Rotate now without (or with a wrong) csrf_token: 403, no rotation, same certificate."""
        client = world.logged_in(OPERATOR)
        before = world.current_certificate_id("demo1")
        events = len(world.store.events(None, limit=1000))
        data = {} if token is None else {"csrf_token": token}
        answer = client.post("/credentials/demo1/rotate", data=data)
        assert answer.status_code == 403
        assert "Nothing was changed" in answer.text
        assert world.console.jobs.latest("demo1") is None
        assert world.current_certificate_id("demo1") == before
        assert len(world.store.events(None, limit=1000)) == events

    def test_another_sessions_token_is_refused(self, world: ConsoleWorld) -> None:
        """A csrf_token taken from another user's session does not work in this one."""
        victim = world.logged_in(OPERATOR)
        attacker = world.logged_in(OPERATOR)
        stolen = csrf_of(attacker, "/")
        assert victim.post("/credentials/demo1/check", data={"csrf_token": stolen}).status_code == 403

    def test_every_post_form_carries_a_csrf_token(self, world: ConsoleWorld) -> None:
        """Each POST form on the operator's pages has the hidden csrf_token field of the session."""
        client = world.logged_in(OPERATOR)
        for path in ["/", "/credentials/demo1", "/events", "/connect"]:
            page = client.get(path).text
            forms = re.findall(r'<form[^>]*method="post".*?</form>', page, flags=re.S)
            assert forms, path
            for form in forms:
                assert 'name="csrf_token"' in form, (path, form[:80])


class TestRoles:
    def test_viewer_sees_no_action_buttons(self, world: ConsoleWorld) -> None:
        """A viewer's credential page has no Rotate now and no Check now button, and no Connect link."""
        page = world.logged_in(VIEWER).get("/credentials/demo1").text
        assert "Rotate now" not in page
        assert "Check now" not in page
        assert 'href="/connect"' not in page

    @pytest.mark.parametrize("action", ["rotate", "check"])
    def test_viewer_posting_an_action_is_403(self, world: ConsoleWorld, action: str) -> None:
        """A viewer's forged POST (with a valid csrf_token) is refused with 403 and nothing happens."""
        client = world.logged_in(VIEWER)
        before = world.current_certificate_id("demo1")
        answer = client.post(f"/credentials/demo1/{action}", data={"csrf_token": csrf_of(client, "/")})
        assert answer.status_code == 403
        assert "only operators" in answer.text
        assert world.console.jobs.latest("demo1") is None
        assert world.current_certificate_id("demo1") == before
        assert not [e for e in world.store.events("demo1", limit=100) if e.actor == f"web:{VIEWER}"]
        assert observations.latest(world.store) == {}

    def test_viewer_cannot_onboard(self, world: ConsoleWorld) -> None:
        """The onboarding page and its POST are refused to a viewer."""
        client = world.logged_in(VIEWER)
        assert client.get("/connect").status_code == 403
        answer = client.post("/connect", data={"csrf_token": csrf_of(client, "/"), "name": "x"})
        assert answer.status_code == 403


class TestPages:
    def test_unknown_credential_is_a_404_page(self, world: ConsoleWorld) -> None:
        """An unknown credential name gives the 404 error page, not a stack trace."""
        answer = world.logged_in(VIEWER).get("/credentials/nope")
        assert answer.status_code == 404
        assert "There is no credential named &#39;nope&#39;." in answer.text

    def test_security_headers_on_every_answer(self, world: ConsoleWorld) -> None:
        """CSP without inline scripts, frame-ancestors none, no referrer, and an HttpOnly Strict cookie."""
        client = world.client()
        answer = client.get("/login")
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["referrer-policy"] == "no-referrer"
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "<script>" not in answer.text
        assert " on" + "click=" not in answer.text

    def test_fleet_filters(self, world: ConsoleWorld) -> None:
        """The fleet lists both demo credentials; filters by status and account narrow it."""
        client = world.logged_in(VIEWER)
        page = client.get("/").text
        assert 'data-credential="demo1"' in page
        assert 'data-credential="demo2"' in page
        assert "2 OK" in page
        account = world.emulator.tenant.account_id
        assert 'data-credential="demo1"' in client.get(f"/?account={account}").text
        assert 'data-credential="demo1"' not in client.get("/?account=OTHER").text
        assert 'data-credential="demo1"' not in client.get("/?status=CRIT").text

    def test_events_filter(self, world: ConsoleWorld) -> None:
        """The events page filters by credential, actor, action and outcome."""
        client = world.logged_in(VIEWER)
        page = client.get("/events?credential=demo2&action=activate").text
        assert page.count("<td>activate</td>") == 1
        assert "/credentials/demo1" not in page.split("<tbody>")[1]
        assert "<td>web-login</td>" in client.get("/events?actor=web:").text

    def test_check_now_is_audited_with_the_web_user(self, world: ConsoleWorld) -> None:
        """Check now records a web-check event with the operator as actor and shows the result."""
        client = world.logged_in(OPERATOR)
        answer = client.post("/credentials/demo1/check", data={"csrf_token": csrf_of(client, "/")})
        assert answer.status_code == 303
        event = world.store.events("demo1", limit=1)[0]
        assert (event.actor, event.action, event.detail["status"]) == (f"web:{OPERATOR}", "web-check", "OK")
        page = client.get(answer.headers["location"]).text
        assert re.search(rf"Observed on NetSuite \d+ s ago \([^)]*\) by the console \(web:{OPERATOR}\)", page)

    def test_rotate_now_over_http(self, world: ConsoleWorld) -> None:
        """Rotate now starts a background rotation by web:alice; the JSON shows its journal steps."""
        client = world.logged_in(OPERATOR)
        before = world.current_certificate_id("demo1")
        answer = client.post("/credentials/demo1/rotate", data={"csrf_token": csrf_of(client, "/")})
        assert answer.status_code == 303
        _wait_for_job(world, "demo1")
        progress = client.get("/credentials/demo1/rotation.json").json()
        assert progress["job"]["status"] == "rotated"
        assert [s["action"] for s in progress["steps"]][:3] == ["rotation-start", "prepare", "upload"]
        assert {s["actor"] for s in progress["steps"]} == {f"web:{OPERATOR}"}
        after = world.current_certificate_id("demo1")
        assert after != before
        assert progress["current_certificate_id"] == after

    def test_no_key_or_token_on_any_page(self, world: ConsoleWorld) -> None:
        """No page or JSON answer carries a private key or a token."""
        client = world.logged_in(OPERATOR)
        client.post("/credentials/demo1/check", data={"csrf_token": csrf_of(client, "/")})
        admin_token = world.emulator.tenant.admin_token
        for path in [*PAGES, "/credentials/demo2", "/events?limit=1000"]:
            text = client.get(path).text
            assert "PRIVATE KEY" not in text
            assert admin_token not in text
            assert not re.search(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ", text), path


class TestShareLinks:
    def _start(self, world: ConsoleWorld, client: httpx2.Client, name: str = "acme") -> str:
        tenant = world.emulator.tenant
        answer = client.post(
            "/connect",
            data={
                "csrf_token": csrf_of(client, "/connect"),
                "name": name,
                "account_id": tenant.account_id,
                "client_id": tenant.client_id,
                "entity": str(tenant.entity_id),
                "role": str(tenant.role_id),
                "base_url": world.emulator.base_url,
            },
        )
        assert answer.status_code == 200, answer.text
        found = re.search(r'id="share-link" readonly value="([^"]+)"', answer.text)
        assert found is not None
        return found.group(1)

    def test_a_share_link_works_once(self, world: ConsoleWorld) -> None:
        """The first visit goes to NetSuite's consent page; a replayed link is refused with 410."""
        share = self._start(world, world.logged_in(OPERATOR))
        stranger = world.client()  # the customer's administrator has no console login
        first = stranger.get(share)
        assert first.status_code == 303
        target = urlsplit(first.headers["location"])
        query = parse_qs(target.query)
        assert target.path == "/app/login/oauth2/authorize.nl"
        assert query["code_challenge_method"] == ["S256"]
        assert query["redirect_uri"] == [world.url + "/connect/callback"]
        replay = world.client().get(share)
        assert replay.status_code == 410
        assert "already used" in replay.text

    def test_an_unknown_share_link_is_refused(self, world: ConsoleWorld) -> None:
        """A made-up link is refused without revealing anything."""
        answer = world.client().get("/connect/share/not-a-real-token")
        assert answer.status_code == 410
        assert "not known" in answer.text

    def test_a_callback_with_a_foreign_state_changes_nothing(self, world: ConsoleWorld) -> None:
        """A redirect carrying a state this console never issued creates no credential."""
        self._start(world, world.logged_in(OPERATOR))
        answer = world.client().get("/connect/callback", params={"state": "forged", "code": "abc"})
        assert answer.status_code == 400
        assert world.store.find_credential("acme") is None

    def test_bad_onboarding_input_is_one_clear_line(self, world: ConsoleWorld) -> None:
        """A malformed entity ID is refused with the fix, and no onboarding is recorded."""
        client = world.logged_in(OPERATOR)
        answer = client.post(
            "/connect",
            data={
                "csrf_token": csrf_of(client, "/connect"),
                "name": "acme",
                "account_id": world.emulator.tenant.account_id,
                "client_id": "abc",
                "entity": "seven",
                "role": "3",
            },
        )
        assert answer.status_code == 400
        assert "The entity must be a NetSuite internal ID" in answer.text
        assert world.console.web_store.recent_onboardings() == []
