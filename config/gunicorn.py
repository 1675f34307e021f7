"""gunicorn settings for production (``gunicorn -c config/gunicorn.py config.wsgi``), from the environment.

GUNICORN_BIND (default 0.0.0.0:8000), GUNICORN_WORKERS (default 2 × cores + 1, at most 8),
GUNICORN_THREADS (default 8), GUNICORN_TIMEOUT (default 30 s).

Threads (gunicorn's ``gthread`` worker) keep a client's connection open between its requests (a provider
sending webhooks in bursts, a proxy's pool) instead of one TCP connection per request, and let the webhooks
a process receives at the same moment share one INSERT and commit (``WEBHOOK_GROUP_COMMIT_MAX``). Each
thread holds its own database connection: workers × threads of them per host, at most.
"""

import os

from prometheus_client import multiprocess

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # behind a proxy, or in a container
workers = int(os.environ.get("GUNICORN_WORKERS", min(8, 2 * (os.cpu_count() or 1) + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 8))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
# A worker that dies is replaced by the arbiter; a sync worker stuck past the timeout is killed and replaced (a
# gthread worker's heartbeat comes from its main loop: a webhook waiting on a stalled database gives up after
# WEBHOOK_GROUP_COMMIT_WAIT_SECONDS instead).
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
# The request id (config/logs.py) at the end of each access line: it joins the line to the hub's own.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server, worker):
    # prometheus-client's multiprocess files: a dead worker's live gauges no longer count.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
