# ruff: noqa: E501  (the messages are quoted whole, one per line)
"""ecs_xrole._validate: every value STS or the config file would refuse is refused first, typed.

Each case is a value a user could pass; the assertion is what the user relies on: the library's
own :class:`InvalidInputError` (never a bare ``ValueError``, ``IndexError`` or
``UnboundLocalError``) naming the input, and, for good values, the exact form sent to STS.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ecs_xrole import Error
from ecs_xrole._validate import (
    MAX_CHAINED_DURATION,
    MIN_DURATION,
    PARTITIONS,
    RoleArn,
    check_external_id,
    check_policy_arns,
    check_profile_name,
    check_region,
    check_session_name,
    check_source_identity,
    check_tags,
    duration_seconds,
    parse_role_arn,
    policy_json,
    safe_session_name,
)
from ecs_xrole.errors import InvalidInputError

ROLE = "arn:aws:iam::123456789012:role/dest"
POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def refused(call, *args: object, **kwargs: object) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        call(*args, **kwargs)
    assert isinstance(info.value, Error)
    assert info.value.fix  # every refusal says what to do
    return info.value


# ------------------------------------------------------------------------------------------
# Role ARNs


@pytest.mark.parametrize("partition", sorted(PARTITIONS))
def test_every_known_partition_is_accepted(partition: str) -> None:
    arn = f"arn:{partition}:iam::123456789012:role/dest"
    assert parse_role_arn(arn) == RoleArn(partition, "123456789012", "/", "dest")
    assert str(parse_role_arn(arn)) == arn


def test_an_unknown_partition_is_refused_and_the_known_ones_are_listed() -> None:
    error = refused(parse_role_arn, "arn:aws-moon:iam::123456789012:role/dest")
    assert "aws-moon" in str(error)
    assert "aws-us-gov" in str(error)


def test_a_role_path_is_kept_and_the_arn_round_trips() -> None:
    arn = "arn:aws:iam::123456789012:role/team/app/dest"
    parsed = parse_role_arn(arn)
    assert (parsed.path, parsed.name) == ("/team/app/", "dest")
    assert parsed.arn == arn
    assert parse_role_arn(parsed) is parsed


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (123456789012, "string"),
        (" " + ROLE, "white space"),
        (ROLE + "\n", "white space"),
        ("arn:aws:iam::123456789012:role/" + "a" * 2100, "2048"),
        ("arn:aws:iam::123456789012:user/bob", "user ARN"),
        ("arn:aws:sts::123456789012:assumed-role/r/s", "assumed-role"),
        ("arn:aws:sts::123456789012:role/dest", "iam service"),
        ("arn:aws:iam::12345678901:role/dest", "12 digits"),
        ("arn:aws:iam::1234567890123:role/dest", "12 digits"),
        ("arn:aws:iam::12345678901x:role/dest", "12 digits"),
        ("arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/dest", "12 digits"),
        ("arn:aws:iam::123456789012:role/" + "p/" * 260 + "dest", "512"),
        ("arn:aws:iam::123456789012:role/" + "a" * 65, "1-64"),
        ("arn:aws:iam::123456789012:role/", "1-64"),
        ("arn:aws:iam::123456789012:role/da$h", "1-64"),
    ],
)
def test_a_role_arn_sts_would_refuse_is_refused_saying_why(value: object, says: str) -> None:
    error = refused(parse_role_arn, value, name="--role-arn")
    assert says in str(error)
    assert error.name == "--role-arn"


def test_a_role_name_of_64_characters_and_a_path_of_512_are_accepted() -> None:
    assert parse_role_arn(f"arn:aws:iam::123456789012:role/{'a' * 64}").name == "a" * 64
    path = "/" + "p" * 510 + "/"
    assert parse_role_arn(f"arn:aws:iam::123456789012:role{path}dest").path == path


def test_a_very_long_arn_is_shortened_in_the_message() -> None:
    error = refused(parse_role_arn, "arn:aws:iam::123456789012:role/" + "a" * 3000)
    assert len(str(error)) < 400


# ------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (900, 900),
        (3600, 3600),
        (timedelta(minutes=20), 1200),
        (timedelta(hours=1), 3600),
        ("1800", 1800),
        (" 1800 ", 1800),
    ],
)
def test_a_duration_becomes_whole_seconds(value: object, seconds: int) -> None:
    assert duration_seconds(value) == seconds
    assert type(duration_seconds(value)) is int


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (1200.0, "whole seconds"),  # an UnboundLocalError in 0.1.0
        (True, "whole seconds"),
        (None, "whole seconds"),
        ([1200], "whole seconds"),
        ("1h", "units"),
        ("20m", "units"),
        ("", "units"),
        ("1200.0", "units"),
        ("²", "units"),  # str.isdigit() is true for it, int() refuses it
        ("\uff11\uff12\uff10\uff10", "units"),  # full-width 1200: int() reads it, the CLI does not
        (timedelta(seconds=1200.5), "whole number"),
        (899, "900"),
        (timedelta(minutes=14), "900"),
        (0, "900"),
        (-3600, "900"),
        (3601, "role chaining"),
        ("7200", "role chaining"),
        (timedelta(hours=2), "role chaining"),
    ],
)
def test_an_unusable_duration_is_a_typed_error(value: object, says: str) -> None:
    error = refused(duration_seconds, value, name="DurationSeconds")
    assert says in str(error)
    assert error.name == "DurationSeconds"


def test_the_limits_are_stss() -> None:
    assert (MIN_DURATION, MAX_CHAINED_DURATION) == (900, 3600)


# ------------------------------------------------------------------------------------------
# Session policies


def test_a_dict_policy_becomes_compact_json() -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}
    assert policy_json(policy) == '{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}'


def test_a_json_text_policy_is_sent_as_written() -> None:
    text = '{ "Version": "2012-10-17" }\n'
    assert policy_json(text) == text


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('"a string"', "JSON object"),
        ("null", "JSON object"),
        (["Statement"], "dict or a JSON string"),
        (42, "dict or a JSON string"),
        ({"Sid": "x" * 2048}, "2048"),
        ('{"Sid": "' + "x" * 2040 + '"}', "2048"),
        ({"Sid": "caf\u0113"}, None),  # json.dumps escapes it: accepted, see below
        ('{"Sid": "\u0100"}', "U+00FF"),
        ('{"Sid": "\u2603"}', "U+00FF"),
        ('{"Sid":\x0b"x"}', None),
    ],
)
def test_a_session_policy_sts_would_refuse_is_refused(value: object, says: str | None) -> None:
    if isinstance(value, dict) and says is None:
        assert "\\u0113" in policy_json(value)  # escaped, so STS accepts it
        return
    error = refused(policy_json, value, name="Policy")
    if says is not None:
        assert says in str(error)


def test_a_policy_of_exactly_2048_characters_and_latin1_text_are_accepted() -> None:
    text = '{"Sid": "' + "x" * (2048 - 11) + '"}'
    assert len(text) == 2048
    assert policy_json(text) == text
    assert policy_json('{"Sid":\t"caf\u00e9"}') == '{"Sid":\t"caf\u00e9"}'


def test_a_long_bad_policy_is_not_quoted_whole() -> None:
    error = refused(policy_json, "{" + "x" * 5000)
    assert len(str(error)) < 600


# ------------------------------------------------------------------------------------------
# Managed policy ARNs


def test_policy_arns_become_stss_form_from_strings_or_mappings() -> None:
    arns = [POLICY_ARN, {"arn": "arn:aws:iam::123456789012:policy/team/p"}]
    assert check_policy_arns(arns) == [
        {"arn": POLICY_ARN},
        {"arn": "arn:aws:iam::123456789012:policy/team/p"},
    ]
    assert check_policy_arns(iter([POLICY_ARN])) == [{"arn": POLICY_ARN}]
    assert check_policy_arns([POLICY_ARN] * 10) == [{"arn": POLICY_ARN}] * 10


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (POLICY_ARN, "list of policy ARNs"),  # one string is not a list of one
        (42, "list of policy ARNs"),
        (None, "list of policy ARNs"),
        ([ROLE], "not an IAM policy ARN"),
        (["ReadOnlyAccess"], "not an IAM policy ARN"),
        (["arn:aws:iam::12345:policy/p"], "not an IAM policy ARN"),
        (["arn:aws:iam::aws:policy/"], "not an IAM policy ARN"),
        ([{"Arn": POLICY_ARN}], "not an IAM policy ARN"),
        ([42], "not an IAM policy ARN"),
        ([POLICY_ARN + " "], "not an IAM policy ARN"),
        ([POLICY_ARN] * 11, "at most 10"),
    ],
)
def test_policy_arns_sts_would_refuse_are_refused(value: object, says: str) -> None:
    assert says in str(refused(check_policy_arns, value))


# ------------------------------------------------------------------------------------------
# Session tags


def test_tags_become_stss_key_value_form() -> None:
    assert check_tags({"team": "billing", "cost center": "", "a:b/c=d+e-f@g.h_i": "x y"}) == [
        {"Key": "team", "Value": "billing"},
        {"Key": "cost center", "Value": ""},
        {"Key": "a:b/c=d+e-f@g.h_i", "Value": "x y"},
    ]
    assert check_tags({}) == []
    many = {f"k{i}": "v" for i in range(50)}
    assert len(check_tags(many)) == 50


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([("team", "billing")], "mapping"),
        ("team=billing", "mapping"),
        (None, "mapping"),
        ({f"k{i}": "v" for i in range(51)}, "at most 50"),
        ({"": "v"}, "tag key"),
        ({"k" * 129: "v"}, "tag key"),
        ({"team!": "v"}, "tag key"),
        ({1: "v"}, "tag key"),
        ({"team": "v" * 257}, "value of tag 'team'"),
        ({"team": "a#b"}, "value of tag 'team'"),
        ({"team": 7}, "value of tag 'team'"),
        ({"team": None}, "value of tag 'team'"),
    ],
)
def test_tags_sts_would_refuse_are_refused(value: object, says: str) -> None:
    assert says in str(refused(check_tags, value))


def test_the_longest_tag_key_and_value_are_accepted() -> None:
    assert check_tags({"k" * 128: "v" * 256}) == [{"Key": "k" * 128, "Value": "v" * 256}]


# ------------------------------------------------------------------------------------------
# Names and identifiers


@pytest.mark.parametrize("value", ["ab", "a" * 64, "worker+1=x,y.z@corp-_"])
def test_session_names_and_source_identities_sts_accepts(value: str) -> None:
    assert check_session_name(value) == value
    assert check_source_identity(value) == value


@pytest.mark.parametrize("value", ["a", "a" * 65, "has space", "caf\u00e9", "", None, 12])
def test_session_names_sts_refuses(value: object) -> None:
    refused(check_session_name, value)
    refused(check_source_identity, value)


@pytest.mark.parametrize("value", ["aws:me", "AWS:me"])
def test_a_source_identity_may_not_start_with_aws_prefix(value: str) -> None:
    refused(check_source_identity, value)
    assert check_session_name(value.replace(":", "-")) == value.replace(":", "-")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("0123abcd", "0123abcd"),
        ("host name/1", "host-name-1"),
        ("x" * 80, "x" * 64),
        ("a", "ecs-xrole"),
        ("", "ecs-xrole"),
        ("é", "ecs-xrole"),
    ],
)
def test_any_text_becomes_a_valid_session_name(raw: str, name: str) -> None:
    assert safe_session_name(raw) == name
    assert check_session_name(safe_session_name(raw)) == name


def test_safe_session_name_uses_the_given_fallback() -> None:
    assert safe_session_name("", fallback="task") == "task"


def test_external_ids() -> None:
    assert check_external_id("ab:cd/ef") == "ab:cd/ef"
    assert check_external_id("x" * 1224) == "x" * 1224
    for bad in ["a", "x" * 1225, "has space", None]:
        refused(check_external_id, bad)
    error = refused(check_external_id, "x" * 5000)
    assert len(str(error)) < 500  # not quoted whole


@pytest.mark.parametrize("value", ["us-east-1", "eu-west-1", "us-gov-west-1", "ap-southeast-10"])
def test_region_names(value: str) -> None:
    assert check_region(value) == value


@pytest.mark.parametrize("value", ["", "us-east", "US-EAST-1", "us east 1", "us-east-100", None])
def test_not_region_names(value: object) -> None:
    refused(check_region, value)


# ------------------------------------------------------------------------------------------
# Profile names


@pytest.mark.parametrize(
    "value", ["cross-account", "default", "a", "my app", "x#y", "p" * 128, "Xbox", "X"]
)
def test_profile_names_that_read_back(value: str) -> None:
    assert check_profile_name(value) == value


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "non-empty"),  # an IndexError in 0.1.0
        (None, "non-empty"),
        (3, "non-empty"),
        ("a[b", "'['"),
        ("a]b", "'['"),
        ("a\nb", "control character"),
        ("a\x7fb", "control character"),
        ("a\tb", "control character"),
        (" a", "white space"),
        ("a ", "white space"),
        ("#a", "comment"),
        (";a", "comment"),
        ("p" * 129, "128"),
    ],
)
def test_profile_names_that_would_break_the_file(value: object, says: str) -> None:
    assert says in str(refused(check_profile_name, value))


# ------------------------------------------------------------------------------------------
# The whole message: what a user reads (and docs/troubleshooting.md quotes), word for word

_FORM = "arn:aws:iam::<12-digit account>:role/<name> (or role/<path>/<name>)"
_PROFILE_FIX = "Fix: use letters, digits and -_. such as 'cross-account'"
_LONG_ARN = ROLE[:-4] + "a" * 2100
_DEEP_ARN = "arn:aws:iam::123456789012:role/" + "p/" * 260 + "d"


@pytest.mark.parametrize(
    ("call", "value", "message"),
    [
        (parse_role_arn, 123, f"role_arn 123 is not valid: a role ARN must be a string. Fix: pass {_FORM}"),
        (parse_role_arn, " " + ROLE, f"role_arn ' {ROLE}' is not valid: it has leading or trailing white space. Fix: remove the white space"),
        (parse_role_arn, _LONG_ARN, f"role_arn '{_LONG_ARN[:80]}...' is not valid: it is longer than 2048 characters. Fix: pass {_FORM}"),
        (parse_role_arn, "arn:aws:iam::123456789012:user/bob", f"role_arn 'arn:aws:iam::123456789012:user/bob' is not valid: it is not an IAM role ARN (this is a user ARN; AssumeRole needs a role). Fix: pass {_FORM}"),
        (parse_role_arn, "arn:aws:sts::123456789012:assumed-role/r/s", f"role_arn 'arn:aws:sts::123456789012:assumed-role/r/s' is not valid: it is not an IAM role ARN (this is an assumed-role session ARN; name the role itself). Fix: pass {_FORM}"),
        (parse_role_arn, "arn:aws:sts::123456789012:role/d", f"role_arn 'arn:aws:sts::123456789012:role/d' is not valid: it is not an IAM role ARN (role ARNs use the iam service, not sts). Fix: pass {_FORM}"),
        (parse_role_arn, "nonsense", f"role_arn 'nonsense' is not valid: it is not an IAM role ARN. Fix: pass {_FORM}"),
        (parse_role_arn, "arn:aws-moon:iam::123456789012:role/d", "role_arn 'arn:aws-moon:iam::123456789012:role/d' is not valid: unknown partition 'aws-moon'. Fix: use one of aws, aws-cn, aws-eusc, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-us-gov"),
        (parse_role_arn, "arn:aws:iam::12345:role/d", "role_arn 'arn:aws:iam::12345:role/d' is not valid: the account ID '12345' is not 12 digits. Fix: copy the ARN from the IAM console or `aws iam get-role`"),
        (parse_role_arn, _DEEP_ARN, f"role_arn '{_DEEP_ARN}' is not valid: the role path is longer than 512 characters. Fix: pass {_FORM}"),
        (parse_role_arn, "arn:aws:iam::123456789012:role/da$h", f"role_arn 'arn:aws:iam::123456789012:role/da$h' is not valid: the role name 'da$h' must be 1-64 characters of letters, digits and +=,.@_-. Fix: pass {_FORM}"),
        (check_session_name, "a", "role_session_name 'a' is not valid: a role session name is 2-64 characters of letters, digits and +=,.@_-. Fix: pick a name such as 'billing-worker' or leave it out to use the ECS task ID"),
        (check_external_id, "a", "external_id 'a' is not valid: an external ID is 2-1224 characters of letters, digits and +=,.@:/_-. Fix: use the exact external ID named in the destination role's trust policy"),
        (check_external_id, "x" * 100 + " ", f"external_id '{'x' * 80}...' is not valid: an external ID is 2-1224 characters of letters, digits and +=,.@:/_-. Fix: use the exact external ID named in the destination role's trust policy"),
        (duration_seconds, 1200.0, "duration_seconds 1200.0 is not valid: expected whole seconds or a timedelta. Fix: pass e.g. 3600"),
        (duration_seconds, "1h", "duration_seconds '1h' is not valid: expected a whole number of seconds (900-3600); units such as '1h' are not read. Fix: pass e.g. 3600 for one hour"),
        (duration_seconds, timedelta(seconds=1200.5), "duration_seconds datetime.timedelta(seconds=1200, microseconds=500000) is not valid: it is not a whole number of seconds. Fix: round it to seconds"),
        (duration_seconds, 899, "duration_seconds 899 is not valid: STS's minimum is 900 seconds. Fix: pass 900 or more"),
        (duration_seconds, 3601, "duration_seconds 3601 is not valid: it exceeds the 1 hour session limit for roles assumed by role chaining: the ECS task role is itself an assumed role, so STS refuses DurationSeconds above 3600. Fix: pass 3600 or less; ecs-xrole refreshes the session before it expires, so a longer duration is not needed"),
        (policy_json, "{x", "policy '{x' is not valid: it is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)). Fix: pass a dict or a JSON policy document"),
        (policy_json, "{" + "x" * 100, f"policy '{{{'x' * 79}...' is not valid: it is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)). Fix: pass a dict or a JSON policy document"),
        (policy_json, "[1]", "policy '[1]' is not valid: a policy document is a JSON object. Fix: pass a dict"),
        (policy_json, 42, "policy 'int' is not valid: expected a dict or a JSON string. Fix: pass a dict"),
        (policy_json, {"Sid": "x" * 2048}, "policy '<2058 characters>' is not valid: STS accepts at most 2048 characters of session policy. Fix: shorten the policy, or use managed policies through policy_arns"),
        (policy_json, '{"Sid": "\u0100"}', 'policy \'{"Sid": "\u0100"}\' is not valid: it holds characters STS refuses (outside tab, newline and U+0020-U+00FF). Fix: remove them or escape them as \\uXXXX in the JSON'),
        (check_policy_arns, POLICY_ARN, f"policy_arns '{POLICY_ARN}' is not valid: expected a list of policy ARNs. Fix: pass ['arn:aws:iam::aws:policy/...']"),
        (check_policy_arns, ["nope"], "policy_arns 'nope' is not valid: it is not an IAM policy ARN. Fix: pass arn:aws:iam::<account>:policy/<name>"),
        (check_policy_arns, [POLICY_ARN] * 11, "policy_arns '<11 ARNs>' is not valid: STS accepts at most 10 managed session policies. Fix: combine policies"),
        (check_tags, [("a", "b")], "tags [('a', 'b')] is not valid: expected a mapping of tag keys to values. Fix: pass {'team': 'billing'}"),
        (check_tags, {f"k{i}": "v" for i in range(51)}, "tags '<51 tags>' is not valid: STS accepts at most 50 session tags. Fix: pass fewer tags"),
        (check_tags, {"a!": "v"}, "tags 'a!' is not valid: a tag key is 1-128 letters, digits, spaces or _.:/=+-@. Fix: rename the key"),
        (check_tags, {"a": "v#"}, "tags 'v#' is not valid: the value of tag 'a' must be 0-256 letters, digits, spaces or _.:/=+-@. Fix: change the value"),
        (check_source_identity, "aws:me", "source_identity 'aws:me' is not valid: a source identity is 2-64 characters of letters, digits and +=,.@_-. Fix: pass e.g. a user name"),
        (check_region, "us-east", "region_name 'us-east' is not valid: it is not an AWS region name. Fix: pass e.g. 'us-east-1'"),
        (check_profile_name, "", f"profile '' is not valid: a profile name must be a non-empty string. {_PROFILE_FIX}"),
        (check_profile_name, "a[b", f"profile 'a[b' is not valid: it holds '[' or ']', which would break the section header. {_PROFILE_FIX}"),
        (check_profile_name, "a\x7fb", f"profile 'a\\x7fb' is not valid: it holds a control character (such as a newline). {_PROFILE_FIX}"),
        (check_profile_name, " a", f"profile ' a' is not valid: it has leading or trailing white space. {_PROFILE_FIX}"),
        (check_profile_name, "#a", f"profile '#a' is not valid: it starts with a comment character. {_PROFILE_FIX}"),
        (check_profile_name, "p" * 129, f"profile '{'p' * 129}' is not valid: it is longer than 128 characters. {_PROFILE_FIX}"),
    ],
)  # fmt: skip
def test_each_refusal_reads_as_documented(call: Any, value: object, message: str) -> None:
    error = refused(call, value)
    assert str(error) == message
    assert error.name == message.split(" ", 1)[0]  # the default input name


# ------------------------------------------------------------------------------------------
# Boundaries of what a message quotes


def test_an_arn_of_exactly_2048_characters_is_judged_by_its_parts() -> None:
    arn = "arn:aws:iam::123456789012:role/" + "a" * (2048 - 31)
    assert len(arn) == 2048
    assert "the role name" in str(refused(parse_role_arn, arn))  # not "longer than 2048"


def test_a_two_character_text_is_already_a_session_name() -> None:
    assert safe_session_name("ab") == "ab"
    assert safe_session_name("a b") == "a-b"


@pytest.mark.parametrize(("length", "shown"), [(80, 80), (81, 80)])
def test_bad_json_is_quoted_up_to_80_characters(length: int, shown: int) -> None:
    text = "{" + "x" * (length - 1)
    error = refused(policy_json, text)
    assert error.value == text[:shown] + ("..." if length > 80 else "")


def test_a_long_policy_that_is_not_an_object_or_has_bad_characters_is_quoted_in_part() -> None:
    array = "[" + ", ".join(["1"] * 60) + "]"
    assert refused(policy_json, array).value == array[:80]
    wide = '{"Sid": "' + "x" * 100 + '\u0100"}'
    assert refused(policy_json, wide).value == wide[:80]


@pytest.mark.parametrize(("length", "ellipsis"), [(80, False), (81, True)])
def test_a_bad_external_id_is_quoted_up_to_80_characters(length: int, ellipsis: bool) -> None:
    value = " " + "x" * (length - 1)
    error = refused(check_external_id, value)
    assert error.value == (value[:80] + "..." if ellipsis else value)
    assert refused(check_external_id, None).value is None


def test_the_length_limits_are_stss_exactly() -> None:
    arn = "arn:aws:iam::123456789012:role/" + "a" * (2049 - 31)
    assert "longer than 2048 characters" in str(refused(parse_role_arn, arn))
    deep = "arn:aws:iam::123456789012:role/" + "p" * 511 + "/d"  # a path of 513 characters
    assert "the role path is longer than 512 characters" in str(refused(parse_role_arn, deep))
