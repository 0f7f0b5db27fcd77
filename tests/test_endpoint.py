"""detect_endpoint(): which variable wins, the host allow-list, the token, PID 1's environment."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecs_xrole._endpoint import (
    FULL_URI,
    RELATIVE_URI,
    TOKEN,
    TOKEN_FILE,
    Endpoint,
    check_endpoint_url,
    detect_endpoint,
)
from ecs_xrole._fetch import fetch_credentials
from ecs_xrole.errors import (
    EndpointNotAllowedError,
    EndpointNotConfiguredError,
    Error,
    InvalidInputError,
    TokenError,
)
from ecs_xrole.testing._agent import EndpointServer

SECRET_TOKEN = "tok-Zq9XvB7kPw3Lm2Nc"  # distinctive: any leak is found by substring


@pytest.fixture
def server() -> Iterator[EndpointServer]:
    with EndpointServer() as srv:
        yield srv


# -- which variable wins ---------------------------------------------------------------------


def test_relative_uri_is_appended_to_the_ecs_host() -> None:
    ep = detect_endpoint({RELATIVE_URI: "/v2/credentials/abc"})
    assert ep.url == "http://169.254.170.2/v2/credentials/abc"
    assert ep.auth == "none"
    assert ep.source == "explicit"
    assert ep.variables == (RELATIVE_URI,)
    assert ep.authorization() is None


def test_relative_uri_wins_over_full_uri() -> None:
    ep = detect_endpoint(
        {RELATIVE_URI: "/v2/credentials/abc", FULL_URI: "http://127.0.0.1:9/creds"}
    )
    assert ep.url == "http://169.254.170.2/v2/credentials/abc"
    assert ep.variables == (RELATIVE_URI,)


def test_relative_uri_wins_even_over_a_refused_full_uri() -> None:
    ep = detect_endpoint({RELATIVE_URI: "/v2/x", FULL_URI: "http://169.254.169.254/"})
    assert ep.url == "http://169.254.170.2/v2/x"


@pytest.mark.parametrize("relative", ["@evil.example/v2/x", "v2/credentials/x", ".evil.example/"])
def test_relative_uri_must_start_with_a_slash(relative: str) -> None:
    # Without the check "@evil.example/..." turns 169.254.170.2 into userinfo of another host.
    with pytest.raises(EndpointNotAllowedError, match="must start with '/'") as info:
        detect_endpoint({RELATIVE_URI: relative})
    assert info.value.name == RELATIVE_URI


def test_empty_variables_count_as_unset() -> None:
    ep = detect_endpoint({RELATIVE_URI: "", FULL_URI: "http://127.0.0.1:9/x", TOKEN: ""})
    assert ep.url == "http://127.0.0.1:9/x"
    assert ep.auth == "none"


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RELATIVE_URI, raising=False)
    monkeypatch.setenv(FULL_URI, "http://localhost:9/creds")
    monkeypatch.delenv(TOKEN_FILE, raising=False)
    monkeypatch.setenv(TOKEN, SECRET_TOKEN)
    ep = detect_endpoint()
    assert ep.source == "environment"
    assert ep.auth == "token"
    assert ep.variables == (FULL_URI, TOKEN)
    assert ep.authorization() == SECRET_TOKEN


# -- the host allow-list ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:51679/creds",
        "http://127.1.2.3/creds",
        "http://localhost/creds",
        "http://LOCALHOST:80/creds",
        "http://[::1]:8080/creds",
        "http://169.254.170.2/v2/credentials/x",
        "http://169.254.170.23/v1/credentials",
        "http://[fd00:ec2::23]/v1/credentials",
        "https://example.com/credentials",
        "https://10.0.0.1/credentials",
    ],
)
def test_allowed_full_uris(url: str) -> None:
    assert detect_endpoint({FULL_URI: url}).url == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/", "instance metadata"),
        ("http://10.0.0.1/creds", "'10.0.0.1' is not allowed"),
        ("http://192.168.1.1/creds", "'192.168.1.1' is not allowed"),
        ("http://8.8.8.8/creds", "'8.8.8.8' is not allowed"),
        ("http://example.com/creds", "'example.com' is not allowed"),
        ("http://127.0.0.1.nip.io/creds", "is not allowed"),  # a name, never resolved
        ("http://127.1/creds", "'127.1' is not allowed"),  # not a literal address
        ("http://localhost./creds", "is not allowed"),
        ("http://[::ffff:127.0.0.1]/creds", "is not allowed"),
        ("http://[fd00:ec2::254]/creds", "instance metadata"),
        ("ftp://127.0.0.1/creds", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("127.0.0.1:80/creds", "scheme"),
        ("http://user:pw@127.0.0.1/creds", "userinfo"),
        ("https://user@example.com/creds", "userinfo"),
        ("http:///creds", "names no host"),
        ("http://127.0.0.1:99999/creds", "not a valid URL"),
        ("http://127.0.0.1/cr eds", "white space"),
        ("http://127.0.0.1/creds\r\nX-Evil: 1", "control character"),
    ],
)
def test_refused_full_uris(url: str, says: str) -> None:
    with pytest.raises(EndpointNotAllowedError) as info:
        detect_endpoint({FULL_URI: url})
    text = str(info.value)
    assert says in text
    assert FULL_URI in text
    assert isinstance(info.value, InvalidInputError)  # the CLI exits 2 on it
    if "is not allowed" in text:
        assert "over http only loopback" in text  # the rule is named


def test_a_refused_url_never_shows_its_password() -> None:
    with pytest.raises(EndpointNotAllowedError) as info:
        check_endpoint_url("http://admin:Pa55-Zq9XvB7@127.0.0.1/creds")
    assert "Pa55-Zq9XvB7" not in str(info.value)
    assert "<redacted>@127.0.0.1" in str(info.value)


@pytest.mark.parametrize(
    "make_url",
    [
        lambda s: s.url.replace("http://", "http://user:pw@"),
        lambda s: s.url.replace("http://", "ftp://"),
        lambda s: s.url.replace("127.0.0.1", "127.0.0.1.nip.io"),
    ],
)
def test_refused_before_any_request(server: EndpointServer, make_url: object) -> None:
    url = make_url(server)  # type: ignore[operator]
    with pytest.raises(EndpointNotAllowedError):
        fetch_credentials(detect_endpoint({FULL_URI: url}), deadline=1)
    with pytest.raises(EndpointNotAllowedError):
        fetch_credentials(Endpoint(url), deadline=1)  # a hand-made Endpoint is checked too
    assert server.requests == 0


def test_a_hand_made_endpoint_is_checked() -> None:
    with pytest.raises(EndpointNotAllowedError, match=r"Endpoint\.url"):
        Endpoint("http://169.254.169.254/latest/meta-data/iam/security-credentials/")


# -- the token -------------------------------------------------------------------------------


def test_token_file_wins_over_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file\n")
    ep = detect_endpoint(
        {FULL_URI: "http://127.0.0.1:9/", TOKEN: "from-var", TOKEN_FILE: str(path)}
    )
    assert ep.auth == "token_file"
    assert ep.token_file == str(path)
    assert ep.variables == (FULL_URI, TOKEN_FILE)
    assert ep.authorization() == "from-file"


def test_token_file_is_read_at_every_call(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    ep = detect_endpoint({FULL_URI: "http://127.0.0.1:9/", TOKEN_FILE: str(path)})
    assert ep.authorization() == "first"
    path.write_text("second\n")
    assert ep.authorization() == "second"


def test_token_file_need_not_exist_when_detecting(tmp_path: Path) -> None:
    ep = detect_endpoint({FULL_URI: "http://127.0.0.1:9/", TOKEN_FILE: str(tmp_path / "later")})
    with pytest.raises(TokenError, match="cannot read") as info:
        ep.authorization()
    assert str(tmp_path / "later") in str(info.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"abc", "abc"),
        (b"abc\n", "abc"),
        (b"abc\r\n", "abc"),
        (b"Bearer abc.def-ghi", "Bearer abc.def-ghi"),
    ],
)
def test_token_file_one_trailing_newline_is_stripped(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "token"
    path.write_bytes(content)
    assert (
        Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=str(path)).authorization()
        == expected
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"abc\n\n", "CR or LF"),
        (b"abc\ndef", "CR or LF"),
        (b"abc\rdef\n", "CR or LF"),
        (b"abc\r\nX-Injected: yes\r\n", "CR or LF"),
        (b"abc\x00def", "control character"),
        (b"abc\tdef", "control character"),
        (b"", "empty"),
        (b"\n", "empty"),
        (b"caf\xc3\xa9", "not ASCII"),
    ],
)
def test_token_file_refusals(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "token"
    path.write_bytes(content)
    ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=str(path))
    with pytest.raises(TokenError) as info:
        ep.authorization()
    assert says in str(info.value)
    assert str(path) in str(info.value)
    assert "abc" not in str(info.value).replace(str(path), "")


def test_unreadable_token_file_names_the_path(tmp_path: Path) -> None:
    ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=str(tmp_path / "missing"))
    with pytest.raises(TokenError, match="cannot read") as info:
        ep.authorization()
    assert str(tmp_path / "missing") in str(info.value)
    assert TOKEN_FILE in str(info.value)


def test_a_directory_as_token_file_is_refused_unread(tmp_path: Path) -> None:
    ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=str(tmp_path))
    with pytest.raises(TokenError, match="is a directory, not a regular file") as info:
        ep.authorization()
    assert str(tmp_path) in str(info.value)
    assert TOKEN_FILE in str(info.value)


def test_token_variable_with_cr_lf_is_refused() -> None:
    ep = detect_endpoint({FULL_URI: "http://127.0.0.1:9/", TOKEN: SECRET_TOKEN + "\r\nX-Evil: 1"})
    with pytest.raises(TokenError, match="header injection") as info:
        ep.authorization()
    assert SECRET_TOKEN not in str(info.value)
    assert TOKEN in str(info.value)


def test_endpoint_repr_and_equality_never_hold_the_token() -> None:
    a = detect_endpoint({FULL_URI: "http://127.0.0.1:9/", TOKEN: SECRET_TOKEN})
    b = detect_endpoint({FULL_URI: "http://127.0.0.1:9/", TOKEN: "another-token-entirely"})
    assert SECRET_TOKEN not in repr(a)
    assert SECRET_TOKEN not in str(a)
    assert SECRET_TOKEN not in repr(a.token)
    assert repr(a.token) == str(a.token) == f"<redacted, {len(SECRET_TOKEN)} characters>"
    assert a == b
    assert hash(a) == hash(b)
    assert a.authorization() == SECRET_TOKEN


# -- PID 1's environment ---------------------------------------------------------------------


def _write_environ(path: Path, variables: dict[str, str]) -> str:
    path.write_bytes(b"\0".join(f"{k}={v}".encode() for k, v in variables.items()) + b"\0")
    return str(path)


@pytest.fixture
def no_endpoint_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (RELATIVE_URI, FULL_URI, TOKEN, TOKEN_FILE):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_endpoint_env")
def test_pid1_environ_is_read_when_this_process_has_nothing(tmp_path: Path) -> None:
    path = _write_environ(
        tmp_path / "environ",
        {"PATH": "/usr/bin", RELATIVE_URI: "/v2/credentials/from-pid1", TOKEN: SECRET_TOKEN},
    )
    ep = detect_endpoint(pid1_environ_path=path)
    assert ep.source == "pid1"
    assert ep.url == "http://169.254.170.2/v2/credentials/from-pid1"
    assert ep.authorization() == SECRET_TOKEN


@pytest.mark.usefixtures("no_endpoint_env")
def test_read_pid1_false_turns_the_fallback_off(tmp_path: Path) -> None:
    path = _write_environ(tmp_path / "environ", {RELATIVE_URI: "/v2/credentials/x"})
    with pytest.raises(EndpointNotConfiguredError, match="not consulted"):
        detect_endpoint(read_pid1=False, pid1_environ_path=path)


def test_this_process_wins_over_pid1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(RELATIVE_URI, raising=False)
    monkeypatch.setenv(FULL_URI, "http://127.0.0.1:9/mine")
    path = _write_environ(tmp_path / "environ", {RELATIVE_URI: "/v2/credentials/pid1"})
    ep = detect_endpoint(pid1_environ_path=path)
    assert (ep.source, ep.url) == ("environment", "http://127.0.0.1:9/mine")


def test_an_explicit_mapping_consults_pid1_only_when_asked(tmp_path: Path) -> None:
    path = _write_environ(tmp_path / "environ", {FULL_URI: "http://127.0.0.1:9/pid1"})
    with pytest.raises(EndpointNotConfiguredError):
        detect_endpoint({}, pid1_environ_path=path)
    ep = detect_endpoint({}, read_pid1=True, pid1_environ_path=path)
    assert (ep.source, ep.url) == ("pid1", "http://127.0.0.1:9/pid1")


def test_pid1_uri_is_checked_too(tmp_path: Path) -> None:
    path = _write_environ(tmp_path / "environ", {FULL_URI: "http://169.254.169.254/"})
    with pytest.raises(EndpointNotAllowedError):
        detect_endpoint({}, read_pid1=True, pid1_environ_path=path)


# -- no endpoint at all ----------------------------------------------------------------------


@pytest.mark.usefixtures("no_endpoint_env")
def test_no_endpoint_error_names_what_was_looked_for(tmp_path: Path) -> None:
    path = _write_environ(tmp_path / "environ", {"PATH": "/usr/bin"})
    with pytest.raises(EndpointNotConfiguredError) as info:
        detect_endpoint(pid1_environ_path=path)
    text = str(info.value)
    for needle in (RELATIVE_URI, FULL_URI, TOKEN_FILE, "this process", path, "taskRoleArn"):
        assert needle in text
    assert "ECS Exec" in text
    assert "sudo -E" in text
    assert "Pod Identity" in text
    assert "does not set them either" in text
    assert isinstance(info.value, Error)


@pytest.mark.usefixtures("no_endpoint_env")
@pytest.mark.parametrize(
    ("make_path", "says"),
    [
        (lambda tmp: str(tmp / "missing"), "does not exist"),
        (lambda tmp: str(tmp), "is not readable"),  # a directory: unreadable even for root
    ],
)
def test_no_endpoint_error_says_whether_pid1_was_readable(
    tmp_path: Path, make_path: object, says: str
) -> None:
    path = make_path(tmp_path)  # type: ignore[operator]
    with pytest.raises(EndpointNotConfiguredError, match=says):
        detect_endpoint(pid1_environ_path=path)


def test_real_proc_1_environ_is_handled() -> None:
    # Whatever this machine allows, the real file must give an endpoint or a clear error.
    try:
        outcome = detect_endpoint({}, read_pid1=True).source
    except EndpointNotConfiguredError as exc:
        outcome = str(exc)
    assert outcome == "pid1" or "/proc/1/environ" in outcome


# -- hostile or incomplete input (issue 14) ---------------------------------------------------


def test_a_token_file_over_64_kib_is_refused_and_one_of_64_kib_is_read(tmp_path: Path) -> None:
    path = tmp_path / "token"
    ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=str(path))
    path.write_bytes(b"t" * (64 * 1024))
    assert ep.authorization() == "t" * (64 * 1024)
    path.write_bytes(b"t" * (64 * 1024) + b"\n")  # the newline is the 65 537th byte
    with pytest.raises(TokenError, match="larger than 65536 bytes") as info:
        ep.authorization()
    assert str(path) in str(info.value)
    assert "ttt" not in str(info.value)


@pytest.mark.parametrize("bad", ["\x7f", "\x01", "\x1f", "\u00e9", "\u2603", "\x80"])
def test_a_token_variable_with_del_control_or_non_ascii_is_refused(bad: str) -> None:
    ep = detect_endpoint({FULL_URI: "http://127.0.0.1:9/", TOKEN: SECRET_TOKEN + bad})
    with pytest.raises(TokenError) as info:
        ep.authorization()
    assert SECRET_TOKEN not in str(info.value)
    assert TOKEN in str(info.value)
    assert "not a legal header value" in str(info.value) or "non-ASCII" in str(info.value)


def test_a_token_file_with_del_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(SECRET_TOKEN.encode() + b"\x7f")
    ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=str(path))
    with pytest.raises(TokenError, match="control character") as info:
        ep.authorization()
    assert SECRET_TOKEN not in str(info.value)


@pytest.mark.parametrize("printable", ["~", " ", "!", "Bearer a.b-c_d"])
def test_printable_ascii_tokens_pass_unchanged(printable: str) -> None:
    token = "x" + printable + "y"
    assert detect_endpoint({FULL_URI: "http://127.0.0.1:9/", TOKEN: token}).authorization() == (
        token
    )
    assert (
        detect_endpoint({FULL_URI: "http://127.0.0.1:9/", TOKEN: token + "\r\n"}).authorization()
        == token
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1/cr\x7feds", "http://127.0.0.1\x7f/creds"])
def test_a_url_with_del_is_refused(url: str) -> None:
    with pytest.raises(EndpointNotAllowedError, match="control character"):
        check_endpoint_url(url)
    with pytest.raises(EndpointNotAllowedError):
        Endpoint(url)


def test_an_endpoint_made_without_its_token_says_so() -> None:
    ep = Endpoint("http://127.0.0.1:9/creds", auth="token")
    with pytest.raises(TokenError, match="holds no token") as info:
        ep.authorization()
    assert TOKEN in str(info.value)
    assert isinstance(info.value, Error)


def test_an_endpoint_made_without_its_token_file_says_so() -> None:
    ep = Endpoint("http://127.0.0.1:9/creds", auth="token_file")
    with pytest.raises(TokenError, match="names no token file") as info:
        ep.authorization()
    assert TOKEN_FILE in str(info.value)


def test_a_hand_made_token_is_wrapped_and_used() -> None:
    ep = Endpoint("http://127.0.0.1:9/creds", auth="token", token=SECRET_TOKEN)
    assert ep.authorization() == SECRET_TOKEN
    assert SECRET_TOKEN not in repr(ep)
    assert Endpoint("http://127.0.0.1:9/creds").authorization() is None


# -- the whole message, word for word (what docs/troubleshooting.md quotes) --------------------

_URL_FIX = (
    f"Fix: point {FULL_URI} at the ECS agent (http://169.254.170.2/...), the EKS Pod Identity "
    "agent (http://169.254.170.23/v1/credentials) or a loopback endpoint, or use https for any "
    "other host"
)
_RULE = (
    "over http only loopback (127.0.0.0/8, [::1], localhost), 169.254.170.2, 169.254.170.23 "
    "and [fd00:ec2::23] may serve credentials"
)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.1/c", f"host '10.0.0.1' is not allowed: {_RULE}"),
        (
            "http://169.254.169.254/c",
            "host '169.254.169.254' is not allowed (that is the EC2 instance metadata service, "
            f"not a container endpoint): {_RULE}",
        ),
        ("ftp://127.0.0.1/c", "the scheme 'ftp' is not http or https"),
        ("//127.0.0.1/c", "the scheme '<none>' is not http or https"),
        ("http:///c", "it names no host"),
        ("http://127.0.0.1:99999/c", "it is not a valid URL (Port out of range 0-65535)"),
        ("http://127.0.0.1/c d", "it holds white space or a control character"),
    ],
)
def test_each_refused_url_reads_as_documented(url: str, message: str) -> None:
    with pytest.raises(EndpointNotAllowedError) as info:
        check_endpoint_url(url)
    assert str(info.value) == f"{FULL_URI} {url!r} is not valid: {message}. {_URL_FIX}"
    assert info.value.name == FULL_URI


def test_userinfo_is_refused_and_never_shown() -> None:
    with pytest.raises(EndpointNotAllowedError) as info:
        check_endpoint_url("http://u:pw@127.0.0.1/c", name="Endpoint.url")
    assert str(info.value) == (
        "Endpoint.url 'http://<redacted>@127.0.0.1/c' is not valid: it holds userinfo "
        f"(user:password@); credentials URLs may not. {_URL_FIX}"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "the authorization token from X is empty. Fix: write the token the endpoint expects (EKS Pod Identity mounts it for you)"),  # noqa: E501
        ("\r\n", "the authorization token from X is empty. Fix: write the token the endpoint expects (EKS Pod Identity mounts it for you)"),  # noqa: E501
        ("a\rb", "the authorization token from X (<redacted, 3 characters>) holds a CR or LF character: refused, it would inject HTTP headers (header injection). Fix: write the token on one line; one trailing newline is allowed"),  # noqa: E501
        ("a\x7fb", "the authorization token from X (<redacted, 3 characters>) holds a control character (code 127): refused, it is not a legal header value (header injection). Fix: write the token as plain printable text"),  # noqa: E501
        ("a\u00e9", "the authorization token from X (<redacted, 2 characters>) holds a non-ASCII character: refused, it is not a legal header value. Fix: write the token as plain ASCII text"),  # noqa: E501
    ],
)  # fmt: skip
def test_each_refused_token_reads_as_documented(raw: str, message: str) -> None:
    from ecs_xrole._endpoint import check_token

    with pytest.raises(TokenError) as info:
        check_token(raw, origin="X")
    assert str(info.value) == message


def test_the_missing_token_messages_read_as_documented() -> None:
    with pytest.raises(TokenError) as info:
        Endpoint("http://127.0.0.1:9/c", auth="token").authorization()
    assert str(info.value) == (
        "Endpoint(auth='token') for http://127.0.0.1:9/c holds no token. Fix: build the "
        f"endpoint with token=... or set {TOKEN}"
    )
    with pytest.raises(TokenError) as info:
        Endpoint("http://127.0.0.1:9/c", auth="token_file").authorization()
    assert str(info.value) == (
        "Endpoint(auth='token_file') for http://127.0.0.1:9/c names no token file. Fix: build "
        f"the endpoint with token_file=... or set {TOKEN_FILE}"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:p@127.0.0.1:9/v2/credentials/abcdefgh?x=1#f", "http://<redacted>@127.0.0.1:9/v2/credentials/abcd...?..."),
        ("http://h/v2/credentials/abcd", "http://h/v2/credentials/..."),
        ("http://h/v2/credentials/abcde", "http://h/v2/credentials/abcd..."),
        ("http://h/c#frag", "http://h/c#..."),
        ("http://h/c", "http://h/c"),
        ("/v2/credentials/abcdefgh", "/v2/credentials/abcd..."),
    ],
)  # fmt: skip
def test_shown_url_hides_the_credentials_id_query_and_userinfo(url: str, shown: str) -> None:
    from ecs_xrole._endpoint import credentials_id, shown_url

    assert shown_url(url) == shown
    if "/credentials/" in url:
        assert credentials_id(url) == url.split("/credentials/")[1].split("?")[0]
    else:
        assert credentials_id(url) is None


# -- which variable an error names; PID 1's file; what a token file is -----------------------


def test_a_refused_variable_is_the_one_named() -> None:
    with pytest.raises(EndpointNotAllowedError) as info:
        detect_endpoint({FULL_URI: "http://10.0.0.1/c"})
    assert info.value.name == FULL_URI
    with pytest.raises(EndpointNotAllowedError) as info:
        detect_endpoint({RELATIVE_URI: "/v2/credentials/a b"})
    assert info.value.name == RELATIVE_URI
    with pytest.raises(EndpointNotAllowedError) as info:
        detect_endpoint({RELATIVE_URI: "v2/credentials/abcdefgh"})
    assert str(info.value) == (
        f"{RELATIVE_URI} 'v2/credentials/abcd...' is not valid: a relative URI must start with "
        "'/' (it is appended to http://169.254.170.2). Fix: set it to the path the ECS agent "
        "gave, such as /v2/credentials/<id>"
    )


def test_pid1_environ_with_odd_entries_and_bytes_is_read_leniently(tmp_path: Path) -> None:
    path = tmp_path / "environ"
    path.write_bytes(
        b"\0".join(
            [
                b"=no-name",
                b"no-equals-sign",
                b"HOME=/r\xffoot",
                f"{RELATIVE_URI}=/v2/credentials/abc".encode(),
                b"",
            ]
        )
    )
    ep = detect_endpoint({}, read_pid1=True, pid1_environ_path=str(path))
    assert ep.url == "http://169.254.170.2/v2/credentials/abc"
    assert ep.source == "pid1"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_token_file_that_is_not_a_regular_file_is_named_by_its_kind(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        for path, kind in ((fifo, "a FIFO (named pipe)"), ("/dev/null", "a character device")):
            ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=str(path))
            with pytest.raises(TokenError) as info:
                ep.authorization()
            assert str(info.value) == (
                f"the authorization token file {str(path)!r} ({TOKEN_FILE}) is {kind}, not a "
                "regular file: refused without reading it (it could block or never end). Fix: "
                f"point {TOKEN_FILE} at the token file itself (EKS Pod Identity mounts it at "
                "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token)"
            )
        ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=str(sock_path))
        with pytest.raises(TokenError, match=r"cannot read|is a socket"):
            ep.authorization()
    finally:
        sock.close()


# -- the token file and PID 1's environment: what each refusal says --------------------------


def test_a_missing_token_file_says_so_in_full(tmp_path: Path) -> None:
    path = str(tmp_path / "missing")
    ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=path)
    with pytest.raises(TokenError) as info:
        ep.authorization()
    assert str(info.value) == (
        f"cannot read the authorization token file {path!r} ({TOKEN_FILE}): No such file or "
        "directory. Fix: check the path and that this user may read it (EKS Pod Identity mounts "
        "it at /var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token)"
    )


def test_a_token_file_that_is_not_ascii_is_refused_without_showing_it(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"tok\xe9\xff")
    ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=str(path))
    with pytest.raises(TokenError) as info:
        ep.authorization()
    assert str(info.value) == (
        f"the authorization token file {str(path)!r} holds bytes that are not ASCII text "
        f"(<redacted, 5 characters>). Fix: point {TOKEN_FILE} at the token file itself"
    )


def test_a_huge_token_file_is_refused_after_reading_only_past_the_limit(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "token"
    with path.open("wb") as handle:
        handle.truncate(256 * 1024 * 1024)  # sparse: 256 MiB of zeros on no disk
    ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=str(path))
    tracemalloc.start()
    try:
        with pytest.raises(TokenError) as info:
            ep.authorization()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # it read the limit and a byte, not the whole file
    assert str(info.value) == (
        f"the authorization token file {str(path)!r} is larger than 65536 bytes. Fix: point "
        f"{TOKEN_FILE} at the token file itself"
    )


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        (stat.S_IFIFO, "a FIFO (named pipe)"),
        (stat.S_IFCHR, "a character device"),
        (stat.S_IFBLK, "a block device"),
        (stat.S_IFDIR, "a directory"),
        (stat.S_IFSOCK, "a socket"),
        (0, "a special file"),
    ],
)
def test_each_kind_of_file_is_named_in_the_refusal(mode: int, kind: str) -> None:
    from ecs_xrole._endpoint import _file_kind

    assert _file_kind(mode | 0o600) == kind


@pytest.mark.skipif(not hasattr(os, "setsid"), reason="needs sessions and terminals")
def test_a_terminal_as_token_file_does_not_become_the_controlling_terminal() -> None:
    # A session leader with no controlling terminal that opens a terminal without O_NOCTTY
    # acquires it (and its signals). The token file is opened in such a child.
    with pytest.raises(TokenError):  # once in this process too: mutation testing maps the
        Endpoint("http://127.0.0.1:9/", auth="token_file", token_file="/dev/null").authorization()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            os.setsid()
            _master, slave = os.openpty()  # the master end keeps the terminal open
            ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file=os.ttyname(slave))
            try:
                ep.authorization()
            except TokenError as exc:
                code = 2 if "a character device" not in str(exc) else 0
            try:
                os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
                code = 1  # it has a controlling terminal now
            except OSError:
                pass
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.usefixtures("no_endpoint_env")
def test_pid1_environ_that_cannot_be_read_is_explained(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(EndpointNotConfiguredError) as info:
        detect_endpoint(pid1_environ_path=missing)
    assert f"{missing} does not exist (not Linux, or /proc is not mounted)" in str(info.value)
    with pytest.raises(EndpointNotConfiguredError) as info:
        detect_endpoint(pid1_environ_path=str(tmp_path))  # a directory: unreadable
    assert (
        f"{tmp_path} is not readable (Is a directory; only root or PID 1's user may read it)"
        in str(info.value)
    )


def test_pid1_environ_with_a_name_that_is_not_utf8_is_read(tmp_path: Path) -> None:
    path = tmp_path / "environ"
    path.write_bytes(
        b"B\xffAD=1\0" + f"{FULL_URI}=http://127.0.0.1:9/x\0{TOKEN}=dG9rZW4==\0".encode()
    )
    ep = detect_endpoint({}, read_pid1=True, pid1_environ_path=str(path))
    assert (ep.source, ep.url) == ("pid1", "http://127.0.0.1:9/x")
    assert ep.authorization() == "dG9rZW4=="  # a value may hold '=' (base64 padding)


def test_a_credentials_id_is_looked_for_in_the_path_only() -> None:
    from ecs_xrole._endpoint import credentials_id

    assert credentials_id("http://127.0.0.1:9/v2/credentials/abcdef?x=1") == "abcdef"
    assert credentials_id("http://127.0.0.1:9/creds?next=/credentials/abcdef") is None
    assert credentials_id("http://127.0.0.1:9/creds#/credentials/abcdef") is None


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs /proc/self/mem")
def test_a_token_file_that_fails_to_read_names_the_error() -> None:
    # /proc/self/mem is a regular file whose first page cannot be read: open succeeds, read fails.
    ep = Endpoint("http://127.0.0.1:9/", auth="token_file", token_file="/proc/self/mem")
    with pytest.raises(TokenError) as info:
        ep.authorization()
    assert str(info.value).startswith(
        f"cannot read the authorization token file '/proc/self/mem' ({TOKEN_FILE}): "
        "Input/output error. Fix: check the path"
    )


_NO_ENDPOINT_FIX = (
    "run in an ECS task whose task definition has a taskRoleArn (ECS then sets "
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), or in an EKS pod with a Pod Identity association "
    "(it sets AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE). In "
    "an ECS Exec shell or under sudo the task's variables are not inherited: use `sudo -E`, run "
    "as root so /proc/1/environ can be read, or export the variable from the task's main "
    "process. On a laptop, set ECS_XROLE_SOURCE_PROFILE=<profile> (or pass --source-profile) to "
    "take the source credentials from that AWS profile instead (keys, SSO: anything the AWS CLI "
    "can use), or start the stand-ins of ecs_xrole.testing and set "
    "AWS_CONTAINER_CREDENTIALS_FULL_URI to their endpoint's url"
)


@pytest.mark.usefixtures("no_endpoint_env")
@pytest.mark.parametrize(
    ("kwargs", "where", "pid1"),
    [
        ({"environ": {}}, "the mapping passed in", "PID 1 was not consulted (read_pid1 is off)"),
        ({"read_pid1": False}, "this process", "PID 1 was not consulted (read_pid1 is off)"),
    ],
)
def test_no_endpoint_says_where_it_looked_and_every_way_to_get_one(
    kwargs: dict[str, object], where: str, pid1: str
) -> None:
    with pytest.raises(EndpointNotConfiguredError) as info:
        detect_endpoint(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"No ECS container credentials endpoint: neither {RELATIVE_URI} nor {FULL_URI} is set in "
        f"{where}, and {pid1}. Fix: {_NO_ENDPOINT_FIX}"
    )


@pytest.mark.usefixtures("no_endpoint_env")
def test_taking_the_endpoint_from_pid1_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    path = _write_environ(tmp_path / "environ", {FULL_URI: "http://127.0.0.1:9/x"})
    caplog.set_level(logging.DEBUG, logger="ecs_xrole.endpoint")
    detect_endpoint(pid1_environ_path=path)
    assert f"container credentials endpoint variables taken from {path}" in [
        r.getMessage() for r in caplog.records
    ]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:9/v2/a@b/creds", "http://127.0.0.1:9/v2/a@b/creds"),  # '@' in the path
        ("http://a@b@127.0.0.1:9/x", "http://<redacted>@127.0.0.1:9/x"),  # the last '@' ends it
    ],
)
def test_only_the_userinfo_before_the_host_is_hidden(url: str, shown: str) -> None:
    from ecs_xrole._endpoint import shown_url

    assert shown_url(url) == shown


def test_both_uris_set_the_relative_one_wins_and_it_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="ecs_xrole.endpoint")
    ep = detect_endpoint({RELATIVE_URI: "/v2/credentials/x", FULL_URI: "http://127.0.0.1:9/y"})
    assert ep.url == "http://169.254.170.2/v2/credentials/x"
    assert f"{FULL_URI} is set too; {RELATIVE_URI} wins, as in botocore" in [
        r.getMessage() for r in caplog.records
    ]


def test_a_token_file_endpoint_says_where_it_came_from(tmp_path: Path) -> None:
    ep = detect_endpoint({FULL_URI: "http://127.0.0.1:9/x", TOKEN_FILE: str(tmp_path / "t")})
    assert (ep.auth, ep.source) == ("token_file", "explicit")
