"""fetch_credentials() against a real loopback endpoint, and parse_credentials() on its own."""

from __future__ import annotations

import email.utils
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecs_xrole import _fetch as fetch
from ecs_xrole import _http
from ecs_xrole._credentials import TemporaryCredentials, parse_credentials
from ecs_xrole._endpoint import FULL_URI, TOKEN, Endpoint, detect_endpoint, shown_url
from ecs_xrole._fetch import fetch_credentials
from ecs_xrole.errors import (
    EndpointRequestError,
    EndpointResponseError,
    Error,
    InvalidInputError,
    TokenError,
)
from ecs_xrole.testing._agent import EndpointServer

# Distinctive secrets: a leak anywhere is found by substring.
KEY_ID = "ASIAZQ9XVB7KPW3LM2NC"
SECRET_KEY = "sEcReT/zq9XvB7kPw3Lm2Nc+uniquely0123456789"
SESSION_TOKEN = "SeSsIoN-tOkEn-Zq9XvB7kPw3Lm2Nc-" + "x" * 200
AUTH_TOKEN = "AuThToKeN-Zq9XvB7kPw3Lm2Nc"
SECRETS = (KEY_ID, SECRET_KEY, SESSION_TOKEN, AUTH_TOKEN, "Zq9XvB7kPw3Lm2Nc")


def known_credentials(lifetime: float = 3600) -> TemporaryCredentials:
    return TemporaryCredentials(
        access_key_id=KEY_ID,
        secret_access_key=SECRET_KEY,
        session_token=SESSION_TOKEN,
        expiration=datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=lifetime),
        role_arn="arn:aws:iam::111122223333:role/task-role",
    )


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture
def server() -> Iterator[EndpointServer]:
    with EndpointServer(known_credentials(), token=AUTH_TOKEN) as srv:
        yield srv


@pytest.fixture
def endpoint(server: EndpointServer) -> Endpoint:
    return detect_endpoint(server.environ())


def rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def in_an_hour() -> str:
    return rfc3339(datetime.now(timezone.utc) + timedelta(hours=1))


# -- success and retries ---------------------------------------------------------------------


def test_fetch_returns_what_the_endpoint_serves(server: EndpointServer, endpoint: Endpoint) -> None:
    creds = fetch_credentials(endpoint)
    assert creds.access_key_id == KEY_ID
    assert creds.secret_access_key == SECRET_KEY
    assert creds.session_token == SESSION_TOKEN
    assert creds.role_arn == "arn:aws:iam::111122223333:role/task-role"
    served = server.credentials
    assert isinstance(served, TemporaryCredentials)
    assert creds.expiration == served.expiration
    assert (server.requests, server.served) == (1, 1)


def test_fetch_detects_the_endpoint_from_os_environ(
    server: EndpointServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", raising=False)
    for name, value in server.environ().items():
        monkeypatch.setenv(name, value)
    assert fetch_credentials().access_key_id == KEY_ID


def test_credentials_uninitialized_503_then_200(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue(503)
    assert fetch_credentials(endpoint, deadline=4).access_key_id == KEY_ID
    assert (server.requests, server.served) == (2, 1)


def test_several_5xx_then_200(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue(500, 503, 502)
    assert fetch_credentials(endpoint, deadline=5).access_key_id == KEY_ID
    assert server.requests == 4


def test_429_retry_after_is_honoured(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue(("status", 429, "Rate exceeded", {"Retry-After": "1"}))
    started = time.monotonic()
    fetch_credentials(endpoint, deadline=4)
    elapsed = time.monotonic() - started
    assert elapsed >= 0.99  # waited as told
    assert elapsed < 4 + 1  # and within the deadline
    assert server.requests == 2


def test_retry_after_beyond_the_deadline_gives_up_at_once(
    server: EndpointServer, endpoint: Endpoint
) -> None:
    server.queue(("status", 429, "Rate exceeded", {"Retry-After": "30"}))
    started = time.monotonic()
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint, deadline=2)
    assert time.monotonic() - started < 1.0  # no pointless wait
    err = info.value
    assert (err.status, err.attempts, err.endpoint_message) == (429, 1, "Rate exceeded")
    assert "retry after 30 s" in str(err)
    assert "throttling" in str(err)
    assert server.requests == 1


def test_plain_text_429s_until_the_deadline(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue(*[429] * 100)
    started = time.monotonic()
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint, deadline=1)
    assert time.monotonic() - started < 1 + 1
    err = info.value
    assert err.status == 429
    assert err.attempts == server.requests >= 2
    assert "Rate exceeded" in str(err)
    assert err.url == shown_url(endpoint.url)  # the credentials ID shortened


def test_a_hang_longer_than_the_deadline(server: EndpointServer, endpoint: Endpoint) -> None:
    server.delay = 5
    started = time.monotonic()
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint, deadline=1, read_timeout=2)
    assert time.monotonic() - started < 1 + 1
    assert info.value.status is None
    assert "timed out" in str(info.value)
    assert info.value.attempts == 1  # the read timeout was clipped to the deadline
    took = re.search(
        r"gave up after 1 attempt in (\d+\.\d) s \(deadline 1 s; the deadline passed\)",
        info.value.what,
    )
    assert took is not None, info.value.what
    assert 0.5 <= float(took.group(1)) <= 60  # the time it took, not a clock reading


def test_a_hang_past_the_read_timeout_is_retried(
    server: EndpointServer, endpoint: Endpoint
) -> None:
    server.queue(("hang", 3))
    creds = fetch_credentials(endpoint, deadline=3, read_timeout=0.5)
    assert creds.access_key_id == KEY_ID
    assert server.requests == 2


def test_a_short_hang_is_waited_for(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue(("hang", 0.3))
    assert fetch_credentials(endpoint).access_key_id == KEY_ID
    assert server.requests == 1


def test_a_refused_connection(server: EndpointServer, endpoint: Endpoint) -> None:
    fetch_credentials(endpoint)  # leaves a kept-alive connection in the pool
    server.stop()
    started = time.monotonic()
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint, deadline=1)
    assert time.monotonic() - started < 1 + 1
    err = info.value
    assert err.status is None
    assert err.attempts >= 1
    assert "refused" in str(err)
    assert "reachable" in str(err)
    server.start()  # same port: the same endpoint works again
    assert fetch_credentials(endpoint).access_key_id == KEY_ID


def test_a_reset_is_retried(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue("reset")
    assert fetch_credentials(endpoint, deadline=3).access_key_id == KEY_ID
    assert server.requests == 2


def test_resets_until_the_deadline(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue(*["reset", "close"] * 100)
    with pytest.raises(EndpointRequestError, match="closed without an answer") as info:
        fetch_credentials(endpoint, deadline=0.7)
    assert info.value.status is None
    assert info.value.attempts >= 2


def test_max_attempts(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue(503, 503, 503)
    with pytest.raises(EndpointRequestError, match="max_attempts=2") as info:
        fetch_credentials(endpoint, max_attempts=2)
    err = info.value
    assert (err.attempts, err.status, err.code) == (2, 503, "CredentialsUninitialized")
    assert "has not loaded this task's credentials" in str(err)
    assert server.requests == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("deadline", 0),
        ("deadline", -1),
        ("connect_timeout", 0),
        ("read_timeout", "2"),
        ("max_attempts", 0),
    ],
)
def test_bad_options(endpoint: Endpoint, name: str, value: object) -> None:
    with pytest.raises(InvalidInputError, match=name):
        fetch_credentials(endpoint, **{name: value})  # type: ignore[arg-type]


# -- answers that retrying cannot fix ---------------------------------------------------------


def test_non_json_is_a_response_error(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue("garbage")
    with pytest.raises(EndpointResponseError, match="not JSON"):
        fetch_credentials(endpoint)
    assert server.requests == 1


def test_a_missing_field(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue(
        ("json", {"AccessKeyId": KEY_ID, "Token": SESSION_TOKEN, "Expiration": in_an_hour()})
    )
    with pytest.raises(EndpointResponseError, match="lacks SecretAccessKey") as info:
        fetch_credentials(endpoint)
    assert_no_secret(str(info.value))
    assert server.requests == 1


def test_expired_credentials(server: EndpointServer, endpoint: Endpoint) -> None:
    past = rfc3339(datetime.now(timezone.utc) - timedelta(minutes=5))
    body = {
        "AccessKeyId": KEY_ID,
        "SecretAccessKey": SECRET_KEY,
        "Token": SESSION_TOKEN,
        "Expiration": past,
    }
    server.queue(("json", body))
    with pytest.raises(EndpointResponseError, match="expired") as info:
        fetch_credentials(endpoint)
    assert_no_secret(str(info.value))
    assert "clock" in str(info.value)


def test_a_wrong_token_is_401_without_retry(server: EndpointServer) -> None:
    endpoint = detect_endpoint({FULL_URI: server.url, TOKEN: "WrOnG-" + AUTH_TOKEN[::-1]})
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint)
    err = info.value
    assert (err.status, err.attempts, err.code) == (401, 1, "Unauthorized")
    assert TOKEN in str(err)
    assert AUTH_TOKEN[::-1] not in str(err)
    assert server.requests == 1


def test_a_missing_token_is_401_with_a_fix(server: EndpointServer) -> None:
    with pytest.raises(EndpointRequestError, match="wants an Authorization header") as info:
        fetch_credentials(Endpoint(server.url))
    assert info.value.status == 401
    assert server.requests == 1


def test_an_error_body_echoing_the_token_is_scrubbed(
    server: EndpointServer, endpoint: Endpoint
) -> None:
    echo = json.dumps({"code": "AccessDenied", "message": f"token {AUTH_TOKEN} is revoked"})
    error = refusal(server, endpoint, 403, echo)
    assert error.code == "AccessDenied"
    assert "is revoked" in str(error)
    assert_no_secret(str(error))
    assert_no_secret(repr(error.__dict__))


def test_credentials_not_found_400_without_retry(
    server: EndpointServer, endpoint: Endpoint
) -> None:
    server.queue(400)
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint)
    err = info.value
    assert (err.status, err.code, err.attempts) == (400, "InvalidIdInRequest", 1)
    assert "Credentials not found" in str(err)
    assert "taskRoleArn" in str(err)
    assert server.requests == 1


def test_a_redirect_is_not_followed(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue(("status", 302, "", {"Location": "http://169.254.169.254/latest/meta-data/"}))
    with pytest.raises(EndpointRequestError, match="redirect") as info:
        fetch_credentials(endpoint)
    assert info.value.status == 302
    assert server.requests == 1


def test_a_huge_body_is_refused(server: EndpointServer, endpoint: Endpoint) -> None:
    server.queue(("status", 200, "x" * (_http.MAX_BODY + 1), {}))
    with pytest.raises(EndpointResponseError) as info:
        fetch_credentials(endpoint)
    assert str(info.value) == (
        f"the container credentials endpoint {shown_url(endpoint.url)} answered HTTP 200 with a "
        f"body larger than {_http.MAX_BODY} bytes. Fix: check that the URL points at a "
        "credentials endpoint"
    )
    # A body of exactly the limit is read, and judged as credentials.
    server.queue(("status", 200, " " * (_http.MAX_BODY - 2) + "[]", {}))
    with pytest.raises(EndpointResponseError, match="the body is a JSON array"):
        fetch_credentials(endpoint)


# -- the token file --------------------------------------------------------------------------


def test_token_file_rotation_between_fetches(server: EndpointServer, tmp_path: Path) -> None:
    path = tmp_path / "eks-pod-identity-token"
    endpoint = detect_endpoint(server.environ(token_file=str(path)))
    assert endpoint.auth == "token_file"
    fetch_credentials(endpoint)
    server.token = "rotated-token-2"  # the agent rotated; the file is not rewritten yet
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint)
    assert info.value.status == 401
    assert str(path) in str(info.value)  # the fix names the file
    server.write_token_file(path)  # now it is
    assert fetch_credentials(endpoint).access_key_id == KEY_ID
    assert server.requests == 3


def test_token_file_with_a_trailing_newline_works(server: EndpointServer, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(AUTH_TOKEN + "\n")
    endpoint = detect_endpoint(
        {FULL_URI: server.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(path)}
    )
    assert fetch_credentials(endpoint).access_key_id == KEY_ID


@pytest.mark.parametrize("bad", [AUTH_TOKEN + "\r\nX-Evil: 1", "a\nb", "a\rb"])
def test_cr_lf_in_a_token_is_refused_before_any_request(
    server: EndpointServer, tmp_path: Path, bad: str
) -> None:
    with pytest.raises(TokenError, match="header injection") as info:
        fetch_credentials(detect_endpoint({FULL_URI: server.url, TOKEN: bad}))
    assert_no_secret(str(info.value))
    path = tmp_path / "token"
    path.write_text(bad + "\n")
    with pytest.raises(TokenError, match="header injection"):
        fetch_credentials(
            detect_endpoint(
                {FULL_URI: server.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(path)}
            )
        )
    assert server.requests == 0


# -- transports ------------------------------------------------------------------------------


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback() -> None:
    with EndpointServer(known_credentials(), host="::1") as srv:
        assert srv.url.startswith("http://[::1]:")
        endpoint = detect_endpoint({FULL_URI: srv.url})
        assert fetch_credentials(endpoint).access_key_id == KEY_ID


def test_pod_identity_shape() -> None:
    with EndpointServer(token=AUTH_TOKEN, shape="pod-identity", lifetime=900) as srv:
        srv.queue(429)  # plain text, as the EKS agent throttles
        creds = fetch_credentials(detect_endpoint(srv.environ()), deadline=3)
    assert creds.account_id == "111122223333"
    assert creds.role_arn is None
    left = creds.seconds_left()
    assert left is not None
    assert 890 < left <= 900


def test_lifetime_overrides_the_expiration(server: EndpointServer, endpoint: Endpoint) -> None:
    server.lifetime = 120
    left = fetch_credentials(endpoint).seconds_left()
    assert left is not None
    assert 110 < left <= 120


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads (Python 3.12+)
def test_a_forked_child_gets_its_own_pool(server: EndpointServer, endpoint: Endpoint) -> None:
    fetch_credentials(endpoint)
    parent_pool = _http.http_pool()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            fresh = _http._pool is None
            creds = fetch_credentials(endpoint)
            code = 0 if fresh and _http.http_pool() is not parent_pool and creds else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _http.http_pool() is parent_pool
    assert fetch_credentials(endpoint).access_key_id == KEY_ID
    assert server.requests == 3


# -- secrets never leak ----------------------------------------------------------------------


def test_no_secret_in_logs(
    server: EndpointServer, endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.queue(503, "reset", 400)
    with pytest.raises(EndpointRequestError):
        fetch_credentials(endpoint, deadline=4)
    creds = fetch_credentials(endpoint)
    assert "attempt" in caplog.text
    assert_no_secret(caplog.text)
    assert_no_secret(repr(creds))
    assert_no_secret(str(creds))
    assert_no_secret(repr(endpoint))


def _bodies_with_secrets() -> list[Any]:
    good = {"AccessKeyId": KEY_ID, "SecretAccessKey": SECRET_KEY, "Token": SESSION_TOKEN}
    return [
        {**good, "Expiration": "2020-01-01T00:00:00Z"},
        {**good, "Expiration": "not a date " + SECRET_KEY},
        {**good, "Expiration": 12345},
        {**good, "SecretAccessKey": SECRET_KEY + "\r\nX: y"},
        {"AccessKeyId": KEY_ID, "SecretAccessKey": SECRET_KEY},
        {"AccessKeyId": KEY_ID, "SecretAccessKey": 42, "Token": SESSION_TOKEN},
        json.dumps(good)[:-5],  # truncated JSON holding every secret
        [good],
    ]


@pytest.mark.parametrize("body", _bodies_with_secrets())
def test_no_secret_in_parse_errors(body: Any) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    with pytest.raises(EndpointResponseError) as info:
        parse_credentials(text)
    assert_no_secret(str(info.value))
    assert_no_secret(repr(info.value))
    assert_no_secret(repr(info.value.__dict__))


# -- parse_credentials -----------------------------------------------------------------------

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def parse(body: dict[str, Any]) -> TemporaryCredentials:
    return parse_credentials(json.dumps(body), now=NOW)


BASE = {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s", "Token": "t"}


def test_keys_are_case_insensitive() -> None:
    creds = parse(
        {
            "accesskeyid": "ASIAEXAMPLE",
            "SECRETACCESSKEY": "s",
            "token": "t",
            "expiration": "2030-01-01T00:00:00Z",
            "roleArn": "arn:aws:iam::111122223333:role/r",
        }
    )
    assert (creds.access_key_id, creds.secret_access_key, creds.session_token) == (
        "ASIAEXAMPLE",
        "s",
        "t",
    )
    assert creds.role_arn == "arn:aws:iam::111122223333:role/r"


def test_session_token_is_accepted_for_token() -> None:
    body = {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s", "SessionToken": "st"}
    assert parse(body).session_token == "st"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-02T03:04:05Z", datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2030-01-02T03:04:05+00:00", datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2030-01-02T03:04:05+0000", datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2030-01-02T03:04:05.5Z", datetime(2030, 1, 2, 3, 4, 5, 500000, tzinfo=timezone.utc)),
        (
            "2030-01-02T03:04:05.123456789Z",  # EKS: nanoseconds, truncated not rounded
            datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc),
        ),
        (
            "2030-01-02T03:04:05.999999999+00:00",
            datetime(2030, 1, 2, 3, 4, 5, 999999, tzinfo=timezone.utc),
        ),
        ("2030-01-02T05:04:05+02:00", datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2030-01-02t03:04:05z", datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ],
)
def test_expiration_forms(text: str, expected: datetime) -> None:
    creds = parse({**BASE, "Expiration": text})
    assert creds.expiration == expected
    assert creds.expiration is not None
    assert creds.expiration.utcoffset() == timedelta(0)


def test_empty_strings_count_as_absent() -> None:
    creds = parse({**BASE, "RoleArn": "", "Expiration": "", "AccountId": ""})
    assert (creds.role_arn, creds.expiration, creds.account_id) == (None, None, None)
    with pytest.raises(EndpointResponseError, match="lacks Token"):
        parse({**BASE, "Token": ""})


def test_missing_expiration_means_non_expiring() -> None:
    assert parse(BASE).expiration is None


def test_role_arn_and_account_id_are_kept() -> None:
    creds = parse({**BASE, "RoleArn": "arn:aws:iam::1:role/r", "AccountId": "111122223333"})
    assert (creds.role_arn, creds.account_id) == ("arn:aws:iam::1:role/r", "111122223333")


def test_unknown_fields_are_ignored() -> None:
    assert (
        parse({**BASE, "Code": "Success", "Type": "AWS-HMAC", "LastUpdated": 5}).session_token
        == "t"
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"\xff\xfe", "not UTF-8"),
        ("", "not JSON"),
        ("<html>", "not JSON"),
        ("[1, 2]", "JSON array"),
        ("null", "JSON null"),
        ('"text"', "JSON string"),
        ("[" * 100000, "not JSON"),
        (json.dumps({"AccessKeyId": "A"}), "lacks SecretAccessKey, Token"),
        (json.dumps({**BASE, "Expiration": "2030-13-01T00:00:00Z"}), "cannot be read"),
        (json.dumps({**BASE, "Expiration": "2030-01-01"}), "cannot be read"),
        (json.dumps({**BASE, "Expiration": "2030-01-01T00:00:00+24:00"}), "cannot be read"),
        (json.dumps({**BASE, "Expiration": "0001-01-01T00:00:00+01:00"}), "cannot be read"),
        (json.dumps({**BASE, "Expiration": 1893456000}), "not a string"),
        (json.dumps({**BASE, "Token": ["t"]}), "not a string"),
        (json.dumps({**BASE, "Expiration": "2025-12-31T23:59:59Z"}), "expired"),
        (json.dumps({**BASE, "Expiration": "2026-01-01T00:00:00Z"}), "expired"),
        (json.dumps({**BASE, "Token": "t\nX-Injected: 1"}), "control character"),
    ],
)
def test_unusable_bodies(body: bytes | str, says: str) -> None:
    with pytest.raises(EndpointResponseError) as info:
        parse_credentials(body, now=NOW)
    assert says in str(info.value)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=5)
    ),
    max_leaves=15,
)
_credential_like = st.fixed_dictionaries(
    {},
    optional={
        key: st.one_of(st.text(max_size=40), st.integers(), st.none(), st.just(""))
        for key in (
            "AccessKeyId",
            "secretaccesskey",
            "Token",
            "SessionToken",
            "RoleArn",
            "AccountId",
        )
    }
    | {
        "Expiration": st.one_of(
            st.text(max_size=40),
            st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.isoformat()),
            st.from_regex(
                r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,12})?(Z|[+-]\d{2}:?\d{2})",
                fullmatch=True,
            ),
        )
    },
)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        _json_values.map(json.dumps),
        _credential_like.map(json.dumps),
    )
)
def test_parse_never_raises_anything_but_ecs_xrole_errors(body: str | bytes) -> None:
    try:
        creds = parse_credentials(body, now=NOW)
    except Error:
        return
    assert isinstance(creds, TemporaryCredentials)
    assert creds.access_key_id
    assert creds.secret_access_key
    assert creds.session_token
    assert creds.expiration is None or creds.expiration > NOW


# -- bodies of every shape (issue 14) ---------------------------------------------------------


@pytest.mark.parametrize(("body", "kind"), [({"a": 1}, "dict"), (None, "NoneType"), (5, "int")])
def test_a_body_that_is_not_bytes_or_text_is_a_typed_error(body: Any, kind: str) -> None:
    with pytest.raises(EndpointResponseError, match=f"the body is a {kind}, not bytes or text"):
        parse_credentials(body, now=NOW)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("true", "boolean"), ("5", "number"), ("1.5", "number"), ("[]", "array")],
)
def test_a_json_body_that_is_not_an_object_is_named_by_its_kind(text: str, kind: str) -> None:
    with pytest.raises(EndpointResponseError, match=f"the body is a JSON {kind}, not an object"):
        parse_credentials(text, now=NOW)


@pytest.mark.parametrize(("value", "kind"), [({"a": 1}, "object"), (True, "boolean")])
def test_a_field_of_the_wrong_json_kind_is_named(value: object, kind: str) -> None:
    with pytest.raises(EndpointResponseError, match=f"field Token is a JSON {kind}"):
        parse({**BASE, "Token": value})


def test_a_negative_utc_offset_is_added_back() -> None:
    creds = parse({**BASE, "Expiration": "2030-01-01T22:30:00-05:30"})
    assert creds.expiration == datetime(2030, 1, 2, 4, 0, tzinfo=timezone.utc)


def test_an_unreadable_expiration_is_quoted_only_when_it_is_date_like() -> None:
    with pytest.raises(EndpointResponseError) as info:
        parse({**BASE, "Expiration": "2030-01-01T00:00:00Q"})
    assert "(20 characters, not only date characters)" in str(info.value)
    with pytest.raises(EndpointResponseError) as info:
        parse({**BASE, "Expiration": "2030-99-01T00:00:00Z"})
    assert "'2030-99-01T00:00:00Z'" in str(info.value)


def test_the_answer_lists_the_fields_it_has_when_one_is_missing() -> None:
    with pytest.raises(EndpointResponseError) as info:
        parse({"Token": "t", "RoleArn": "r"})
    assert "lacks AccessKeyId, SecretAccessKey (it has: RoleArn, Token)" in str(info.value)
    with pytest.raises(EndpointResponseError, match=r"\(it has: nothing\)"):
        parse({})


# -- what each refusal says (whole messages: a user acts on the fix) -------------------------


def refusal(server: EndpointServer, endpoint: Endpoint, status: int, body: str | bytes = "") -> Any:
    """The error of one request that ``server`` answers with ``status`` and ``body``."""
    server.queue(("status", status, body, {}))
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint)
    return info.value


_NO_TASK_ROLE = (
    "the task may have no task role (set taskRoleArn in the task definition), or the "
    "credentials ID in the URL is stale (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI copied from "
    "another task or an earlier run): use the value from this task's own environment"
)


@pytest.mark.parametrize(
    ("status", "body", "said", "what", "fix"),
    [
        (400, '{"code": "InvalidIdInRequest", "message": "Credentials not found"}',
         "HTTP 400 InvalidIdInRequest: Credentials not found", "has no credentials for us",
         _NO_TASK_ROLE),
        (404, '{"Code": "NoIdInRequest"}', "HTTP 404 NoIdInRequest", "has no credentials for us",
         _NO_TASK_ROLE),
        (410, '{"code": "InvalidIdInRequest"}', "HTTP 410 InvalidIdInRequest",
         "has no credentials for us", _NO_TASK_ROLE),
        (300, "", "HTTP 300", "answered a redirect",
         "redirects are not followed (they could lead elsewhere): use the final URL"),
        (399, "moved", "HTTP 399: moved", "answered a redirect",
         "redirects are not followed (they could lead elsewhere): use the final URL"),
        (404, "no such path", "HTTP 404: no such path", "does not know this path",
         "check the URL variable: the ECS agent serves /v2/credentials/<id>"),
        (405, '{"message": "GET only"}', "HTTP 405: GET only", "refused the request",
         "check the endpoint URL and the agent's logs"),
        (418, "", "HTTP 418", "refused the request", "check the endpoint URL and the agent's logs"),
    ],
)  # fmt: skip
def test_each_refusal_says_what_the_endpoint_answered_and_the_fix(
    server: EndpointServer, endpoint: Endpoint, status: int, body: str, said: str, what: str,
    fix: str,
) -> None:  # fmt: skip
    error = refusal(server, endpoint, status, body)
    url = shown_url(endpoint.url)
    assert error.what == f"the container credentials endpoint {url} {what} ({said})"
    assert error.fix == fix
    parsed = json.loads(body) if body.startswith("{") else {}
    assert (error.status, error.attempts, error.url) == (status, 1, url)
    assert error.code == (parsed.get("code") or parsed.get("Code"))
    assert error.endpoint_message == (parsed.get("message") if parsed else body or None)
    assert server.requests == 1  # refusals are final: no retry


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_file_names_the_file_and_the_rotation(
    server: EndpointServer, tmp_path: Path, status: int
) -> None:
    endpoint = detect_endpoint(server.environ(token_file=str(tmp_path / "token")))
    error = refusal(server, endpoint, status, '{"code": "AccessDenied", "message": "no"}')
    url = shown_url(endpoint.url)
    assert error.what == (
        f"the container credentials endpoint {url} refused the authorization "
        f"(HTTP {status} AccessDenied: no)"
    )
    assert error.fix == (
        f"the token read from {str(tmp_path / 'token')!r} (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)"
        " was rejected: check the variable names the token file the endpoint's agent writes (EKS"
        " Pod Identity rotates it; ecs-xrole re-reads it on every request)"
    )


def test_a_refused_token_variable_suggests_the_token_file(
    server: EndpointServer, endpoint: Endpoint
) -> None:
    assert endpoint.auth == "token"
    error = refusal(server, endpoint, 403)
    url = shown_url(endpoint.url)
    assert error.what == (
        f"the container credentials endpoint {url} refused the authorization (HTTP 403)"
    )
    assert error.fix == (
        "the token in AWS_CONTAINER_AUTHORIZATION_TOKEN was rejected: it is wrong or was "
        "rotated; prefer AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE so a rotated token is picked up"
    )


def test_an_endpoint_that_wants_a_token_we_do_not_have_says_which_variables() -> None:
    with EndpointServer(known_credentials()) as open_server:
        endpoint = detect_endpoint(open_server.environ())
        assert endpoint.auth == "none"
        error = refusal(open_server, endpoint, 401)
    assert error.fix == (
        "the endpoint wants an Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "
        "or AWS_CONTAINER_AUTHORIZATION_TOKEN"
    )
    assert error.what == (
        f"the container credentials endpoint {shown_url(endpoint.url)} refused the "
        "authorization (HTTP 401)"
    )


# -- the wall-clock deadline against a server that drips its answer ---------------------------


_DRIP_HEAD = {
    # The status line, then the headers a byte at a time.
    "headers": (b"HTTP/1.1 200 OK\r\n", b"X"),
    # Whole headers (the connection is to close: http.client detaches its socket), then the
    # body a byte at a time.
    "body": (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"
        b"Connection: close\r\n\r\n",
        b" ",
    ),
}


@pytest.fixture(params=sorted(_DRIP_HEAD))
def dripping_endpoint(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    """An endpoint that sends the start of an answer, then one byte every 50 ms, forever: every
    socket read succeeds, so only the wall-clock deadline can end the request."""
    head, byte = _DRIP_HEAD[request.param]
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(head)
                while not stop.wait(0.05):
                    conn.sendall(byte)
            except OSError:
                pass  # the client cut the connection

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield Endpoint(f"http://127.0.0.1:{listener.getsockname()[1]}/creds")
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.fixture
def fresh_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    # A watchdog whose thread starts in this test (mutation testing maps the watchdog's code
    # to the tests it sees run it), replaced by the process's own afterwards.
    monkeypatch.setattr(_http, "_watchdog", _http._Watchdog())


_CUT = "last: timed out: the deadline passed before the answer was complete"


@pytest.mark.usefixtures("fresh_watchdog")
def test_a_dripping_endpoint_is_cut_at_the_deadline_every_time(dripping_endpoint: Endpoint) -> None:
    for _ in range(2):  # the watchdog outlives the first cut and ends the next request too
        with pytest.raises(EndpointRequestError) as info:
            fetch_credentials(dripping_endpoint, deadline=0.4, read_timeout=0.3)
        assert info.value.status is None
        assert "gave up after 1 attempt in " in info.value.what  # cut by the watchdog
        assert "(deadline 0.4 s; " in info.value.what
        assert info.value.what.endswith(_CUT)
    thread = _http._watchdog._thread
    assert thread is not None
    assert (thread.name, thread.daemon) == ("ecs-xrole-deadline-watchdog", True)


@pytest.mark.usefixtures("fresh_watchdog")
def test_the_watchdog_cuts_each_request_at_its_own_deadline(dripping_endpoint: Endpoint) -> None:
    # Two requests on two threads with different deadlines, both watched by one thread: each
    # ends, and says its own deadline.
    results: dict[float, BaseException] = {}

    def call(deadline: float) -> None:
        try:
            fetch_credentials(dripping_endpoint, deadline=deadline, read_timeout=0.3)
        except BaseException as exc:
            results[deadline] = exc

    threads = [threading.Thread(target=call, args=(d,)) for d in (0.4, 1.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(results) == [0.4, 1.0]
    for deadline, exc in results.items():
        assert isinstance(exc, EndpointRequestError)
        assert f"(deadline {deadline:g} s; " in str(exc)
        assert exc.what.endswith(_CUT)


def test_after_fork_the_child_has_its_own_pool_lock_watchdog_and_jitter(
    monkeypatch: pytest.MonkeyPatch, dripping_endpoint: Endpoint
) -> None:
    # The fork hook, run in this process: a forked child's mutations could not be reported.
    pool = _http.http_pool()
    monkeypatch.setattr(_http, "_pool", pool)
    monkeypatch.setattr(_http, "_pool_lock", _http._pool_lock)
    monkeypatch.setattr(_http, "_watchdog", _http._watchdog)
    lock, watchdog = _http._pool_lock, _http._watchdog
    state = _http._jitter.getstate()
    lock.acquire()  # held by a parent thread that does not exist in the child
    try:
        _http._forget_pool_after_fork()
        assert _http._pool is None
        assert _http._pool_lock is not lock
        assert _http._watchdog is not watchdog
        assert _http._jitter.getstate() != state
        assert _http.http_pool() is not pool  # a new pool, made under the new lock
        # The new watchdog works: a request to an endpoint that never finishes still ends.
        with pytest.raises(EndpointRequestError) as info:
            fetch_credentials(dripping_endpoint, deadline=0.4, read_timeout=0.3)
        assert info.value.what.endswith(_CUT)
    finally:
        lock.release()


def test_a_refusal_after_a_retry_counts_both_attempts(
    server: EndpointServer, endpoint: Endpoint
) -> None:
    server.queue(503, ("status", 403, "", {}))
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint, deadline=5)
    assert (info.value.status, info.value.attempts) == (403, 2)


def test_a_plain_400_says_the_endpoint_has_no_credentials_for_us(
    server: EndpointServer, endpoint: Endpoint
) -> None:
    error = refusal(server, endpoint, 400)
    assert error.what.endswith(" has no credentials for us (HTTP 400)")


# -- the OS-level reason in a failure's cause (what a user reads after "last:") ---------------


def _chain(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


def test_the_os_reason_is_found_anywhere_in_the_chain_once() -> None:
    import http.client

    refused = ConnectionRefusedError(111, "Connection refused")
    assert fetch._os_reason(_chain(ValueError("wrapper"), refused)) == "Connection refused"
    # An exception met twice (in args and as the cause) is looked at once, and the search
    # goes on past it to the reason.
    twice = ValueError("twice")
    outer = _chain(RuntimeError(twice, twice), refused)
    assert fetch._os_reason(outer) == "Connection refused"
    # A cycle of contexts ends.
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert fetch._os_reason(a) is None
    # The outer error itself is not its own reason, even when it is an HTTP one.
    assert fetch._os_reason(_chain(http.client.BadStatusLine("junk"), refused)) == (
        "Connection refused"
    )
    # An HTTP error inside says what it is: its text, or its type when it has none.
    inner = http.client.RemoteDisconnected("Remote end closed connection without response")
    assert fetch._os_reason(_chain(ValueError("x"), inner)) == (
        "Remote end closed connection without response"
    )
    assert fetch._os_reason(_chain(ValueError("x"), http.client.IncompleteRead(b""))) == (
        "IncompleteRead(0 bytes read)"
    )
    assert fetch._os_reason(_chain(ValueError("x"), http.client.HTTPException())) == (
        "HTTPException"
    )
    assert fetch._os_reason(ValueError("nothing below")) is None


# -- what giving up says: the attempts, the last answer, and the fix for it -------------------


def _gave_up(endpoint: Endpoint, attempts: int, last: str, deadline: float = 5) -> str:
    plural = "s" if attempts != 1 else ""
    return (
        rf"could not get credentials from the container credentials endpoint "
        rf"{re.escape(shown_url(endpoint.url))}: gave up after {attempts} attempt{plural} in "
        rf"\d+\.\d s \(deadline {deadline:g} s; max_attempts={attempts} reached\); last: {last}"
    )


@pytest.mark.parametrize(
    ("fault", "last", "fix"),
    [
        (("status", 503, '{"code": "CredentialsUninitialized", "message": "not yet"}', {}),
         r"HTTP 503 CredentialsUninitialized: not yet",
         "the ECS agent has not loaded this task's credentials yet (it restarted?): retry in a "
         "few seconds"),
        (("status", 429, "slow down", {}), r"HTTP 429: slow down",
         "the endpoint is throttling (ECS on EC2 allows 40 requests/s per task by default): "
         "share one session or cache credentials instead of fetching per call"),
        (("status", 500, "", {}), r"HTTP 500",
         "the endpoint's agent is failing: retry later and check the agent's logs"),
    ],
)  # fmt: skip
def test_giving_up_on_an_answer_says_how_often_what_came_last_and_the_fix(
    server: EndpointServer, endpoint: Endpoint, fault: Any, last: str, fix: str
) -> None:
    for attempts in (1, 2):
        server.queue(*[fault] * attempts)
        with pytest.raises(EndpointRequestError) as info:
            fetch_credentials(endpoint, deadline=5, max_attempts=attempts)
        assert re.fullmatch(_gave_up(endpoint, attempts, last), info.value.what), info.value.what
        assert info.value.fix == fix
        assert info.value.attempts == attempts


def test_giving_up_on_a_dead_endpoint_says_to_check_it_is_reachable() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    endpoint = Endpoint(f"http://127.0.0.1:{port}/creds")  # nothing listens: refused
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint, deadline=5, max_attempts=1)
    assert re.fullmatch(_gave_up(endpoint, 1, r".*Connection refused.*"), info.value.what)
    assert info.value.fix == (
        "check the endpoint is reachable from here (in ECS, 169.254.170.2 is routed to the agent "
        "for awsvpc and bridge tasks; a local endpoint must be running), or pass a longer deadline"
    )
    assert info.value.status is None


def test_the_last_http_answer_is_reported_over_a_later_connection_failure(
    server: EndpointServer, endpoint: Endpoint
) -> None:
    server.queue(("status", 503, "busy", {}), "reset")
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint, deadline=5, max_attempts=2)
    assert re.fullmatch(_gave_up(endpoint, 2, r"(?!HTTP).+ \(before that: HTTP 503: busy\)"),
                        info.value.what), info.value.what  # fmt: skip
    assert (info.value.status, info.value.endpoint_message) == (503, "busy")
    assert (
        info.value.fix == "the endpoint's agent is failing: retry later and check the agent's logs"
    )


# -- what the endpoint said: quoted cleaned, clipped, decoded leniently, without secrets -------


def _refusal(server: EndpointServer, body: str | bytes, path: str | None = None) -> Any:
    if path is not None:
        server.path = path
    return refusal(server, detect_endpoint(server.environ()), 404, body)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ('{"code": "' + "C" * 100 + '", "message": "m"}', "C" * 80 + "...", "m"),
        ('{"code": 123, "message": "m"}', None, "m"),
        ('{"code": "C", "message": ["not", "text"]}', "C", None),
        ('{"code": "", "message": "m"}', None, "m"),
        ("x" * 300, None, "x" * 200 + "..."),
        ("x" * 200, None, "x" * 200),
        (b"\xff oops\x1b[31m red\r\n", None, "\ufffd oops [31m red"),
        ("[1, 2]", None, "[1, 2]"),
    ],
)
def test_what_the_endpoint_said_is_cleaned_and_clipped(
    server: EndpointServer, body: str | bytes, code: str | None, message: str | None
) -> None:
    error = _refusal(server, body)
    assert (error.code, error.endpoint_message) == (code, message)


def test_the_token_and_credentials_id_the_endpoint_echoes_are_hidden(
    server: EndpointServer,
) -> None:
    credentials_id = "0123456789abcdef0123"
    body = json.dumps({"code": AUTH_TOKEN, "message": f"no {credentials_id} for {AUTH_TOKEN}"})
    error = _refusal(server, body, path=f"/v2/credentials/{credentials_id}")
    hidden = f"<redacted, {len(AUTH_TOKEN)} characters>"
    assert error.code == hidden
    assert error.endpoint_message == f"no 0123... for {hidden}"


@pytest.mark.parametrize("path", ["/v2/credentials/abcd", "/creds"])
def test_a_short_or_absent_credentials_id_is_left_as_it_is(
    server: EndpointServer, path: str
) -> None:
    error = _refusal(server, '{"message": "no abcd here"}', path=path)
    assert error.endpoint_message == "no abcd here"


def test_what_went_wrong_on_the_wire_is_said_in_a_few_words() -> None:
    from urllib3.exceptions import NewConnectionError, ProtocolError

    assert fetch._describe(ProtocolError("Connection aborted.")) == (
        "the connection was closed without an answer (reset)"
    )
    refused = ProtocolError("aborted", ConnectionResetError(104, "Connection reset by peer"))
    assert fetch._describe(refused) == (
        "the connection was closed without an answer (Connection reset by peer)"
    )
    assert fetch._describe(NewConnectionError(None, "failed")) == (  # type: ignore[arg-type]
        "cannot connect (connection failed)"
    )
    assert fetch._describe(ValueError("odd\x1b[2J thing")) == "ValueError: odd [2J thing"


def _retry_after_header(form: str) -> str:
    later = datetime.now(timezone.utc) + timedelta(seconds=100)
    if form == "date":
        return email.utils.format_datetime(later, usegmt=True)
    if form == "date without zone":  # "-0000": no zone given, taken as UTC
        return email.utils.format_datetime(later.replace(tzinfo=None))
    return "7200"


@pytest.mark.parametrize(
    ("form", "said"),
    [("date", r"(99|100)"), ("date without zone", r"(99|100)"), ("seconds", "3600")],
)
def test_a_retry_after_beyond_the_deadline_is_read_as_seconds_or_a_date(
    server: EndpointServer, endpoint: Endpoint, form: str, said: str
) -> None:
    server.queue(("status", 503, "busy", {"Retry-After": _retry_after_header(form)}))
    with pytest.raises(EndpointRequestError) as info:
        fetch_credentials(endpoint, deadline=2)
    assert re.search(
        rf"the endpoint asked to retry after {said}(\.\d+)? s, beyond the deadline", info.value.what
    ), info.value.what  # seconds, capped at an hour
    assert info.value.attempts == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[]", "the body is a JSON array, not an object"),
        (b"{}", "the answer lacks AccessKeyId, SecretAccessKey, Token (it has: nothing)"),
        (b"nope", "the body (4 characters) is not JSON (Expecting value at character 0)"),
    ],
)
def test_an_unusable_200_says_what_is_wrong_and_where_to_look(body: bytes, problem: str) -> None:
    with pytest.raises(EndpointResponseError) as info:
        parse_credentials(body)
    assert str(info.value) == (
        "the container credentials endpoint answered 200 with unusable credentials: "
        f"{problem}. Fix: check that the URL points at an ECS agent or EKS Pod Identity agent"
    )


@pytest.mark.parametrize(
    ("expiration", "problem"),
    [
        ("yesterday",
         "Expiration (9 characters, not only date characters) cannot be read: not an RFC 3339 "
         "date-time"),
        ("2030-01-01T00:00:00+25:00",
         "Expiration '2030-01-01T00:00:00+25:00' cannot be read: the UTC offset is out of range"),
    ],
)  # fmt: skip
def test_an_unreadable_expiration_says_why_in_full(expiration: str, problem: str) -> None:
    body = json.dumps(
        {"AccessKeyId": KEY_ID, "SecretAccessKey": SECRET_KEY, "Token": "t",
         "Expiration": expiration}
    )  # fmt: skip
    with pytest.raises(EndpointResponseError) as info:
        parse_credentials(body)
    assert str(info.value) == (
        f"the container credentials endpoint answered 200 with unusable credentials: {problem}. "
        "Fix: check that the URL points at an ECS agent or EKS Pod Identity agent"
    )


def test_credentials_expired_on_arrival_say_when_and_to_check_the_clock() -> None:
    body = json.dumps(
        {"AccessKeyId": KEY_ID, "SecretAccessKey": SECRET_KEY, "Token": "t",
         "Expiration": "2001-01-01T00:00:00Z"}
    )  # fmt: skip
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(EndpointResponseError) as info:
        parse_credentials(body, now=now)
    assert str(info.value) == (
        "the container credentials endpoint answered 200 with unusable credentials: the "
        "credentials expired at 2001-01-01T00:00:00+00:00, before they arrived (now "
        "2026-01-01T00:00:00+00:00). Fix: check this host's clock, and the agent: it should "
        "rotate them well before"
    )


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("connect_timeout", -1,
         "connect_timeout -1 is not valid: it must be a positive number of seconds"),
        ("read_timeout", 0, "read_timeout 0 is not valid: it must be a positive number of seconds"),
        ("max_attempts", 0, "max_attempts 0 is not valid: it must be a whole number >= 1"),
        ("max_attempts", True, "max_attempts True is not valid: it must be a whole number >= 1"),
        ("max_attempts", 1.5, "max_attempts 1.5 is not valid: it must be a whole number >= 1"),
    ],
)  # fmt: skip
def test_each_bad_option_is_named_before_any_request(
    server: EndpointServer, endpoint: Endpoint, option: str, value: object, said: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        fetch_credentials(endpoint, **{option: value})  # type: ignore[arg-type]
    assert str(info.value) == said
    assert server.requests == 0
