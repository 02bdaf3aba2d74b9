"""deploy/systemd/: every unit passes `systemd-analyze verify` (its ExecStart pointed at this checkout's
venv, as an install would point it at /opt/deribit-ingest/.venv) and `systemd-analyze security` rates it
OK; the services restart, are hardened, and can write where their settings say they write; the backup
unit's command line is one `ingest db backup` accepts; the timer fires daily.

systemd-analyze works without systemd running as PID 1 (a container); `make system-tools` installs
Debian's systemd package when the tool is missing (CI runs as root).
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli import cli

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
INSTALLED_INGEST = "/opt/deribit-ingest/.venv/bin/ingest"  # where docs/operations.md installs it
VENV_INGEST = str(Path(sys.executable).with_name("ingest"))
UNIT_FILES = sorted(p.name for p in UNITS.iterdir() if p.suffix in (".service", ".timer"))
# `systemd-analyze security` exposure, 0 (locked down) to 10 (unprotected), times ten; 2.0 is "OK"
MAX_EXPOSURE = 20

pytestmark = pytest.mark.unit


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is missing: `make system-tools` installs it (Debian: apt-get install systemd)",
                    pytrace=False)
    return tool


def unit(name: str) -> configparser.ConfigParser:
    """A unit file as sections of (possibly repeated) keys: repeated keys are joined by newlines."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",),
                                       comment_prefixes=("#", ";"), empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    lines: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            parser.add_section(section)
            continue
        key, _, value = line.partition("=")
        lines.setdefault((section, key), []).append(value)
    for (section, key), values in lines.items():
        parser.set(section, key, "\n".join(values))
    return parser


def env_example() -> dict[str, str]:
    values = {}
    for line in (UNITS / "env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def service_environment(name: str) -> dict[str, str]:
    """What the service's process sees from the unit and the example environment file (which wins,
    as an EnvironmentFile= wins over Environment=)."""
    env = {}
    for assignment in unit(name)["Service"].get("Environment", "").splitlines():
        key, _, value = assignment.partition("=")
        env[key] = value
    return {**env, **env_example()}


def writable(name: str) -> list[Path]:
    return [Path(p) for p in unit(name)["Service"]["ReadWritePaths"].split()]


def under(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


@pytest.fixture(scope="module")
def installed_copy(tmp_path_factory) -> Path:
    """The units as an install would have them, ExecStart pointing at this venv's `ingest`."""
    directory = tmp_path_factory.mktemp("units")
    for path in UNITS.iterdir():
        text = path.read_text()
        (directory / path.name).write_text(text.replace(INSTALLED_INGEST, VENV_INGEST))
    return directory


def test_the_units_are_there():
    assert UNIT_FILES == ["deribit-ingest-backup.service", "deribit-ingest-backup.timer", "deribit-ingest.service"]
    assert all(INSTALLED_INGEST in unit(n)["Service"]["ExecStart"] for n in UNIT_FILES if n.endswith(".service"))


@pytest.mark.parametrize("name", UNIT_FILES)
def test_each_unit_passes_systemd_analyze_verify(name, installed_copy):
    proc = subprocess.run([systemd_analyze(), "verify", str(installed_copy / name)], capture_output=True,
                          text=True, timeout=120)
    # verify reports unknown keys and bad values as warnings with exit status 0: any output is a failure
    assert proc.returncode == 0 and proc.stdout.strip() == "" and proc.stderr.strip() == "", proc.stdout + proc.stderr


def test_verify_catches_what_it_should(installed_copy, tmp_path):
    """The check above can fail: a typo in a hardening key, and an ExecStart that does not exist."""
    text = (installed_copy / "deribit-ingest.service").read_text()
    broken = tmp_path / "deribit-ingest.service"
    broken.write_text(text.replace("ProtectSystem=strict", "ProtectSytem=strict"))
    proc = subprocess.run([systemd_analyze(), "verify", str(broken)], capture_output=True, text=True, timeout=120)
    assert "ProtectSytem" in proc.stderr
    broken.write_text(text.replace(VENV_INGEST, "/nonexistent/ingest"))
    proc = subprocess.run([systemd_analyze(), "verify", str(broken)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "/nonexistent/ingest" in proc.stderr


@pytest.mark.parametrize("name", ["deribit-ingest.service", "deribit-ingest-backup.service"])
def test_each_service_is_rated_ok_by_systemd_analyze_security(name, installed_copy):
    proc = subprocess.run([systemd_analyze(), "security", "--offline=true", f"--threshold={MAX_EXPOSURE}",
                           str(installed_copy / name)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr


def test_the_collector_restarts_always_as_its_own_user_with_the_environment_file():
    service = unit("deribit-ingest.service")["Service"]
    assert service["ExecStart"] == f"{INSTALLED_INGEST} run"
    assert service["Restart"] == "always" and service["RestartSec"] == "10s"
    assert unit("deribit-ingest.service")["Unit"]["StartLimitIntervalSec"] == "0"  # never gives up
    assert service["User"] == "deribit-ingest" and service["EnvironmentFile"] == "/etc/deribit-ingest/env"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "CapabilityBoundingSet": ""}.items():
        assert service[key] == value, key


@pytest.mark.parametrize("name", ["deribit-ingest.service", "deribit-ingest-backup.service"])
def test_the_services_can_write_where_their_settings_say_they_write(name):
    """With ProtectSystem=strict a service writes only under ReadWritePaths: the spool, the log, the
    backups and the working directory (a relative path's base) must all lie there."""
    env = service_environment(name)
    roots = writable(name)
    service = unit(name)["Service"]
    assert under(Path(service["WorkingDirectory"]), roots)
    for variable in ("INGEST_SPOOL_DIR", "INGEST_BACKUP_DIR"):
        assert Path(env[variable]).is_absolute() and under(Path(env[variable]), roots), variable
    if name == "deribit-ingest.service":
        assert under(Path(env["INGEST_LOG_FILE"]).parent, roots)
    # the directories systemd creates for the user lie there too (else the user could not write them)
    created = [Path("/var/lib") / d for d in service.get("StateDirectory", "").split()]
    created += [Path("/var/log") / d for d in service.get("LogsDirectory", "").split()]
    assert created and all(under(p, roots) for p in created)


def test_the_example_environment_names_only_documented_settings():
    readme = (ROOT / "README.md").read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    # the settings and the commented-out optional ones
    named = re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", (UNITS / "env.example").read_text(), re.M)
    assert set(env_example()) < set(named)
    for variable in named:
        assert f"`{variable}`" in readme, f"{variable} is not in README's configuration table"


def test_the_backup_service_runs_a_command_line_ingest_accepts(tmp_path):
    """Its arguments parse: against a port where nothing listens the command gets as far as connecting
    (exit 4), where a usage error would exit 2."""
    words = shlex.split(unit("deribit-ingest-backup.service")["Service"]["ExecStart"])
    assert words[:3] == [INSTALLED_INGEST, "db", "backup"]
    env = {**service_environment("deribit-ingest-backup.service"),
           "INGEST_DATABASE_URL": "postgresql://u:secret@127.0.0.1:9/deribit", "INGEST_BACKUP_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli, words[1:], env=env)
    assert result.exit_code == 4, result.output
    assert "cannot connect" in result.output and "secret" not in result.output


def test_the_timer_starts_the_backup_daily_and_catches_up_after_downtime():
    timer = unit("deribit-ingest-backup.timer")
    assert timer["Timer"]["Unit"] == "deribit-ingest-backup.service" and timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    proc = subprocess.run([systemd_analyze(), "calendar", "--iterations=3", timer["Timer"]["OnCalendar"]],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Normalized form: *-*-* 02:30:00 UTC" in proc.stdout
    elapses = [line for line in proc.stdout.splitlines() if "Next elapse" in line or "Iter." in line]
    assert len(elapses) == 3
