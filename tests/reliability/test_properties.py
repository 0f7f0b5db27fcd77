"""Property-based tests: role ARN parsing, the config merge as botocore reads it back, and the
secrets in endpoint answers that fail to parse.

tests/test_fetch.py already checks that parse_credentials raises nothing but ecs-xrole errors
on arbitrary input, and tests/test_config.py that a merge changes only the target profile as
botocore sees it; these add what they do not: ARN round trips, the file's bytes outside the
target section, read-back through a real write, and secrets kept out of parse errors.
"""

from __future__ import annotations

import gc
import json
import tempfile
from pathlib import Path
from typing import Any

import botocore.configloader
import botocore.exceptions
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ecs_xrole._config.files import write_profiles
from ecs_xrole._config.model import KEPT_UNLESS_GIVEN, MANAGED_KEYS, Profile
from ecs_xrole._credentials import parse_credentials
from ecs_xrole._validate import PARTITIONS, RoleArn, parse_role_arn
from ecs_xrole.errors import ConfigFileError, EndpointResponseError, Error, InvalidInputError


@pytest.fixture(scope="module", autouse=True)
def _no_stray_refreshes() -> None:
    """Collect credentials objects earlier tests dropped: until the cyclic collector frees them
    they keep refreshing in the background, and their retries draw from the global ``random``,
    which Hypothesis then blames on the strategies below."""
    gc.collect()


QUICK = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# -- role ARNs ---------------------------------------------------------------------------------

_name_chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+=,.@-"
_path_chars = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "/")
_role_names = st.text(alphabet=_name_chars, min_size=1, max_size=64)
_accounts = st.text(alphabet="0123456789", min_size=12, max_size=12)
_paths = st.lists(st.text(alphabet=_path_chars, min_size=1, max_size=12), max_size=4).map(
    lambda parts: "/" + "".join(p + "/" for p in parts)
)
_role_arns = st.builds(
    RoleArn,
    partition=st.sampled_from(sorted(PARTITIONS)),
    account_id=_accounts,
    path=_paths,
    name=_role_names,
)


@QUICK
@given(_role_arns)
def test_valid_role_arns_round_trip(role: RoleArn) -> None:
    parsed = parse_role_arn(role.arn)
    assert parsed == role
    assert parsed.arn == role.arn
    assert parse_role_arn(parsed) is parsed


def _mutations(draw: Any) -> str:
    text: str = draw(_role_arns).arn
    at: int = draw(st.integers(0, len(text)))
    how: str = draw(st.sampled_from(["insert", "replace", "delete", "cut"]))
    char: str = draw(st.characters())
    if how == "insert":
        return text[:at] + char + text[at:]
    if how == "replace":
        return text[:at] + char + text[at + 1 :]
    if how == "delete":
        return text[:at] + text[at + 1 :]
    return text[:at]


@QUICK
@given(st.one_of(st.text(max_size=300), st.composite(_mutations)()))
def test_any_text_is_a_role_arn_or_an_invalid_input_error(text: str) -> None:
    try:
        parsed = parse_role_arn(text)
    except InvalidInputError as exc:
        error = exc
    else:
        assert parsed.arn == text
        return
    assert error.name == "role_arn"
    assert error.fix


@settings(max_examples=50, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text()), st.floats()))
def test_non_text_is_an_invalid_input_error(value: object) -> None:
    try:
        parse_role_arn(value)
    except InvalidInputError:
        return
    raise AssertionError(f"{value!r} was accepted as a role ARN")


# -- the config merge --------------------------------------------------------------------------

_printable = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=16
)
_keys = [
    "region",
    "output",
    "role_arn",
    "credential_source",
    "source_profile",
    "external_id",
    "role_session_name",
    "duration_seconds",
    "mfa_serial",
    "cli_pager",
]


@st.composite
def _section_body(draw: Any) -> list[str]:
    lines: list[str] = []
    for key in draw(st.lists(st.sampled_from([*_keys, "s3"]), unique=True, max_size=6)):
        lines += draw(st.lists(st.sampled_from(["", "   ", "# note", "; other"]), max_size=1))
        if key == "s3":  # a nested value, as botocore reads them
            lines.append("s3 =")
            lines += [f"    {k} = {draw(_printable)}" for k in ("addressing_style", "x")]
        else:
            separator = draw(st.sampled_from([" = ", "=", ": ", "  =  "]))
            lines.append(f"{key}{separator}{draw(_printable)}")
    return lines


_section_names = st.one_of(
    st.just("default"),
    st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True).map(lambda n: f"profile {n}"),
    st.sampled_from(["profile cross-account", "profile Cross", "sso-session corp", "services s"]),
)


@st.composite
def _configs(draw: Any) -> tuple[list[str], str, bool]:
    """Sections (each its header and body lines) and the file's newline."""
    names = draw(st.lists(_section_names, unique=True, max_size=5))
    assume(not ({"default", "profile default"} <= set(names)))
    sections = [[f"[{name}]", *draw(_section_body())] for name in names]
    preamble = draw(st.lists(st.sampled_from(["# my settings", "", "; keep"]), max_size=2))
    chunks = [preamble, *sections] if preamble else sections
    return (
        ["\n".join(c) for c in chunks],
        draw(st.sampled_from(["\n", "\r\n"])),
        draw(st.booleans()),
    )


_profiles = st.builds(
    Profile,
    name=st.sampled_from(["default", "cross-account", "Cross", "new-one", "a"]),
    role_arn=st.builds(
        lambda account, name: f"arn:aws:iam::{account}:role/{name}", _accounts, _role_names
    ),
    external_id=st.none() | st.from_regex(r"[A-Za-z0-9_+=,.@:/-]{2,20}", fullmatch=True),
    role_session_name=st.none() | st.from_regex(r"[A-Za-z0-9_+=,.@-]{2,20}", fullmatch=True),
    duration_seconds=st.none() | st.integers(900, 3600),
    region=st.none() | st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"]),
    credential_process=st.booleans(),
    command=st.just(("/usr/local/bin/ecs-xrole",)),
)


def _owner(header_line: str) -> str | None:
    section = header_line[1:-1]
    if section == "default":
        return "default"
    if section.startswith("profile "):
        return section.split(" ", 1)[1]
    return None


def _read_back(path: Path) -> dict[str, dict[str, Any]]:
    parsed: dict[str, dict[str, Any]] = botocore.configloader.raw_config_parse(str(path))
    return parsed


@QUICK
@given(_configs(), _profiles)
def test_merge_keeps_every_byte_outside_the_target_and_botocore_reads_what_was_written(
    config: tuple[list[str], str, bool], profile: Profile
) -> None:
    chunks, newline, final_newline = config
    text = newline.join(chunk.replace("\n", newline) for chunk in chunks)
    if text and final_newline:
        text += newline
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "config"
        path.write_bytes(text.encode())
        try:
            before = _read_back(path)
        except botocore.exceptions.ConfigParseError:
            try:
                write_profiles([profile], path=str(path))
            except ConfigFileError:
                assert path.read_bytes() == text.encode()  # refused, untouched
                return
            raise AssertionError("a file botocore cannot parse was written") from None

        write_profiles([profile], path=str(path))
        after_text = path.read_bytes().decode()
        after = _read_back(path)

    # Byte for byte outside the target section.
    pieces = [chunk.replace("\n", newline) for chunk in chunks]
    owners = [_owner(p.split(newline, 1)[0]) if p.startswith("[") else None for p in pieces]
    if profile.name in owners:
        k = owners.index(profile.name)
        prefix = "".join(p + newline for p in pieces[:k])
        suffix = newline.join(pieces[k + 1 :])
        assert after_text.startswith(prefix)
        if suffix:
            assert after_text.endswith(suffix + (newline if final_newline else ""))
    else:  # appended; a file with no line ending yet gets "\n"
        ending = newline if newline in text else "\n"
        ended = text if not text or text.endswith(newline) else text + ending
        assert after_text.startswith(ended)

    # botocore reads back exactly what was written, and every other section as it was.
    loaded = botocore.configloader.build_profile_map(after)["profiles"][profile.name]
    wanted = profile.settings()
    for key in MANAGED_KEYS:
        if key in wanted:
            assert loaded.get(key) == wanted[key]
        elif key not in KEPT_UNLESS_GIVEN:
            assert key not in loaded
    target_sections = {s for s in after if _owner(f"[{s}]") == profile.name}
    assert {s: v for s, v in after.items() if s not in target_sections} == {
        s: v for s, v in before.items() if s not in target_sections
    }


# -- secrets in endpoint answers that fail to parse ----------------------------------------------

_secret = st.text(alphabet=_name_chars + "/", min_size=16, max_size=60).map(lambda s: "sk/" + s)
_odd = st.one_of(
    st.none(),
    st.integers(),
    st.just(""),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def _answers(draw: Any) -> tuple[Any, list[str]]:
    """A credentials-like answer carrying fresh secrets, often broken in some way."""
    key_id, secret_key, token = draw(_secret), draw(_secret), draw(_secret)
    body: dict[str, Any] = {}
    for field, value in (
        ("AccessKeyId", key_id),
        ("SecretAccessKey", secret_key),
        (draw(st.sampled_from(["Token", "SessionToken", "token"])), token),
    ):
        if draw(st.integers(0, 4)):  # usually present
            body[field] = value + draw(st.sampled_from(["", "", "\r\nX-Injected: 1", "\x00"]))
    body["Expiration"] = draw(
        st.one_of(
            st.sampled_from(["2020-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "soon", ""]),
            st.just("not a date " + secret_key),
            _odd,
        )
    )
    if draw(st.booleans()):
        body[draw(st.sampled_from(["RoleArn", "AccountId", "Code"]))] = draw(_odd)
    shape = draw(st.sampled_from(["json", "truncated", "wrapped"]))
    text = json.dumps(body)
    if shape == "truncated":
        text = text[: draw(st.integers(1, max(1, len(text) - 1)))]
    elif shape == "wrapped":
        text = json.dumps([body])
    return text, [key_id, secret_key, token]


@QUICK
@given(_answers())
def test_secrets_never_reach_a_parse_error(answer: tuple[Any, list[str]]) -> None:
    text, secrets = answer
    try:
        parse_credentials(text)
    except EndpointResponseError as exc:
        shown = f"{exc} {exc!r} {vars(exc)!r}"
        for secret in secrets:
            assert secret not in shown
        return
    except Error:
        raise AssertionError("only EndpointResponseError is expected from parsing") from None
