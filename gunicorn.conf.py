"""Production serving: `gunicorn 'app:create_app()'` reads this file from the working directory.

One host: SQLite (the default) is shared safely by every worker (WAL, one transaction per
request). Several hosts behind a load balancer: set IVR_REDIS_URL on every host.
"""

import multiprocessing
import os

bind = os.environ.get("IVR_BIND", "0.0.0.0:8000")
# Each worker builds the flows and machines once, at start-up (no preload: one machine per
# flow per process, nothing shared across forks).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("IVR_THREADS", "4"))
timeout = 30  # Twilio gives a webhook 15 s; a stuck worker is recycled well after that
graceful_timeout = 20
keepalive = 5
max_requests = int(os.environ.get("IVR_MAX_REQUESTS", "0"))  # 0: never recycle
max_requests_jitter = 50
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("IVR_ACCESS_LOG") or None  # "-" for stdout; query strings only
errorlog = "-"
loglevel = os.environ.get("IVR_LOG_LEVEL", "info")
limit_request_line = 8190
limit_request_field_size = 8190
