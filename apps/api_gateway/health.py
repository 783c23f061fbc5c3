"""Health checks: database, Redis, Celery workers and channels. Each is fast and never raises.

/health/ is 503 only when the database cannot serve (nothing works without it); a missing Redis or
worker makes it "degraded": the API still accepts work and the outbox delivers it later.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from core.celery_signals import HEARTBEAT_KEY
from core.utils.redis import get_redis

# A worker answered within this many seconds (it beats every second).
CELERY_FRESH_SECONDS = 2.0
# Without Redis, the beat-scheduled heartbeat task (every 15 s) writes to the database.
EMBEDDED_FRESH_SECONDS = 60.0


def check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return {"status": "down", "error": exc.__class__.__name__}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def check_redis() -> dict[str, Any]:
    client = get_redis()
    if client is None:
        return {"status": "not_configured"}
    started = time.perf_counter()
    try:
        client.ping()
    except Exception as exc:
        return {"status": "down", "error": exc.__class__.__name__}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def check_celery() -> dict[str, Any]:
    client = get_redis()
    if client is None:
        from apps.api_gateway.models import WorkerHeartbeat

        try:
            latest = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
        except Exception as exc:
            return {"status": "down", "error": exc.__class__.__name__}
        age = (timezone.now() - latest).total_seconds() if latest else None
        ok = age is not None and age < EMBEDDED_FRESH_SECONDS
        return {"status": "ok" if ok else "down", "last_heartbeat_age_seconds": age, "source": "database"}
    try:
        workers = client.zrangebyscore(HEARTBEAT_KEY, time.time() - CELERY_FRESH_SECONDS, "+inf")
    except Exception as exc:
        return {"status": "down", "error": exc.__class__.__name__}
    names = sorted(w.decode() if isinstance(w, bytes) else str(w) for w in workers)
    return {"status": "ok" if names else "down", "workers": names}


@dataclass(frozen=True)
class HealthCheck:
    """A check another app adds to /health/ (in its AppConfig.ready()): `check` returns what /health/
    shows under `name`; `degrades` says whether that answer makes the service `degraded`."""

    name: str
    check: Callable[[], Any]
    degrades: Callable[[Any], bool]


HEALTH_CHECKS: dict[str, HealthCheck] = {}


def check_register(name: str, check: Callable[[], Any], *, degrades: Callable[[Any], bool]) -> None:
    HEALTH_CHECKS[name] = HealthCheck(name, check, degrades)


def _json(body: dict[str, Any], healthy: bool) -> JsonResponse:
    return JsonResponse(body, status=200 if healthy else 503)


def health(request: HttpRequest) -> JsonResponse:
    checks: dict[str, Any] = {
        "database": check_database(),
        "redis": check_redis(),
        "celery": check_celery(),
    }
    degraded = checks["redis"]["status"] == "down" or checks["celery"]["status"] != "ok"
    for registered in HEALTH_CHECKS.values():
        checks[registered.name] = result = registered.check()
        degraded = degraded or registered.degrades(result)
    if checks["database"]["status"] != "ok":
        status = "down"
    elif degraded:
        status = "degraded"
    else:
        status = "ok"
    return _json({"status": status, "checks": checks}, status != "down")


def health_db(request: HttpRequest) -> JsonResponse:
    result = check_database()
    return _json(result, result["status"] == "ok")


def health_redis(request: HttpRequest) -> JsonResponse:
    result = check_redis()
    return _json(result, result["status"] != "down")


def health_celery(request: HttpRequest) -> JsonResponse:
    result = check_celery()
    return _json(result, result["status"] == "ok")
