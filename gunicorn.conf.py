"""Production serving: `gunicorn 'app:create_app()'` reads this file from the working directory.

One host: SQLite (the default) is shared safely by every worker (WAL, one transaction per
request). Several hosts behind a load balancer: set IVR_REDIS_URL on every host.

Workers are gevent's (an event loop per worker): a client that trickles its headers or body
holds one greenlet, not one of a few threads, so slow or idle sockets cannot starve /healthz
or the webhooks (bench/slow_clients.py measures it). `IVR_WORKER_CLASS=gthread` brings the
threaded workers back (IVR_THREADS threads each), for a host behind a buffering reverse proxy.
"""

import logging
import multiprocessing
import os
from typing import Any

bind = os.environ.get("IVR_BIND", "0.0.0.0:8000")
# Each worker builds the flows and machines once, at start-up (no preload: one machine per
# flow per process, nothing shared across forks).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = os.environ.get("IVR_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("IVR_WORKER_CONNECTIONS", "1000"))  # gevent: sockets per worker
# gthread only: gunicorn turns any other worker class into gthread when threads > 1, so a
# `sync` worker asked for gets one thread unless IVR_THREADS says otherwise.
threads = int(os.environ.get("IVR_THREADS", "4" if worker_class == "gthread" else "1"))
timeout = 30  # Twilio gives a webhook 15 s; a stuck worker is recycled well after that
graceful_timeout = 20
# Seconds an idle keep-alive connection stays open. Behind a load balancer or proxy that keeps
# connections to the app, set it above that front end's own idle timeout (AWS ALB: 60 s, Heroku's
# router: 90 s), so the front end always closes first and never sends a request on a connection
# gunicorn is closing (docs/production.md). Idle connections also hold a graceful stop until
# they expire or graceful_timeout passes.
keepalive = int(os.environ.get("IVR_KEEPALIVE", "5"))
max_requests = int(os.environ.get("IVR_MAX_REQUESTS", "0"))  # 0: never recycle
max_requests_jitter = 50
# Forwarded headers are the app's business alone (IVR_TRUST_PROXY hops, werkzeug's ProxyFix):
# gunicorn trusts no peer, so X-Forwarded-Proto and friends, or a SCRIPT_NAME header, from a
# client on 127.0.0.1 change nothing unless IVR_TRUST_PROXY says a proxy is there.
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}
forwarder_headers = ""
accesslog = os.environ.get("IVR_ACCESS_LOG") or None  # "-" for stdout; query strings only
errorlog = "-"
loglevel = os.environ.get("IVR_LOG_LEVEL", "info")
# The app's own lines (a call started or ended, a store that failed, a lockout) go to gunicorn's
# error log, stamped as its own are, at IVR_LOG_LEVEL: without a handler, Python printed the
# bare text of warnings and errors and no info line at all.
APP_LOGGERS = ("ivr", "webhooks", "web")
limit_request_line = 8190
limit_request_field_size = 8190


class _ToGunicornLog(logging.Handler):
    """Hands each record to gunicorn's error logger, to whichever file that writes then (it
    replaces its handler when the logs are reopened, USR1, or the configuration reloaded, HUP)."""

    def __init__(self) -> None:
        super().__init__()
        self.target = logging.getLogger("gunicorn.error")  # the one logger of that name, for good

    def emit(self, record: logging.LogRecord) -> None:
        self.target.handle(record)


def on_starting(server: Any) -> None:
    """In the master, before any worker forks: the app's loggers write through gunicorn's."""
    level = logging.getLogger("gunicorn.error").level
    # No line names a thread or a process name: not looked up for every record (the logging
    # HOWTO's "Optimization").
    logging.logThreads = False
    logging.logMultiprocessing = False
    for name in APP_LOGGERS:
        logger = logging.getLogger(name)
        if logger.handlers:
            continue  # the operator's own logging configuration (--log-config...) sends it elsewhere
        logger.handlers = [_ToGunicornLog()]
        logger.setLevel(level)
        logger.propagate = False
