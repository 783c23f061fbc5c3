"""The deployment files, checked without a Docker engine: docker-compose.yml against the Compose
Specification's JSON schema, and the image, Procfile and compose file all starting processes through
bin/start, the script the other tests run."""

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
APP_SERVICES = {"migrate", "web1", "web2", "stream", "worker-telegram", "worker-email", "beat"}
HA_SERVICES = {"postgres-replica", "redis-replica", *(f"redis-sentinel-{n}" for n in (1, 2, 3))}


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads((ROOT / "docker" / "compose-spec.schema.json").read_text())
    # The file names draft 2019-09 by a URL jsonschema does not know; say which draft explicitly.
    errors = [e.message for e in jsonschema.Draft201909Validator(schema).iter_errors(compose())]
    assert errors == []


def test_compose_describes_the_whole_stack() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "nginx", "prometheus"} | APP_SERVICES | HA_SERVICES
    assert services["prometheus"]["profiles"] == ["monitoring"]  # optional
    assert services["worker-telegram"]["environment"]["WORKER_QUEUES"] == "notifications.telegram"
    assert "notifications.email" in services["worker-email"]["environment"]["WORKER_QUEUES"]
    assert "notifications.in_app" in services["worker-email"]["environment"]["WORKER_QUEUES"]
    assert services["stream"]["command"] == ["stream"]
    assert services["migrate"]["command"] == ["migrate"]
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_ha_profile_adds_replicas_and_three_sentinels_watching_one_master() -> None:
    services = compose()["services"]
    for name in HA_SERVICES:
        assert services[name]["profiles"] == ["ha"]  # optional, like monitoring
    assert "--replicaof redis 6379 --masterauth" in services["redis-replica"]["command"][-1]
    assert "pg_basebackup -h postgres" in services["postgres-replica"]["command"][-1]
    sentinel_scripts = {services[f"redis-sentinel-{n}"]["command"][-1] for n in (1, 2, 3)}
    assert len(sentinel_scripts) == 1  # the same configuration three times
    assert "sentinel monitor notify redis 6379 2" in sentinel_scripts.pop()
    hba = (ROOT / "docker" / "postgres" / "allow-replication.sh").read_text()
    assert "host replication" in hba


def test_every_process_starts_through_bin_start() -> None:
    roles = set(re.findall(r"^\s+(\w+)\)$", (ROOT / "bin" / "start").read_text(), re.MULTILINE))
    services = compose()["services"]
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    procfile = (ROOT / "Procfile").read_text()

    assert {services[name]["command"][0] for name in APP_SERVICES} <= roles
    assert 'ENTRYPOINT ["bin/start"]' in dockerfile
    assert all(line.split(": ", 1)[1].startswith("bin/start ") for line in procfile.splitlines() if line)


def test_image_is_multi_stage_non_root_with_a_healthcheck() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) == 2
    assert re.search(r"^USER app$", dockerfile, re.MULTILINE)
    assert "HEALTHCHECK" in dockerfile


def test_nginx_upstream_names_the_web_services() -> None:
    upstream = re.findall(r"server (\w+):8000", (ROOT / "nginx" / "nginx.conf").read_text())
    assert set(upstream) == {name for name in compose()["services"] if name.startswith("web")}


def test_nginx_routes_the_inbox_stream_to_the_stream_service_unbuffered() -> None:
    conf = (ROOT / "nginx" / "nginx.conf").read_text()
    stream = compose()["services"]["stream"]
    assert re.findall(r"server (\w+):8001", conf) == ["stream"]
    assert stream["environment"]["STREAM_PORT"] == "8001"
    location = conf[conf.index("location = /inbox/stream/") :]
    location = location[: location.index("}")]
    assert "proxy_pass http://inbox_stream;" in location
    assert "proxy_buffering off;" in location
    assert "proxy_read_timeout 1h;" in location


def test_env_example_lists_every_variable_the_settings_read() -> None:
    read = set()
    for path in (ROOT / "config" / "settings").glob("*.py"):
        read |= set(re.findall(r'env(?:_text|\.\w+)?\(\s*"([A-Z_]+)"', path.read_text()))
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert read - listed == set()


def test_prometheus_scrapes_every_web_instance_and_every_worker_on_its_own_port() -> None:
    config = yaml.safe_load((ROOT / "docker" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = compose()["services"]
    workers = {name for name in services if name.startswith("worker-")}

    web_targets = {t.split(":")[0] for t in jobs["web"]["static_configs"][0]["targets"]}
    assert web_targets == {name for name in services if name.startswith("web")}
    [discovery] = jobs["workers"]["dns_sd_configs"]
    assert set(discovery["names"]) == workers
    assert discovery["port"] == 9808
    for name in workers:
        assert services[name]["environment"]["WORKER_METRICS_ADDR"] == "0.0.0.0"  # noqa: S104


def test_grafana_dashboard_uses_only_metrics_we_export() -> None:
    from apps.api_gateway import metrics as gateway
    from apps.notifications import metrics as notifications
    from apps.webhooks import metrics as webhooks
    from core import cache

    dashboard = json.loads((ROOT / "docs" / "grafana" / "notifications.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"notifications_[a-z_]+", target["expr"])
    }
    modules = (gateway, notifications, webhooks, cache)
    counted = [m for module in modules for m in vars(module).values()]
    exported = {m._name for m in counted if hasattr(m, "_name") and hasattr(m, "_type")} | {
        "notifications_circuit_open",
        "notifications_queue_depth",
    }
    suffixes = ("_total", "_bucket", "_sum", "_count")
    assert {n.removesuffix(next((s for s in suffixes if n.endswith(s)), "")) for n in used} <= exported


def test_redis_needs_a_password_and_the_app_uses_it() -> None:
    services = compose()["services"]
    env = services["web1"]["environment"]

    assert "--requirepass" in services["redis"]["command"][-1]
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        assert env[name].startswith("redis://:${REDIS_PASSWORD:?")
    assert "REDISCLI_AUTH" in services["redis"]["healthcheck"]["test"][-1]
    assert "sentinel auth-pass notify" in services["redis-sentinel-1"]["command"][-1]


def test_nginx_serves_tls_with_a_certificate_made_on_first_start() -> None:
    nginx = compose()["services"]["nginx"]

    assert "443:443" in nginx["ports"]
    assert nginx["command"] == ["/usr/local/bin/tls-self-signed.sh"]
    mounts = " ".join(nginx["volumes"])
    assert "${NGINX_TLS_DIR:-nginx-tls}:/etc/nginx/tls" in mounts
    assert "${NGINX_OPERATORS_ACCESS:-./nginx/operators-only.conf}:/etc/nginx/operators-only.conf" in mounts


def test_the_app_connects_as_a_role_that_is_not_a_superuser(require_postgres: None) -> None:
    """docker/postgres/app-role.sh, run as the postgres image runs it, against the local server: the
    role it makes can migrate (create tables in public) but is no superuser."""
    import os
    import subprocess

    import psycopg

    admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True)
    admin.execute("DROP DATABASE IF EXISTS app_role_check")
    admin.execute("DROP ROLE IF EXISTS app_role_check_user")
    admin.execute("CREATE DATABASE app_role_check")
    try:
        subprocess.run(
            ["sh", str(ROOT / "docker" / "postgres" / "app-role.sh")],
            env={
                **os.environ,
                "PGHOST": "127.0.0.1",
                "POSTGRES_USER": "postgres",
                "POSTGRES_DB": "app_role_check",
                "APP_DB_USER": "app_role_check_user",
                "APP_DB_PASSWORD": "pw-for-the-test",
            },
            check=True,
            capture_output=True,
        )
        with psycopg.connect(
            "postgresql://app_role_check_user@127.0.0.1:5432/app_role_check", autocommit=True
        ) as app:
            app.execute("CREATE TABLE migrated (id int)")  # migrations work
            assert app.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
            ).fetchone() == (False, False, False)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute("COPY migrated FROM PROGRAM 'true'")
    finally:
        admin.execute("DROP DATABASE IF EXISTS app_role_check WITH (FORCE)")
        admin.execute("DROP ROLE IF EXISTS app_role_check_user")
        admin.close()
