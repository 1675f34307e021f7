"""The production process definitions that ship with the hub: systemd units for web, worker and beat, and a
container image with a compose file for web, worker, beat, PostgreSQL and Redis. Every process restarts when
it fails, runs the documented command, and the files they name exist.

No init system or container engine runs here: the units go through ``systemd-analyze verify`` (with the
install folder pointed at this checkout), the compose file and the Dockerfile are parsed and checked."""

import re
import shlex
import shutil
import subprocess
from configparser import ConfigParser
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = {"web": "hub-web.service", "worker": "hub-worker.service", "beat": "hub-beat.service"}
INSTALL = "/opt/messaging-hub"


def unit(name: str) -> ConfigParser:
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string((ROOT / "deploy" / "systemd" / name).read_text())
    return parser


def readme_commands() -> dict[str, str]:
    """The process commands of the README's "Running in production" section."""
    text = (ROOT / "README.md").read_text()
    found = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("gunicorn "):
            found["web"] = line
        elif line.startswith("celery -A config worker"):
            found["worker"] = line
        elif line.startswith("celery -A config beat"):
            found["beat"] = line
    return found


@pytest.mark.parametrize("role", UNITS)
def test_each_unit_restarts_its_process_and_runs_the_documented_command(role):
    service = unit(UNITS[role])["Service"]
    assert service["Restart"] == "always"
    assert float(service["RestartSec"]) >= 1
    assert unit(UNITS[role])["Unit"]["StartLimitBurst"], "restarts must be bounded"
    command = shlex.split(service["ExecStart"])
    assert command[0].startswith(f"{INSTALL}/.venv/bin/")
    documented = shlex.split(readme_commands()[role])
    assert Path(command[0]).name == documented[0]
    if role == "worker":
        queues = command[command.index("-Q") + 1].split(",")
        assert set(queues) == set(settings.CELERY_TASK_QUEUES_ALL)
    if role == "web":
        assert "config/gunicorn.py" in command and (ROOT / "config" / "gunicorn.py").exists()
        assert "migrate" in service["ExecStartPre"]
    assert service["WorkingDirectory"] == INSTALL
    assert service["User"] != "root"


def test_web_and_worker_share_the_metrics_folder():
    folders = {role: re.search(r"METRICS_DIR=(\S+)", unit(UNITS[role])["Service"]["Environment"]).group(1)
               for role in ("web", "worker")}
    assert folders["web"] == folders["worker"]
    assert unit(UNITS["web"])["Service"]["RuntimeDirectoryPreserve"] == "yes"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path):
    # systemd checks that the programs exist: point the install folder at this checkout's virtualenv.
    venv = Path(settings.BASE_DIR) / ".venv" / "bin"
    if not (venv / "gunicorn").exists():
        pytest.skip("no .venv in this checkout (make install-dev)")
    env_file = ROOT / "deploy" / "systemd" / "hub.env.example"
    paths = []
    for name in UNITS.values():
        text = (ROOT / "deploy" / "systemd" / name).read_text()
        text = text.replace(INSTALL, str(ROOT)).replace("/etc/messaging-hub/hub.env", str(env_file))
        path = tmp_path / name
        path.write_text(text)
        paths.append(str(path))
    result = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if "hub-" in line]
    assert result.returncode == 0 and not complaints, "\n".join(complaints) or result.stderr


# --- Container image and compose file ----------------------------------------------------------------

def compose() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in (ROOT / "deploy" / "Dockerfile").read_text().splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            instruction, _, args = current.strip().partition(" ")
            lines.append((instruction.upper(), args.strip()))
            current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return lines


def test_compose_runs_every_process_and_its_services_and_restarts_them():
    services = compose()["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert services[name]["restart"] == "always", name
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["environment"]["DATABASE_URL"].endswith("@postgres:5432/hub")
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]


def test_compose_commands_are_the_documented_ones():
    services = compose()["services"]
    documented = readme_commands()
    for role in ("web", "worker", "beat"):
        command = services[role]["command"]
        assert command[0] == shlex.split(documented[role])[0]
        for unit_word in shlex.split(unit(UNITS[role])["Service"]["ExecStart"])[1:]:
            assert unit_word in command, f"{role}: {unit_word!r} in the systemd unit but not in compose"
    worker = services["worker"]["command"]
    assert set(worker[worker.index("-Q") + 1].split(",")) == set(settings.CELERY_TASK_QUEUES_ALL)


def test_compose_build_context_and_env_file_are_where_it_says():
    hub = compose()["services"]["web"]
    assert (ROOT / "deploy" / hub["build"]["context"]).resolve() == ROOT
    assert (ROOT / "deploy" / "hub.env.example").exists()
    assert "/deploy/hub.env" in (ROOT / ".gitignore").read_text().split()


def test_the_dockerfile_builds_a_non_root_image_of_this_project():
    instructions = dockerfile()
    kinds = [kind for kind, _ in instructions]
    assert kinds[0] == "FROM" and instructions[0][1].startswith("python:3.11")
    assert set(kinds) <= {"FROM", "ENV", "RUN", "WORKDIR", "COPY", "USER", "EXPOSE", "HEALTHCHECK", "CMD"}
    for kind, args in instructions:
        if kind == "COPY":
            *sources, _ = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the project"
    copied = {shlex.split(args)[0] for kind, args in instructions if kind == "COPY"}
    apps = {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()}
    assert {"config", "channels_app", "workstreams", "outbound"} <= apps
    assert apps <= copied, f"apps not copied into the image: {apps - copied}"
    folders = {str(Path(p).relative_to(ROOT)) for p in [*settings.LOCALE_PATHS, *settings.TEMPLATES[0]["DIRS"]]}
    assert folders <= copied, f"translations or templates not copied into the image: {folders - copied}"
    user = [args for kind, args in instructions if kind == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert any(kind == "HEALTHCHECK" and "/healthz" in args for kind, args in instructions)
    cmd = [args for kind, args in instructions if kind == "CMD"][-1]
    assert yaml.safe_load(cmd) == compose()["services"]["web"]["command"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env"} <= set(ignored)


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    import importlib.util

    monkeypatch.setenv("GUNICORN_BIND", "127.0.0.1:9001")
    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    spec = importlib.util.spec_from_file_location("hub_gunicorn", ROOT / "config" / "gunicorn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (module.bind, module.workers, module.threads, module.timeout) == ("127.0.0.1:9001", 3, 8, 30)
    # Threads: keep-alive connections, and webhooks of one process stored together.
    assert module.worker_class == "gthread"
    assert callable(module.child_exit)  # a dead worker's live metrics are dropped
