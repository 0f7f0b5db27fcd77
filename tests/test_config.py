"""ecs_xrole._config: merging profiles into the AWS config file, read back by botocore itself."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import botocore.configloader
import botocore.exceptions
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecs_xrole._config.files import read_profile, write_profiles
from ecs_xrole._config.ini import merge
from ecs_xrole._config.model import MANAGED_KEYS, Profile, default_command, section_header
from ecs_xrole._config.safe_io import config_path
from ecs_xrole.errors import ConfigFileError, InvalidInputError

DEST = "arn:aws:iam::555566667777:role/destination-account-role"
OTHER = "arn:aws:iam::555566667777:role/other-role"
OLD = "arn:aws:iam::111111111111:role/old"

RICH = """\
# My AWS settings -- hand-written, please keep my comments.
; semicolon comment too

[default]
region = eu-west-1
output = text

[profile dev]
# dev account
role_arn = arn:aws:iam::222233334444:role/dev
source_profile = default
s3 =
    max_concurrent_requests = 20
    addressing_style = path

[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1


[profile cross-account]
# written by hand long ago
output = json
role_arn = arn:aws:iam::111111111111:role/old
source_profile = dev
mfa_serial = arn:aws:iam::111111111111:mfa/me
external_id = stale-id

[profile last]
region = us-west-2
"""


def profiles_of(path: Path) -> dict[str, dict[str, object]]:
    """The profiles botocore's own loader reads from ``path``."""
    config = botocore.configloader.load_config(str(path))
    result: dict[str, dict[str, object]] = config["profiles"]
    return result


def without_managed_lines(text: str, section: str) -> list[str]:
    """The file's lines minus the managed-key lines of ``section`` (and a new last section)."""
    kept: list[str] = []
    current = None
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("["):
            current = stripped
        key = stripped.split("=", 1)[0].strip().lower() if "=" in stripped else None
        if current == section and key in MANAGED_KEYS:
            continue
        kept.append(line)
    return kept


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return tmp_path / "aws" / "config"


# ---------------------------------------------------------------------------------------------
# New files


def test_new_file_dir_0700_file_0600_read_by_botocore(cfg: Path) -> None:
    result = write_profiles([Profile("cross-account", DEST)], path=str(cfg))

    assert result.changed
    assert result.created
    assert result.path == str(cfg)
    assert cfg.read_text() == (
        f"[profile cross-account]\nrole_arn = {DEST}\ncredential_source = EcsContainer\n"
    )
    assert stat.S_IMODE(cfg.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert profiles_of(cfg)["cross-account"] == {
        "role_arn": DEST,
        "credential_source": "EcsContainer",
    }
    lock = Path(f"{cfg}.lock")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert sorted(p.name for p in cfg.parent.iterdir()) == ["config", "config.lock"]


def test_new_dirs_get_0700_even_with_a_wide_umask(tmp_path: Path) -> None:
    cfg = tmp_path / "a" / "b" / "config"
    old = os.umask(0)
    try:
        write_profiles([Profile("x", DEST)], path=str(cfg))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600


def test_all_options_written_in_order(cfg: Path) -> None:
    profile = Profile(
        "billing",
        DEST,
        external_id="ext-123",
        role_session_name="billing-worker",
        duration_seconds=1800,
        region="eu-central-1",
    )
    write_profiles([profile], path=str(cfg))
    assert cfg.read_text() == textwrap.dedent(
        f"""\
        [profile billing]
        role_arn = {DEST}
        credential_source = EcsContainer
        external_id = ext-123
        role_session_name = billing-worker
        duration_seconds = 1800
        region = eu-central-1
        """
    )
    assert profiles_of(cfg)["billing"]["duration_seconds"] == "1800"


def test_default_profile_writes_default_section(cfg: Path) -> None:
    write_profiles([Profile("default", DEST)], path=str(cfg))
    assert cfg.read_text().startswith("[default]\n")
    assert profiles_of(cfg)["default"]["role_arn"] == DEST


def test_name_with_space_is_quoted_and_read_back(cfg: Path) -> None:
    write_profiles([Profile("my app", DEST)], path=str(cfg))
    assert '[profile "my app"]' in cfg.read_text()
    assert profiles_of(cfg)["my app"]["role_arn"] == DEST
    assert section_header("it's") == 'profile "it\'s"'


def test_profile_name_case_is_kept(cfg: Path) -> None:
    write_profiles([Profile("Cross-Account", DEST), Profile("cross-account", OTHER)], path=str(cfg))
    found = profiles_of(cfg)
    assert found["Cross-Account"]["role_arn"] == DEST
    assert found["cross-account"]["role_arn"] == OTHER


# ---------------------------------------------------------------------------------------------
# Merging into hand-written files


def test_merge_keeps_every_other_byte(cfg: Path) -> None:
    cfg.parent.mkdir()
    cfg.write_text(RICH)
    before = profiles_of(cfg)

    result = write_profiles([Profile("cross-account", DEST)], path=str(cfg))

    text = cfg.read_text()
    assert result.changed
    assert not result.created
    # role_arn keeps its place; source_profile and the stale external_id go; credential_source
    # is added after the section's last setting; output and mfa_serial stay.
    assert text == RICH.replace(
        "role_arn = arn:aws:iam::111111111111:role/old\nsource_profile = dev\n"
        "mfa_serial = arn:aws:iam::111111111111:mfa/me\nexternal_id = stale-id\n",
        f"role_arn = {DEST}\nmfa_serial = arn:aws:iam::111111111111:mfa/me\n"
        "credential_source = EcsContainer\n",
    )
    assert without_managed_lines(text, "[profile cross-account]") == without_managed_lines(
        RICH, "[profile cross-account]"
    )
    after = profiles_of(cfg)
    assert after["cross-account"] == {
        "output": "json",
        "role_arn": DEST,
        "mfa_serial": "arn:aws:iam::111111111111:mfa/me",
        "credential_source": "EcsContainer",
    }
    for name in ("default", "dev", "last"):
        assert after[name] == before[name]
    assert botocore.configloader.load_config(str(cfg))["sso_sessions"]["corp"]["sso_region"] == (
        "us-east-1"
    )


def test_second_run_is_byte_identical_and_unchanged(cfg: Path) -> None:
    cfg.parent.mkdir()
    cfg.write_text(RICH)
    profiles = [Profile("cross-account", DEST), Profile("new", OTHER, region="us-east-2")]
    write_profiles(profiles, path=str(cfg))
    first = cfg.read_bytes()
    mtime = cfg.stat().st_mtime_ns
    inode = cfg.stat().st_ino

    result = write_profiles(profiles, path=str(cfg))

    assert not result.changed
    assert cfg.read_bytes() == first
    assert cfg.stat().st_mtime_ns == mtime
    assert cfg.stat().st_ino == inode  # not even replaced


def test_new_section_appended_after_one_blank_line() -> None:
    assert merge("[default]\nregion = us-east-1\n", [Profile("x", DEST)]) == (
        f"[default]\nregion = us-east-1\n\n[profile x]\nrole_arn = {DEST}\n"
        "credential_source = EcsContainer\n"
    )
    # Already a blank line at the end: no second one. No final newline: one is added first.
    assert merge("[default]\n\n", [Profile("x", DEST)]).startswith("[default]\n\n[profile x]\n")
    assert merge("[default]", [Profile("x", DEST)]).startswith("[default]\n\n[profile x]\n")
    assert merge("# only a comment", [Profile("x", DEST)]).startswith("# only a comment\n\n[")
    assert merge("", [Profile("x", DEST)]).startswith("[profile x]\n")


def test_key_already_right_keeps_its_exact_spelling() -> None:
    text = f"[profile x]\nROLE_ARN:{DEST}\ncredential_source   =   EcsContainer\n"
    assert merge(text, [Profile("x", DEST)]) == text


def test_replaced_key_keeps_indentation() -> None:
    # An indented section: writing the new value flush left would turn the next indented
    # line into a continuation of the value.
    text = "[profile x]\n  role_arn = arn:aws:iam::111111111111:role/old\n  output = json\n"
    out = merge(text, [Profile("x", DEST)])
    assert out == (
        f"[profile x]\n  role_arn = {DEST}\n  output = json\n  credential_source = EcsContainer\n"
    )


def test_section_without_final_newline() -> None:
    out = merge("[profile x]\noutput = json", [Profile("x", DEST)])
    assert out == (
        f"[profile x]\noutput = json\nrole_arn = {DEST}\ncredential_source = EcsContainer\n"
    )


def test_nested_values_are_kept_and_a_managed_key_with_continuations_goes() -> None:
    text = (
        "[profile x]\n"
        "s3 =\n"
        "    addressing_style = path\n"
        "region = us-east-1\n"
        "role_arn = arn:aws:iam::111111111111:role/old\n"
        "    stray = continuation\n"
        "output = json\n"
    )
    out = merge(text, [Profile("x", DEST)])
    assert out == (
        "[profile x]\n"
        "s3 =\n"
        "    addressing_style = path\n"
        "region = us-east-1\n"
        f"role_arn = {DEST}\n"
        "output = json\n"
        "credential_source = EcsContainer\n"
    )


def test_switching_to_credential_process_and_back(cfg: Path) -> None:
    cfg.parent.mkdir()
    cfg.write_text("[profile x]\noutput = json\n")
    process = Profile(
        "x", DEST, credential_process=True, external_id="ext-1", command=("/opt/ecs xrole/bin",)
    )
    write_profiles([process], path=str(cfg))
    found = profiles_of(cfg)["x"]
    assert set(found) == {"output", "credential_process"}
    assert found["credential_process"] == (
        f"'/opt/ecs xrole/bin' credential-process --role-arn {DEST} --external-id ext-1"
    )

    write_profiles([Profile("x", DEST)], path=str(cfg))
    assert profiles_of(cfg)["x"] == {
        "output": "json",
        "role_arn": DEST,
        "credential_source": "EcsContainer",
    }


def test_stale_option_removed_region_kept_unless_given() -> None:
    text = f"[profile x]\nrole_arn = {DEST}\nexternal_id = old-id\nregion = eu-west-1\n"
    out = merge(text, [Profile("x", DEST)])
    assert out == (
        f"[profile x]\nrole_arn = {DEST}\nregion = eu-west-1\ncredential_source = EcsContainer\n"
    )
    out = merge(out, [Profile("x", DEST, region="us-east-2")])
    assert "region = us-east-2\n" in out
    assert "eu-west-1" not in out


def test_crlf_file_stays_crlf(cfg: Path) -> None:
    cfg.parent.mkdir()
    cfg.write_bytes(RICH.replace("\n", "\r\n").encode())
    write_profiles([Profile("cross-account", DEST), Profile("brand-new", OTHER)], path=str(cfg))
    data = cfg.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")
    assert f"role_arn = {DEST}\r\n".encode() in data
    assert data.endswith(
        b"[profile brand-new]\r\nrole_arn = " + OTHER.encode() + b"\r\n"
        b"credential_source = EcsContainer\r\n"
    )
    assert profiles_of(cfg)["brand-new"]["role_arn"] == OTHER
    again = write_profiles(
        [Profile("cross-account", DEST), Profile("brand-new", OTHER)], path=str(cfg)
    )
    assert not again.changed


def test_bom_file_is_refused_because_botocore_cannot_read_it(cfg: Path) -> None:
    cfg.parent.mkdir()
    data = b"\xef\xbb\xbf[default]\nregion = us-east-1\n"
    cfg.write_bytes(data)
    # The reason: botocore itself fails on the byte-order mark.
    with pytest.raises(botocore.exceptions.ConfigParseError):
        botocore.configloader.raw_config_parse(str(cfg))
    with pytest.raises(ConfigFileError, match="byte-order mark") as info:
        write_profiles([Profile("x", DEST)], path=str(cfg))
    assert "sed -i" in str(info.value)
    assert cfg.read_bytes() == data


def test_profile_default_section_is_edited_in_place() -> None:
    text = "[profile default]\nregion = us-east-1\n"
    out = merge(text, [Profile("default", DEST)])
    assert out == (
        f"[profile default]\nregion = us-east-1\nrole_arn = {DEST}\n"
        "credential_source = EcsContainer\n"
    )


# ---------------------------------------------------------------------------------------------
# Refusals leave the file untouched


def assert_untouched(cfg: Path, data: bytes, mtime: int) -> None:
    assert cfg.read_bytes() == data
    assert cfg.stat().st_mtime_ns == mtime
    assert [p.name for p in cfg.parent.iterdir() if p.name.endswith(".tmp")] == []


def write_existing(cfg: Path, text: str) -> tuple[bytes, int]:
    cfg.parent.mkdir(exist_ok=True)
    cfg.write_text(text)
    os.utime(cfg, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    return cfg.read_bytes(), cfg.stat().st_mtime_ns


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (
            "[default]\nregion = a\n\n[profile default]\nregion = b\n",
            ["line 1 [default]", "line 4 [profile default]"],
        ),
        ('[profile x]\n\n# again, quoted\n[profile "x"]\n', ["line 1", 'line 4 [profile "x"]']),
    ],
)
def test_profile_in_two_sections_is_refused(cfg: Path, text: str, names: list[str]) -> None:
    data, mtime = write_existing(cfg, text)
    name = "default" if "default" in text else "x"
    with pytest.raises(ConfigFileError, match="defined more than once") as info:
        write_profiles([Profile(name, DEST)], path=str(cfg))
    for part in names:
        assert part in str(info.value)
    assert "merge them into one section" in str(info.value)
    assert_untouched(cfg, data, mtime)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[profile x]\nregion = a\n[profile x]\nregion = b\n", "line 3"),
        ("region = us-east-1\n", r"line 1 \(key 'region'\) comes before the first \[section\]"),
        ("[default]\nthis is not a setting\n", "line 2"),
        ("[default]\nregion = a\nregion = b\n", "line 3"),
        ("[default]\ns3 =\n    no equals sign here\n", "indented lines"),
    ],
)
def test_unparseable_file_is_refused(cfg: Path, text: str, match: str) -> None:
    data, mtime = write_existing(cfg, text)
    # botocore agrees that the file cannot be read.
    with pytest.raises(botocore.exceptions.ConfigParseError):
        botocore.configloader.load_config(str(cfg))
    with pytest.raises(ConfigFileError, match=match) as info:
        write_profiles([Profile("other", DEST)], path=str(cfg))
    assert "Fix:" in str(info.value)
    assert_untouched(cfg, data, mtime)


def test_default_section_inheritance_is_refused(cfg: Path) -> None:
    data, mtime = write_existing(cfg, "[DEFAULT]\nexternal_id = everywhere\n")
    with pytest.raises(ConfigFileError, match=r"DEFAULT"):
        write_profiles([Profile("x", DEST)], path=str(cfg))
    assert_untouched(cfg, data, mtime)


def test_non_utf8_file_is_refused(cfg: Path) -> None:
    cfg.parent.mkdir()
    cfg.write_bytes(b"# caf\xe9\n[default]\n")
    with pytest.raises(ConfigFileError, match="not UTF-8"):
        write_profiles([Profile("x", DEST)], path=str(cfg))
    assert cfg.read_bytes() == b"# caf\xe9\n[default]\n"


@pytest.mark.parametrize(
    ("kwargs", "name", "fix"),
    [
        ({"name": "x", "role_arn": "arn:aws:iam::5555:role/r"}, "role_arn", "12 digits"),
        ({"name": "x", "role_arn": "arn:aws:iam::555566667777:user/u"}, "role_arn", "role/"),
        ({"name": "a]b", "role_arn": DEST}, "profile", "cross-account"),
        ({"name": "a\nb", "role_arn": DEST}, "profile", "cross-account"),
        ({"name": "x", "role_arn": DEST, "duration_seconds": 7200}, "duration_seconds", "3600"),
        ({"name": "x", "role_arn": DEST, "duration_seconds": 60}, "duration_seconds", "900"),
        ({"name": "x", "role_arn": DEST, "external_id": "a b"}, "external_id", "trust policy"),
        ({"name": "x", "role_arn": DEST, "region": "Moon"}, "region", "us-east-1"),
        ({"name": "x", "role_arn": DEST, "role_session_name": "x"}, "role_session_name", "name"),
        (
            {"name": "x", "role_arn": DEST, "credential_process": True, "command": ("a\nb",)},
            "credential_process",
            "plain",
        ),
        (
            {"name": "x", "role_arn": DEST, "credential_process": True, "command": ("/a #b",)},
            "credential_process",
            "comment",
        ),
    ],
)
def test_bad_input_is_refused_before_touching_the_file(
    cfg: Path, kwargs: dict[str, object], name: str, fix: str
) -> None:
    data, mtime = write_existing(cfg, RICH)

    def attempt() -> None:
        write_profiles([Profile(**kwargs)], path=str(cfg))  # type: ignore[arg-type]

    with pytest.raises(InvalidInputError) as info:
        attempt()
    assert str(info.value).startswith(name)
    assert "Fix:" in str(info.value)
    assert fix in str(info.value)
    assert_untouched(cfg, data, mtime)


def test_same_profile_twice_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="more than once"):
        merge("", [Profile("x", DEST), Profile("x", OTHER)])


# ---------------------------------------------------------------------------------------------
# Files, modes, links


def test_existing_mode_is_kept(cfg: Path) -> None:
    write_existing(cfg, RICH)
    cfg.chmod(0o640)
    write_profiles([Profile("cross-account", DEST)], path=str(cfg))
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_existing_owner_is_kept_when_root(cfg: Path) -> None:
    write_existing(cfg, RICH)
    os.chown(cfg, 65534, 65534)
    write_profiles([Profile("cross-account", DEST)], path=str(cfg))
    assert (cfg.stat().st_uid, cfg.stat().st_gid) == (65534, 65534)


def test_symlinked_config_writes_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "aws-config"
    real.parent.mkdir()
    real.write_text("[default]\nregion = us-east-1\n")
    link = tmp_path / "home" / ".aws" / "config"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)

    result = write_profiles([Profile("x", DEST)], path=str(link))

    assert link.is_symlink()
    assert os.readlink(link) == str(real)
    assert result.path == str(real)
    assert profiles_of(link)["x"]["role_arn"] == DEST
    assert Path(f"{real}.lock").exists()
    assert not Path(f"{link}.lock").exists()


def test_dry_run_and_check_never_write(cfg: Path) -> None:
    result = write_profiles([Profile("x", DEST)], path=str(cfg), dry_run=True)
    assert result.changed
    assert "[profile x]" in result.text
    assert not cfg.parent.exists()

    data, mtime = write_existing(cfg, RICH)
    result = write_profiles([Profile("cross-account", DEST)], path=str(cfg), check=True)
    assert result.changed
    assert_untouched(cfg, data, mtime)
    assert not Path(f"{cfg}.lock").exists()

    write_profiles([Profile("cross-account", DEST)], path=str(cfg))
    assert not write_profiles([Profile("cross-account", DEST)], path=str(cfg), check=True).changed


def test_config_path_rules(tmp_path: Path) -> None:
    assert config_path({"HOME": "/home/app"}) == "/home/app/.aws/config"
    assert config_path({"HOME": "/h", "AWS_CONFIG_FILE": "~/x/config"}) == "/h/x/config"
    assert config_path({"AWS_CONFIG_FILE": "$D/config", "D": str(tmp_path)}) == (
        f"{tmp_path}/config"
    )
    with pytest.raises(InvalidInputError, match="AWS_CONFIG_FILE"):
        config_path({"AWS_CONFIG_FILE": ""})


def test_environment_chooses_the_file(tmp_path: Path) -> None:
    target = tmp_path / "from-env"
    result = write_profiles([Profile("x", DEST)], environ={"AWS_CONFIG_FILE": str(target)})
    assert result.path == str(target)
    assert target.exists()


def test_target_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="is a directory"):
        write_profiles([Profile("x", DEST)], path=str(tmp_path))


def write_unprivileged(
    path: Path, profile: Profile | None = None, groups: tuple[int, ...] = ()
) -> tuple[int, str]:
    """Call write_profiles (``profile``, by default x -> DEST) in a forked child running as an
    unprivileged user, a member of ``groups`` besides its own.

    The tests that use it write once in their own process first: mutation testing learns which
    test reaches which function from the calls it sees, and a forked child's are not seen.

    Root ignores file permissions, so as root the child drops to ``nobody`` first. Returns the
    child's exit code (0 written, 3 ConfigFileError) and the error message.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        message = ""
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups(list(groups))
                os.setgid(65534)
                os.setuid(65534)
            write_profiles([profile or Profile("x", DEST)], path=str(path))
        except ConfigFileError as exc:
            code, message = 3, str(exc)
        except BaseException as exc:
            code, message = 4, repr(exc)
        finally:
            os.write(write_end, message.encode())
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as handle:
        message = handle.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), message


def _owned_by_runner(path: Path) -> None:
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)


def test_read_only_directory_is_refused(shared_dir: Path) -> None:
    cfg = shared_dir / "aws" / "config"
    cfg.parent.mkdir()
    cfg.write_text(RICH)
    write_profiles([Profile("x", OTHER)], path=str(cfg))  # in this process too (see above)
    os.unlink(f"{cfg}.lock")
    cfg.chmod(0o666)
    _owned_by_runner(cfg)
    cfg.parent.chmod(0o555)
    data = cfg.read_bytes()

    code, message = write_unprivileged(cfg)

    assert code == 3, message
    assert message == (
        f"cannot create the lock file {cfg}.lock: Permission denied. Fix: make {cfg.parent} "
        "writable by this user, or choose a writable place with --config-file or AWS_CONFIG_FILE"
    )
    assert cfg.read_bytes() == data


def test_a_directory_that_cannot_be_made_is_named_with_the_fix(shared_dir: Path) -> None:
    write_profiles([Profile("x", OTHER)], path=str(shared_dir / "made" / "config"))  # see above
    shared_dir.chmod(0o555)
    cfg = shared_dir / "aws" / "config"

    code, message = write_unprivileged(cfg)

    assert code == 3, message
    assert message == (
        f"cannot create the directory {cfg.parent}: Permission denied. Fix: create it yourself, "
        "or choose a writable place with --config-file or AWS_CONFIG_FILE"
    )
    assert not cfg.parent.exists()


def test_unreadable_file_is_refused(shared_dir: Path) -> None:
    cfg = shared_dir / "config"
    cfg.write_text(RICH)
    write_profiles([Profile("x", OTHER)], path=str(cfg))  # in this process too (see above)
    _owned_by_runner(Path(f"{cfg}.lock"))
    _owned_by_runner(shared_dir)
    cfg.chmod(0o200)
    data = cfg.read_bytes()

    code, message = write_unprivileged(cfg)

    assert code == 3, message
    assert f"cannot read {cfg}" in message
    assert "Fix:" in message
    assert cfg.read_bytes() == data


# ---------------------------------------------------------------------------------------------
# Reading profiles back


def test_read_profile_round_trips(cfg: Path) -> None:
    plain = Profile(
        "a",
        DEST,
        external_id="ext-1",
        role_session_name="sess",
        duration_seconds=900,
        region="eu-west-1",
    )
    process = Profile(
        "b",
        OTHER,
        credential_process=True,
        role_session_name="s2",
        duration_seconds=3600,
        command=("/usr/bin/ecs-xrole",),
        region="us-east-1",
    )
    write_profiles([plain, process], path=str(cfg))
    assert read_profile("a", path=str(cfg)) == plain
    assert read_profile("b", path=str(cfg)) == process
    with pytest.raises(InvalidInputError, match="no such profile"):
        read_profile("missing", path=str(cfg))


def test_read_profile_names_a_bad_value(cfg: Path) -> None:
    write_existing(cfg, "[profile a]\nrole_arn = nonsense\n")
    with pytest.raises(InvalidInputError, match=r"role_arn in profile 'a' of .*config"):
        read_profile("a", path=str(cfg))


# ---------------------------------------------------------------------------------------------
# Concurrency and crashes

WRITER = """\
import sys
from ecs_xrole._config.files import write_profiles
from ecs_xrole._config.model import Profile
write_profiles([Profile(sys.argv[2], sys.argv[3])], path=sys.argv[1])
"""

# A writer that holds its written temporary file 30 s before the rename, so that it can be
# killed at exactly that point: the pause is patched in here, not built into ecs-xrole.
PAUSED_WRITER = (
    """\
import os, time
real_replace = os.replace
def replace(*args, **kwargs):
    time.sleep(30)
    real_replace(*args, **kwargs)
os.replace = replace
"""
    + WRITER
)


def pause_before_replace(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make every write in this process (and in children forked from it) hold its written
    temporary file ``seconds`` before the rename."""
    real_replace = os.replace

    def replace(*args: Any, **kwargs: Any) -> None:
        time.sleep(seconds)
        real_replace(*args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.slow
def test_twenty_concurrent_writer_processes_all_land(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_existing(cfg, RICH)
    # The pause widens the read-merge-replace window: without the lock, writers would overwrite
    # each other's profiles.
    pause_before_replace(monkeypatch, 0.02)
    go_read, go_write = os.pipe()
    pids = []
    for i in range(20):  # forked processes: as real as new interpreters, and much cheaper
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(go_write)
                os.read(go_read, 1)  # all start together
                profile = Profile(f"p{i:02d}", f"arn:aws:iam::555566667777:role/r{i}")
                write_profiles([profile], path=str(cfg))
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(go_read)
    os.write(go_write, b"x" * 20)
    os.close(go_write)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    assert codes == [0] * 20
    found = profiles_of(cfg)
    for i in range(20):
        assert found[f"p{i:02d}"]["role_arn"] == f"arn:aws:iam::555566667777:role/r{i}"
    assert found["dev"]["s3"] == {"max_concurrent_requests": "20", "addressing_style": "path"}
    assert cfg.read_text().startswith(RICH)
    assert sorted(p.name for p in cfg.parent.iterdir()) == ["config", "config.lock"]


def wait_for_temp(directory: Path, deadline: float) -> Path:
    while time.monotonic() < deadline:
        temps = [p for p in directory.iterdir() if p.name.endswith(".ecs-xrole.tmp")]
        if temps and temps[0].stat().st_size > 0:
            return temps[0]
        time.sleep(0.005)
    raise AssertionError("the writer never wrote its temporary file")


def test_writer_killed_before_replace_leaves_old_file(cfg: Path) -> None:
    data, _ = write_existing(cfg, RICH)
    proc = subprocess.Popen([sys.executable, "-c", PAUSED_WRITER, str(cfg), "x", DEST])
    try:
        temp = wait_for_temp(cfg.parent, time.monotonic() + 8)
        assert f"role_arn = {DEST}" in temp.read_text()  # the new text was fully written...
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
    assert cfg.read_bytes() == data  # ...but never replaced the old file
    profiles_of(cfg)

    # The next writer cleans up the dead writer's temporary file.
    write_profiles([Profile("x", DEST)], path=str(cfg))
    assert sorted(p.name for p in cfg.parent.iterdir()) == ["config", "config.lock"]
    assert profiles_of(cfg)["x"]["role_arn"] == DEST


LOOP = """\
import sys
from ecs_xrole._config.files import write_profiles
from ecs_xrole._config.model import Profile
arns = [sys.argv[2], sys.argv[3]]
i = 0
while True:
    write_profiles([Profile("flip", arns[i % 2])], path=sys.argv[1])
    i += 1
"""


@pytest.mark.slow
def test_writer_killed_at_random_times_never_leaves_a_torn_file(cfg: Path) -> None:
    import random

    write_existing(cfg, RICH)
    valid = {DEST, OTHER}
    rng = random.Random(4)
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", LOOP, str(cfg), DEST, OTHER])
        time.sleep(0.25 + rng.random() * 0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        text = cfg.read_text()
        assert text.startswith(RICH)
        found = profiles_of(cfg)
        if "flip" in found:
            assert found["flip"]["role_arn"] in valid
    write_profiles([Profile("flip", DEST)], path=str(cfg))
    assert sorted(p.name for p in cfg.parent.iterdir()) == ["config", "config.lock"]


# ---------------------------------------------------------------------------------------------
# Property: whatever the hand-written file, only the target's managed keys change

_names = st.sampled_from(["default", "a", "cross-account", "B", "sso-session s", "services t"])
_keys = st.sampled_from(["region", "output", "role_arn", "external_id", "Mfa_Serial", "s3"])
_values = st.sampled_from(["x1", "us-east-1", OLD, "json", ""])
_line = st.one_of(
    st.just(""),
    st.just("   "),
    st.sampled_from(["# c", "; c", "  # indented comment"]),
    st.tuples(_keys, st.sampled_from([" = ", "=", ": "]), _values).map("".join),
    st.tuples(st.sampled_from(["    "]), _keys, st.just(" = "), _values).map("".join),
)
_section = st.tuples(
    st.sampled_from(["", " "]),
    _names.map(lambda n: n if n == "default" or " " in n else f"profile {n}"),
    st.lists(_line, max_size=5),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_section, max_size=5),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from(["a", "cross-account", "default", "new"]),
    st.booleans(),
)
def test_merge_changes_only_the_target(
    tmp_path_factory: pytest.TempPathFactory,
    sections: list[tuple[str, str, list[str]]],
    newline: str,
    target: str,
    process: bool,
) -> None:
    text = newline.join(
        f"{indent}[{name}]{newline}" + newline.join(lines) for indent, name, lines in sections
    )
    path = tmp_path_factory.mktemp("prop") / "config"
    path.write_bytes(text.encode())
    try:
        before = botocore.configloader.raw_config_parse(str(path))
    except botocore.exceptions.ConfigParseError:
        with pytest.raises(ConfigFileError):
            merge(text, [Profile(target, DEST)])
        return
    profile = Profile(target, DEST, credential_process=process, command=("/bin/x",))
    owners = [s for s in before if s.startswith("profile") or s == "default"]
    if sum(1 for s in owners if s.split()[-1] == target) > 1:
        # Refused because botocore would silently use only one of the sections.
        with pytest.raises(ConfigFileError, match="more than once"):
            merge(text, [profile])
        return
    out = merge(text, [profile])
    path.write_bytes(out.encode())
    after = botocore.configloader.raw_config_parse(str(path))
    loaded = botocore.configloader.build_profile_map(after)["profiles"][target]
    managed = {k: v for k, v in loaded.items() if k in MANAGED_KEYS and k != "region"}
    assert managed == {k: v for k, v in profile.settings().items() if k != "region"}
    changed = [name for name in after if before.get(name) != after[name]]
    assert len(changed) == 1
    assert merge(out, [profile]) == out


# ---------------------------------------------------------------------------------------------
# Edges a user relies on (issue 14)


def test_a_credential_process_line_without_role_arn_is_a_typed_error(cfg: Path) -> None:
    for line in (
        "/opt/ecs-xrole credential-process --region eu-west-1",
        "/opt/ecs-xrole credential-process --region eu-west-1 --role-arn",  # flag, no value
        "/opt/ecs-xrole credential-process",
    ):
        write_existing(cfg, f"[profile a]\ncredential_process = {line}\n")
        with pytest.raises(InvalidInputError, match="it has no --role-arn") as info:
            read_profile("a", path=str(cfg))
        assert "write-config --profile a --credential-process" in str(info.value)


def test_a_credential_process_line_of_another_tool_is_refused(cfg: Path) -> None:
    for line in ("/usr/bin/aws-vault exec x --json", "'unbalanced"):
        write_existing(cfg, f"[profile a]\ncredential_process = {line}\n")
        with pytest.raises(InvalidInputError, match="does not run `ecs-xrole credential-process`"):
            read_profile("a", path=str(cfg))


def test_a_credential_process_profile_reads_back_its_options(cfg: Path) -> None:
    write_existing(
        cfg,
        "[profile a]\nregion = us-west-2\ncredential_process = /opt/x credential-process "
        f"--role-arn {DEST} --external-id ext-1 --duration-seconds 1800\n",
    )
    assert read_profile("a", path=str(cfg)) == Profile(
        "a",
        DEST,
        external_id="ext-1",
        duration_seconds=1800,
        region="us-west-2",  # from the profile, as the line names none
        credential_process=True,
        command=("/opt/x",),
    )
    write_existing(cfg, f"[profile a]\ncredential_process = credential-process --role-arn {DEST}\n")
    assert read_profile("a", path=str(cfg)).command is None  # no command before it: the default


def test_reading_an_empty_profile_name_is_a_typed_error(cfg: Path) -> None:
    write_existing(cfg, f"[default]\nrole_arn = {DEST}\ncredential_source = EcsContainer\n")
    with pytest.raises(InvalidInputError, match="non-empty"):
        read_profile("", path=str(cfg))
    with pytest.raises(InvalidInputError, match="non-empty"):
        Profile("", DEST)


def test_a_profile_with_neither_role_arn_nor_process_says_so(cfg: Path) -> None:
    write_existing(cfg, "[profile a]\nregion = eu-west-1\n")
    with pytest.raises(InvalidInputError, match="neither role_arn nor credential_process"):
        read_profile("a", path=str(cfg))


@pytest.mark.parametrize("command", [(), ("",), ("/bin/x", ""), ("/bin/x", 3), (None,)])
def test_a_command_with_an_empty_or_non_string_part_is_refused(command: Any) -> None:
    with pytest.raises(InvalidInputError, match="non-empty strings") as info:
        Profile("x", DEST, credential_process=True, command=command)
    assert info.value.name == "command"


def test_a_command_list_is_kept_as_a_tuple() -> None:
    profile = Profile("x", DEST, credential_process=True, command=["/bin/x", "-q"])  # type: ignore[arg-type]
    assert profile.command == ("/bin/x", "-q")
    assert profile.process_command().startswith("/bin/x -q credential-process --role-arn ")


def test_config_path_expands_variables_as_botocore_does(tmp_path: Path) -> None:
    env = {"D": str(tmp_path), "HOME": "/home/someone"}
    assert config_path({**env, "AWS_CONFIG_FILE": "$D/config"}) == f"{tmp_path}/config"
    assert config_path({**env, "AWS_CONFIG_FILE": "${D}/aws/config"}) == f"{tmp_path}/aws/config"
    assert config_path({**env, "AWS_CONFIG_FILE": "$NOPE/config"}).endswith("/$NOPE/config")
    assert config_path({**env, "AWS_CONFIG_FILE": "~/cfg"}) == "/home/someone/cfg"
    assert config_path(env) == "/home/someone/.aws/config"
    with pytest.raises(InvalidInputError, match="set but empty"):
        config_path({"AWS_CONFIG_FILE": " "})
    result = write_profiles(
        [Profile("x", DEST)], environ={**env, "AWS_CONFIG_FILE": "$D/sub/config"}
    )
    assert result.path == str(tmp_path / "sub" / "config")
    assert (tmp_path / "sub" / "config").is_file()


def test_dry_run_says_whether_the_file_would_be_created(cfg: Path) -> None:
    result = write_profiles([Profile("x", DEST)], path=str(cfg), dry_run=True)
    assert (result.created, result.changed, result.changed_profiles) == (True, True, ("x",))
    assert not cfg.exists()
    write_profiles([Profile("x", DEST)], path=str(cfg))
    again = write_profiles([Profile("x", DEST)], path=str(cfg), check=True)
    assert (again.created, again.changed, again.changed_profiles) == (False, False, ())
    other = write_profiles([Profile("y", DEST)], path=str(cfg), dry_run=True)
    assert (other.created, other.changed, other.changed_profiles) == (False, True, ("y",))


def test_a_write_removes_only_its_own_left_over_temporary_files(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True, exist_ok=True)
    ours = cfg.parent / f".{cfg.name}.k1ll3d.ecs-xrole.tmp"
    kept = [
        cfg.parent / f"{cfg.name}.bak",
        cfg.parent / f".{cfg.name}.bak",
        cfg.parent / f".{cfg.name}.swp",
        cfg.parent / f".{cfg.name}.other-tool.tmp",  # another writer's file in flight
        cfg.parent / ".credentials.x.ecs-xrole.tmp",  # a temporary of another file
        cfg.parent / f"{cfg.name}.x.ecs-xrole.tmp",  # no leading dot: not one of ours
    ]
    for path in [ours, *kept]:
        path.write_text("keep me\n")
    write_profiles([Profile("x", DEST)], path=str(cfg))
    assert not ours.exists()
    assert all(path.read_text() == "keep me\n" for path in kept)


# -- default_command: what a credential_process line runs ---------------------------------------


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_default_command_is_the_running_console_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _executable(tmp_path / "bin" / "ecs-xrole")
    monkeypatch.chdir(tmp_path)
    # A relative argv[0] is made absolute: the line runs from whatever directory the SDK is in.
    assert default_command("bin/ecs-xrole") == (str(script),)


@pytest.mark.parametrize("argv0", ["", "bin/ecs-xrole-old", "bin/not-a-file/ecs-xrole"])
def test_default_command_ignores_an_argv0_that_is_not_the_script(
    argv0: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _executable(tmp_path / "bin" / "ecs-xrole-old")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", "/opt/py/bin/python3")
    assert default_command(argv0) == ("/opt/py/bin/python3", "-m", "ecs_xrole")


def test_default_command_takes_the_script_beside_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = _executable(tmp_path / "venv" / "bin" / "python3")
    script = _executable(tmp_path / "venv" / "bin" / "ecs-xrole")
    monkeypatch.setenv("PATH", os.pathsep.join([str(tmp_path / "venv" / "bin")]))
    monkeypatch.setattr(sys, "executable", str(python))
    assert default_command("/usr/bin/python3") == (str(script),)


def test_default_command_refuses_a_script_of_another_installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = _executable(tmp_path / "venv" / "bin" / "python3")
    _executable(tmp_path / "elsewhere" / "ecs-xrole")
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(sys, "executable", str(python))
    assert default_command("python3") == (str(python), "-m", "ecs_xrole")


def test_default_command_without_sys_executable_finds_python3_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first executable python3 on PATH: a directory, or a file that cannot run, is passed over.
    (tmp_path / "a" / "python3").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "python3").write_text("", encoding="utf-8")
    python = _executable(tmp_path / "c" / "python3")
    _executable(tmp_path / "d" / "python3")
    path = [str(tmp_path / d) for d in "abcd"]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    monkeypatch.setattr(sys, "executable", "")
    assert default_command("") == (str(python), "-m", "ecs_xrole")
    # Nothing found at all: plain python3, left to PATH when the line runs.
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert default_command("") == ("python3", "-m", "ecs_xrole")


def test_default_command_empty_path_entry_is_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = _executable(tmp_path / "python3")
    script = _executable(tmp_path / "ecs-xrole")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", os.pathsep + str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(python))
    assert default_command("python3") == (str(script),)


def test_default_command_with_path_unset_uses_the_default_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = _executable(tmp_path / "python3")
    monkeypatch.delenv("PATH", raising=False)
    monkeypatch.setattr(os, "defpath", str(tmp_path))
    monkeypatch.setattr(sys, "executable", "")
    assert default_command("") == (str(python), "-m", "ecs_xrole")


_NOT_REGULAR_FIX = (
    "point AWS_CONFIG_FILE (or --config-file) at a regular file, or at a path that does not "
    "exist yet"
)


@pytest.mark.parametrize("kind", ["a directory", "a FIFO", "a socket", "a device"])
def test_a_config_path_that_is_not_a_regular_file_is_refused_by_its_kind(
    tmp_path: Path, kind: str
) -> None:
    import socket

    target = tmp_path / "config"
    listener = None
    if kind == "a directory":
        target.mkdir()
    elif kind == "a FIFO":
        os.mkfifo(target)
    elif kind == "a socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(target))
    else:
        target = Path("/dev/null")
    try:
        for attempt in (
            lambda: write_profiles([Profile("x", DEST)], path=str(target)),
            lambda: read_profile("x", path=str(target)),
        ):
            with pytest.raises(ConfigFileError) as info:
                attempt()
            assert str(info.value) == (
                f"{target} is {kind}, not a regular file. Fix: {_NOT_REGULAR_FIX}"
            )
            assert info.value.path == str(target)
    finally:
        if listener is not None:
            listener.close()


# ---------------------------------------------------------------------------------------------
# Reading back: what each refusal says, in full


def test_a_missing_profile_names_the_file_and_the_command_that_writes_it(cfg: Path) -> None:
    for text in (None, f"[profile other]\nrole_arn = {DEST}\n"):  # no file; a file without it
        if text is not None:
            write_existing(cfg, text)
        with pytest.raises(InvalidInputError) as info:
            read_profile("a", path=str(cfg))
        assert str(info.value) == (
            f"profile 'a' is not valid: there is no such profile in {cfg}. Fix: run "
            "`ecs-xrole write-config --profile a --role-arn ARN` first"
        )


def test_a_profile_without_a_role_says_which_keys_it_lacks(cfg: Path) -> None:
    write_existing(cfg, "[profile a]\nregion = eu-west-1\n")
    with pytest.raises(InvalidInputError) as info:
        read_profile("a", path=str(cfg))
    assert str(info.value) == (
        f"profile 'a' is not valid: it has neither role_arn nor credential_process in {cfg}. "
        "Fix: run `ecs-xrole write-config --profile a --role-arn ARN`"
    )


def test_read_profile_takes_the_file_from_the_environment_given(tmp_path: Path) -> None:
    target = tmp_path / "chosen"
    write_profiles([Profile("a", DEST, source_profile="base")], path=str(target))
    profile = read_profile("a", environ={"AWS_CONFIG_FILE": str(target)})
    assert profile == Profile("a", DEST, source_profile="base")
    assert profile.source_profile == "base"


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("external_id = a b", "external_id"),
        ("role_session_name = has space", "role_session_name"),
        ("duration_seconds = 12", "duration_seconds"),
        ("region = Not-A-Region", "region"),
    ],
)
def test_a_bad_value_read_back_names_its_key_profile_and_file(
    cfg: Path, line: str, name: str
) -> None:
    write_existing(cfg, f"[profile a]\nrole_arn = {DEST}\n{line}\n")
    with pytest.raises(InvalidInputError) as info:
        read_profile("a", path=str(cfg))
    assert info.value.name == f"{name} in profile 'a' of {cfg}"


def test_a_bad_duration_in_a_credential_process_line_names_the_line(cfg: Path) -> None:
    line = f"/opt/x credential-process --role-arn {DEST} --duration-seconds 12"
    write_existing(cfg, f"[profile a]\ncredential_process = {line}\n")
    with pytest.raises(InvalidInputError) as info:
        read_profile("a", path=str(cfg))
    assert info.value.name == f"--duration-seconds of credential_process in profile 'a' of {cfg}"


def test_a_credential_process_line_reads_back_every_option(cfg: Path) -> None:
    line = (
        f"/opt/x credential-process --role-arn {DEST} --role-session-name s1 "
        "--region eu-west-1 --source-profile base"
    )
    write_existing(cfg, f"[profile a]\nregion = us-west-2\ncredential_process = {line}\n")
    assert read_profile("a", path=str(cfg)) == Profile(
        "a",
        DEST,
        role_session_name="s1",
        region="eu-west-1",  # the line's own region wins over the profile's
        source_profile="base",
        credential_process=True,
        command=("/opt/x",),
    )


@pytest.mark.parametrize(
    ("line", "problem", "fix"),
    [
        ("/usr/bin/aws-vault exec x --json", "it does not run `ecs-xrole credential-process`",
         "use a role_arn profile, or pass --role-arn instead of --profile"),
        ("/opt/x credential-process --region eu-west-1", "it has no --role-arn",
         "rewrite it with `ecs-xrole write-config --profile a --credential-process`"),
    ],
)  # fmt: skip
def test_a_credential_process_line_that_cannot_be_read_back_says_why(
    cfg: Path, line: str, problem: str, fix: str
) -> None:
    write_existing(cfg, f"[profile a]\ncredential_process = {line}\n")
    with pytest.raises(InvalidInputError) as info:
        read_profile("a", path=str(cfg))
    assert str(info.value) == (
        f"credential_process in profile 'a' of {cfg} {line!r} is not valid: {problem}. Fix: {fix}"
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("key = value", "line 1 (key 'key') comes before the first [section] header"),
        ("[default]\nregion = eu-west-1\naws_secret_access_key SeCrEt\n",
         "line 3: not a [section] header, a comment, nor 'key = value'"),
        ("[default]\nSeCrEt\n", "line 2: not a [section] header, a comment, nor 'key = value'"),
        ("[default]\n[default]\n", "section [default] appears more than once (again at line 2)"),
    ],
)  # fmt: skip
def test_a_parse_error_names_the_file_line_and_key_and_never_the_value(
    cfg: Path, text: str, said: str
) -> None:
    write_existing(cfg, text)
    with pytest.raises(ConfigFileError) as info:
        read_profile("default", path=str(cfg))
    assert str(info.value) == (
        f"{cfg} cannot be parsed, so botocore and the AWS CLI cannot read it either: {said}. "
        "Fix: correct the line it names (or move the file aside) and run again"
    )
    assert "SeCrEt" not in str(info.value)
    assert info.value.path == str(cfg)


def test_a_lock_file_that_is_a_symlink_is_refused_and_the_config_kept(cfg: Path) -> None:
    data, _ = write_existing(cfg, f"[profile a]\nrole_arn = {DEST}\n")
    lock = Path(f"{cfg}.lock")
    lock.symlink_to(cfg.parent / "elsewhere")
    with pytest.raises(ConfigFileError) as info:
        write_profiles([Profile("a", OTHER)], path=str(cfg))
    assert str(info.value) == (
        f"{lock} is a symlink, not a regular file. Fix: remove {lock} (write-config makes a new "
        "one) and run again"
    )
    assert cfg.read_bytes() == data
    assert not (cfg.parent / "elsewhere").exists()


# ---------------------------------------------------------------------------------------------
# A write that fails: the file is kept, nothing is left behind


def test_a_write_that_fails_midway_keeps_the_file_and_leaves_no_temporary_file(cfg: Path) -> None:
    import resource

    data, _ = write_existing(cfg, RICH)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # A file size limit makes the write of the new text fail with EFBIG, as a full disk would.
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, limit[1]))
    try:
        with pytest.raises(ConfigFileError) as info:
            write_profiles([Profile("x", DEST)], path=str(cfg))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, handler)
    assert str(info.value) == (
        f"cannot write {cfg}: File too large. Fix: check the free space and permissions of its "
        "directory"
    )
    assert info.value.path == str(cfg)
    assert cfg.read_bytes() == data
    assert sorted(p.name for p in cfg.parent.iterdir()) == ["config", "config.lock"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file another group")
def test_a_rewrite_by_a_member_of_the_files_group_keeps_the_group(shared_dir: Path) -> None:
    cfg = shared_dir / "config"
    write_profiles([Profile("a", DEST)], path=str(cfg))  # in this process first
    os.chown(shared_dir, 65534, 65534)
    for path in (cfg, Path(f"{cfg}.lock")):
        os.chown(path, 65534, 100)  # owned by nobody, group 100 (nobody's other group)
        path.chmod(0o640)

    code, message = write_unprivileged(cfg, Profile("a", OTHER), groups=(100,))

    assert code == 0, message
    info = cfg.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 100, 0o640)
    assert OTHER in cfg.read_text()


def _planting_urandom(directory: Path, victim: Path, taken: int) -> Any:
    """os.urandom for the temporary file's name that first plants a symlink at each of the
    first ``taken`` names it gives: another user racing for the name."""
    calls = []

    def urandom(n: int) -> bytes:
        calls.append(n)
        value = bytes([len(calls) % 256]) * n
        if len(calls) <= taken:
            (directory / f".config.{value.hex()}.ecs-xrole.tmp").symlink_to(victim)
        return value

    return urandom


def test_a_temporary_name_someone_else_took_is_skipped_never_followed(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_existing(cfg, RICH)
    victim = cfg.parent / "victim"
    monkeypatch.setattr(os, "urandom", _planting_urandom(cfg.parent, victim, taken=1))
    write_profiles([Profile("x", DEST)], path=str(cfg))
    monkeypatch.undo()
    assert not victim.exists()  # the planted link was not followed
    assert read_profile("x", path=str(cfg)) == Profile("x", DEST)
    planted = [p for p in cfg.parent.iterdir() if p.is_symlink()]
    assert len(planted) == 1  # left alone until the next write's sweep


def test_when_every_temporary_name_is_taken_the_write_is_refused(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _ = write_existing(cfg, RICH)
    victim = cfg.parent / "victim"
    monkeypatch.setattr(os, "urandom", _planting_urandom(cfg.parent, victim, taken=10**6))
    with pytest.raises(ConfigFileError) as info:
        write_profiles([Profile("x", DEST)], path=str(cfg))
    monkeypatch.undo()
    assert str(info.value) == (
        f"cannot write in {cfg.parent}: no unused temporary file name. Fix: make the directory "
        "writable by this user (the file is replaced atomically, which needs a new file beside "
        "it), or choose another with --config-file"
    )
    assert info.value.path == str(cfg)
    assert cfg.read_bytes() == data
    assert not victim.exists()


def test_the_temporary_file_is_made_beside_the_config_not_in_the_working_directory(
    cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()  # nothing can be made in the working directory now
    write_profiles([Profile("x", DEST)], path=str(cfg))
    assert read_profile("x", path=str(cfg)) == Profile("x", DEST)


def test_an_empty_aws_config_file_variable_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidInputError) as info:
        config_path({"AWS_CONFIG_FILE": " "})
    assert str(info.value) == (
        "AWS_CONFIG_FILE ' ' is not valid: it is set but empty, so the AWS CLI reads no config "
        "file. Fix: unset it (to use ~/.aws/config) or set it to a file path"
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("# a comment\nkey = value\n",
         "line 2 (key 'key') comes before the first [section] header"),
        ("[default]\nbad one\nbad two\n",
         "line 2, line 3: not a [section] header, a comment, nor 'key = value'"),
    ],
)  # fmt: skip
def test_a_parse_error_names_each_line_it_found(cfg: Path, text: str, said: str) -> None:
    write_existing(cfg, text)
    with pytest.raises(ConfigFileError) as info:
        read_profile("default", path=str(cfg))
    assert info.value.what.endswith(f"cannot read it either: {said}")


def test_keys_added_after_a_replaced_indented_setting_get_its_indentation() -> None:
    text = f"[profile a]\n  role_arn = {OLD}\n"
    assert merge(text, [Profile("a", DEST, region="eu-west-1")]) == (
        f"[profile a]\n  role_arn = {DEST}\n  credential_source = EcsContainer\n"
        "  region = eu-west-1\n"
    )


def test_the_process_command_carries_every_option() -> None:
    profile = Profile(
        "a", DEST, credential_process=True, command=("/opt/my tools/ecs-xrole",),
        external_id="ext-1", role_session_name="s1", duration_seconds=900, region="eu-west-1",
        source_profile="base",
    )  # fmt: skip
    assert profile.process_command() == (
        f"'/opt/my tools/ecs-xrole' credential-process --role-arn {DEST} --external-id ext-1 "
        "--role-session-name s1 --duration-seconds 900 --region eu-west-1 --source-profile base"
    )


def test_config_path_of_a_bare_tilde_and_without_home(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_path({"HOME": "/home/someone", "AWS_CONFIG_FILE": "~"}) == "/home/someone"
    home = os.path.expanduser("~")
    assert config_path({"AWS_CONFIG_FILE": "~/cfg"}) == os.path.join(home, "cfg")


def test_default_command_reads_sys_argv_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/nonexistent/not-the-script", "write-config"])
    assert default_command() == default_command("/nonexistent/not-the-script")
    monkeypatch.setattr(sys, "argv", [sys.executable, "/nonexistent/second"])
    assert default_command() == default_command(sys.executable)


# ---------------------------------------------------------------------------------------------
# Reading the file: its size, its encoding, its owner, and what cannot be opened


def test_a_config_at_the_size_limit_is_read_and_one_byte_more_is_refused(cfg: Path) -> None:
    body = f"[profile a]\nrole_arn = {DEST}\n"
    padding = 1024 * 1024 - len(body) - 1
    write_existing(cfg, body + "#" * padding + "\n")
    assert cfg.stat().st_size == 1024 * 1024
    assert read_profile("a", path=str(cfg)) == Profile("a", DEST)
    write_existing(cfg, body + "#" * (padding + 1) + "\n")
    with pytest.raises(ConfigFileError) as info:
        read_profile("a", path=str(cfg))
    assert str(info.value) == (
        f"{cfg} is larger than 1024 KiB, far more than an AWS config file holds (is it the right "
        "file?). Fix: point AWS_CONFIG_FILE (or --config-file) at the AWS config file"
    )
    assert info.value.path == str(cfg)


def test_a_config_that_is_not_utf8_names_the_byte_and_the_fix(cfg: Path) -> None:
    write_existing(cfg, "")
    cfg.write_bytes(b"# caf\xe9\n[default]\n")
    with pytest.raises(ConfigFileError) as info:
        read_profile("default", path=str(cfg))
    assert str(info.value) == (
        f"{cfg} is not UTF-8 text (byte 5), so it cannot be read reliably. Fix: convert it to "
        "UTF-8 (e.g. `iconv -f latin1 -t utf-8`) and run again"
    )


def test_a_config_path_that_cannot_be_opened_names_the_reason(tmp_path: Path) -> None:
    target = tmp_path / ("x" * 300) / "config"  # a name longer than the file system allows
    with pytest.raises(ConfigFileError) as info:
        read_profile("a", path=str(target))
    assert str(info.value) == (
        f"cannot read {target}: File name too long. Fix: make it readable by this user (or "
        "choose another file with --config-file)"
    )
    assert info.value.path == str(target)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another user")
def test_a_config_another_user_planted_in_a_sticky_directory_is_refused(
    shared_dir: Path,
) -> None:
    sticky = shared_dir / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    cfg = sticky / "config"
    cfg.write_text("[profile theirs]\ncredential_process = /tmp/evil\n")
    os.chown(cfg, 65534, 65534)
    with pytest.raises(ConfigFileError) as info:
        write_profiles([Profile("x", DEST)], path=str(cfg))
    assert str(info.value) == (
        f"refusing to use {cfg}: {cfg} is owned by uid 65534 (nobody) in a directory others may "
        "write, so that user controls what it holds. Fix: remove it (or use a directory only "
        "this user controls) and run again"
    )
    assert info.value.path == str(cfg)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file to another user")
def test_a_config_another_user_owns_in_a_private_directory_is_read(cfg: Path) -> None:
    write_existing(cfg, f"[profile a]\nrole_arn = {DEST}\n")
    os.chown(cfg, 65534, 65534)  # e.g. a file mounted into the container
    assert read_profile("a", path=str(cfg)) == Profile("a", DEST)


def test_a_lock_file_that_cannot_be_made_names_it_and_keeps_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / ("c" * 251)  # fits; with ".lock" the name is longer than allowed
    cfg.write_text(f"[profile a]\nrole_arn = {DEST}\n")
    data = cfg.read_bytes()
    with pytest.raises(ConfigFileError) as info:
        write_profiles([Profile("a", OTHER)], path=str(cfg))
    assert str(info.value) == (
        f"cannot create the lock file {cfg}.lock: File name too long. Fix: make {tmp_path} "
        "writable by this user, or choose a writable place with --config-file or AWS_CONFIG_FILE"
    )
    assert info.value.path == str(cfg)
    assert cfg.read_bytes() == data


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_path_whose_directories_cannot_be_looked_up_is_a_typed_error(
    tmp_path: Path, dry_run: bool
) -> None:
    (tmp_path / "file").write_text("not a directory")
    for parent, reason in (
        (tmp_path / "file" / "sub", "Not a directory"),
        (tmp_path / ("d" * 300), "File name too long"),
    ):
        target = parent / "config"
        with pytest.raises(ConfigFileError) as info:
            write_profiles([Profile("x", DEST)], path=str(target), dry_run=dry_run)
        assert str(info.value) == (
            f"cannot write {target}: looking up {parent} failed: {reason}. Fix: make each "
            "directory above the file a directory this user may search, or choose another file "
            "with --config-file or AWS_CONFIG_FILE"
        )
    assert (tmp_path / "file").read_text() == "not a directory"


_SWAP = (
    "so another user could replace the config file with one whose credential_process runs "
    "their command as this user"
)


@pytest.mark.parametrize(
    ("mode", "who"),
    [(0o777, "its group and others"), (0o775, "its group"), (0o757, "others")],
)
@pytest.mark.parametrize("depth", ["own directory", "a parent"])
def test_a_directory_others_may_write_without_the_sticky_bit_is_refused_in_full(
    shared_dir: Path, mode: int, who: str, depth: str
) -> None:
    weak = shared_dir / "weak"
    weak.mkdir()
    weak.chmod(mode)
    cfg = weak / "config" if depth == "own directory" else weak / "aws" / "config"
    if depth == "a parent":
        cfg.parent.mkdir(mode=0o755)
    with pytest.raises(ConfigFileError) as info:
        write_profiles([Profile("x", DEST)], path=str(cfg))
    assert str(info.value) == (
        f"refusing to write {cfg}: {weak} is writable by {who} (mode {mode:04o}) and has no "
        f"sticky bit, {_SWAP}. Fix: `chmod go-w {weak}`, or use a directory only this user "
        "controls"
    )
    assert info.value.path == str(cfg)
    assert not cfg.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_a_directory_another_user_owns_is_refused_in_full(shared_dir: Path) -> None:
    theirs = shared_dir / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    cfg = theirs / "config"
    with pytest.raises(ConfigFileError) as info:
        write_profiles([Profile("x", DEST)], path=str(cfg), dry_run=True)
    assert str(info.value) == (
        f"refusing to write {cfg}: {theirs} is owned by uid 65534 (nobody), not by this user "
        f"(uid 0 (root)) or root, {_SWAP}. Fix: use a directory only this user (or root) "
        f"controls, such as ~/.aws (unset AWS_CONFIG_FILE), or `chown 0 {theirs}` if it should "
        "be this user's"
    )


def test_dot_and_dot_dot_in_the_path_are_resolved(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    result = write_profiles([Profile("x", DEST)], path=f"{tmp_path}/a/./b/../config")
    assert result.path == str(tmp_path / "a" / "config")
    assert (tmp_path / "a" / "config").is_file()


def test_a_symlink_to_a_target_with_a_space_is_written_through(tmp_path: Path) -> None:
    (tmp_path / "my dotfiles").mkdir()
    (tmp_path / "config").symlink_to("my dotfiles/aws config")
    result = write_profiles([Profile("x", DEST)], path=str(tmp_path / "config"))
    assert result.path == str(tmp_path / "my dotfiles" / "aws config")
    assert (tmp_path / "config").is_symlink()
    assert read_profile("x", path=str(tmp_path / "config")) == Profile("x", DEST)


def test_a_chain_of_forty_symlinks_resolves_and_a_loop_is_refused(tmp_path: Path) -> None:
    for i in range(40):  # link0 -> link1 -> ... -> link39 -> config: forty links
        (tmp_path / f"link{i}").symlink_to(f"link{i + 1}" if i < 39 else "config")
    result = write_profiles([Profile("x", DEST)], path=str(tmp_path / "link0"))
    assert result.path == str(tmp_path / "config")
    (tmp_path / "loop-a").symlink_to("loop-b")
    (tmp_path / "loop-b").symlink_to("loop-a")
    with pytest.raises(ConfigFileError) as info:
        write_profiles([Profile("x", DEST)], path=str(tmp_path / "loop-a"))
    assert str(info.value) == (
        f"cannot resolve {tmp_path / 'loop-a'}: more than 40 symlinks (a loop?). Fix: point "
        "AWS_CONFIG_FILE (or --config-file) at the real file"
    )
    assert info.value.path == str(tmp_path / "loop-a")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a symlink to another user")
def test_a_symlink_another_user_owns_is_not_followed_and_says_so(shared_dir: Path) -> None:
    link = shared_dir / "config"
    link.symlink_to(shared_dir / "victim")
    os.lchown(link, 65534, 65534)
    with pytest.raises(ConfigFileError) as info:
        write_profiles([Profile("x", DEST)], path=str(link))
    assert str(info.value) == (
        f"refusing to write {link}: it goes through the symlink {link}, which uid 65534 (nobody) "
        "owns, not this user (uid 0 (root)) or root; that user could point it at any file this "
        "user may write. Fix: remove the link and run again, or choose a path without it with "
        "--config-file or AWS_CONFIG_FILE"
    )
    assert not (shared_dir / "victim").exists()


def test_a_value_inherited_from_default_is_refused_in_full(cfg: Path) -> None:
    data, mtime = write_existing(cfg, "[DEFAULT]\nexternal_id = abc\nsource_profile = base\n")
    with pytest.raises(ConfigFileError) as info:
        write_profiles([Profile("a", DEST)], path=str(cfg))
    wanted = {"role_arn": DEST, "credential_source": "EcsContainer"}
    got = {**wanted, "external_id": "abc", "source_profile": "base"}
    assert str(info.value) == (
        f"refusing to write {cfg}: after the change, botocore would read profile 'a' as {got!r} "
        f"instead of {wanted!r} (external_id, source_profile inherited from [DEFAULT]?). Fix: "
        "simplify the layout of that section (indentation, [DEFAULT] values) or move the file "
        "aside, and run again"
    )
    assert info.value.path == str(cfg)
    assert_untouched(cfg, data, mtime)


def test_no_profiles_is_refused_in_full() -> None:
    with pytest.raises(InvalidInputError) as info:
        write_profiles([])
    assert str(info.value) == (
        "profiles [] is not valid: no profile given. Fix: pass at least one Profile"
    )


def test_each_write_logs_what_it_did_and_returns_the_text(
    cfg: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="ecs_xrole.config")
    first = write_profiles([Profile("a", DEST), Profile("b", OTHER)], path=str(cfg))
    second = write_profiles([Profile("a", DEST)], path=str(cfg))
    assert first.text == second.text == cfg.read_text()
    assert [r.getMessage() for r in caplog.records] == [
        f"wrote profiles a, b to {cfg}",
        f"{cfg} already holds profiles a",
    ]


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda: Profile("a", DEST, source_profile="a"),
         "source_profile 'a' is not valid: profile 'a' cannot be its own source (the AWS CLI "
         "reports an infinite loop). Fix: name the profile that holds your own credentials (keys "
         "or SSO)"),
        (lambda: Profile("a", DEST, command=("",)),
         "command ('',) is not valid: it must be non-empty strings. Fix: pass e.g. "
         "('/usr/local/bin/ecs-xrole',)"),
        (lambda: Profile("a", DEST, source_profile=""),
         "source_profile '' is not valid"),
    ],
)  # fmt: skip
def test_a_profile_that_cannot_be_written_says_why_in_full(make: Any, said: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        make()
    assert str(info.value).startswith(said)
    assert info.value.name == said.split(" ", 1)[0]


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs /proc/self/mem")
def test_a_config_whose_read_fails_names_the_error() -> None:
    # /proc/self/mem is a regular file whose first page cannot be read: open succeeds, read fails.
    target = os.path.realpath("/proc/self/mem")
    with pytest.raises(ConfigFileError) as info:
        read_profile("a", path="/proc/self/mem")
    assert str(info.value) == (
        f"cannot read {target}: Input/output error. Fix: make it readable by this user (or "
        "choose another file with --config-file)"
    )
    assert info.value.path == target


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another user")
def test_a_lock_file_another_user_planted_in_a_sticky_directory_is_refused(
    shared_dir: Path,
) -> None:
    sticky = shared_dir / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    cfg = sticky / "config"
    lock = sticky / "config.lock"
    lock.touch()
    os.chown(lock, 65534, 65534)
    with pytest.raises(ConfigFileError) as info:
        write_profiles([Profile("x", DEST)], path=str(cfg))
    assert str(info.value).startswith(
        f"refusing to use {lock}: {lock} is owned by uid 65534 (nobody) in a directory others may "
        "write"
    )
    assert not cfg.exists()


def test_keys_after_a_bare_header_are_indented_like_the_indented_header_below() -> None:
    # Shallower, they would turn "    [profile b]" into a continuation of their value.
    text = "[profile a]\n# a note\n    [profile b]\n    region = us-east-1\n"
    assert merge(text, [Profile("a", DEST)]) == (
        f"[profile a]\n    role_arn = {DEST}\n    credential_source = EcsContainer\n# a note\n"
        "    [profile b]\n    region = us-east-1\n"
    )


def test_a_real_write_reports_only_the_profiles_it_changed(cfg: Path) -> None:
    write_profiles([Profile("a", DEST), Profile("b", DEST)], path=str(cfg))
    result = write_profiles([Profile("a", OTHER), Profile("b", DEST)], path=str(cfg))
    assert (result.path, result.created, result.changed) == (str(cfg), False, True)
    assert result.changed_profiles == ("a",)
    dry = write_profiles([Profile("b", OTHER)], path=str(cfg), dry_run=True)
    assert (dry.path, dry.changed_profiles) == (str(cfg), ("b",))


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda: section_header("a\nb"),
         "profile 'a\\nb' is not valid: botocore could not read it back as a section name. Fix: "
         "use letters, digits and -_. such as 'cross-account'"),
        (lambda: merge("", [Profile("a", DEST), Profile("a", OTHER)]),
         "profile 'a' is not valid: it is given more than once. Fix: give each profile once"),
        (lambda: merge("\ufeff[default]\n", [Profile("a", DEST)], source="/f"),
         "/f starts with a UTF-8 byte-order mark, which botocore (and so the AWS CLI) cannot "
         "parse: every profile in it is unreadable today. Fix: remove the first three bytes, "
         "e.g. `sed -i '1s/^\\xEF\\xBB\\xBF//' /f`, then run again"),
    ],
)  # fmt: skip
def test_a_name_or_text_that_cannot_be_merged_says_why_in_full(make: Any, said: str) -> None:
    with pytest.raises((InvalidInputError, ConfigFileError)) as info:
        make()
    assert str(info.value) == said


def test_a_left_over_temporary_file_is_removed_and_logged(
    cfg: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    write_existing(cfg, f"[profile a]\nrole_arn = {DEST}\n")
    (cfg.parent / ".config.0123456789ab.ecs-xrole.tmp").write_text("half a file")
    caplog.set_level(logging.INFO, logger="ecs_xrole.config")
    write_profiles([Profile("a", OTHER)], path=str(cfg))
    assert caplog.records[0].getMessage() == (
        "removed a temporary file left by an interrupted writer: .config.0123456789ab.ecs-xrole.tmp"
    )


def test_a_blank_line_before_an_indented_header_does_not_set_the_indentation() -> None:
    text = "[profile a]\n\n    [profile b]\n    region = us-east-1\n"
    assert merge(text, [Profile("a", DEST)]) == (
        f"[profile a]\n    role_arn = {DEST}\n    credential_source = EcsContainer\n\n"
        "    [profile b]\n    region = us-east-1\n"
    )


def test_a_key_with_spaces_before_its_equals_sign_is_replaced_in_place() -> None:
    text = f"[profile a]\nrole_arn   = {OLD}\n"
    assert merge(text, [Profile("a", DEST)]) == (
        f"[profile a]\nrole_arn = {DEST}\ncredential_source = EcsContainer\n"
    )
