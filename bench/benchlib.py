"""What the benchmark scripts (bench/run, bench/queue, bench/sweep) share:
the environment Ordo's commands run in, and scratch PostgreSQL databases.
Only the Python standard library is used."""

import os
import subprocess
from urllib.parse import urlsplit, urlunsplit


def ordo_env(database_url, extra=None):
    """The environment for an `ordo` command on `database_url`: none of the
    caller's ORDO_ or OTEL_ settings, warnings only, no rate limits (measure
    Ordo, not the per-key limiter), and unpaid orders kept for a day (bench
    orders are never paid: keep them from expiring mid-run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDO_") and not k.startswith("OTEL_")}
    env.update({
        "ORDO_DATABASE_URL": database_url,
        "ORDO_LOG": "warn",
        "ORDO_RATE_LIMIT_ENABLED": "false",
        "ORDO_ORDERS_UNPAID_TTL_MS": str(24 * 3600 * 1000),
    })
    env.update(extra or {})
    return env


def with_database(url, name):
    """`url` with its database replaced by `name`."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def psql(url, sql):
    subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, stdout=subprocess.DEVNULL)


class ScratchDatabase:
    """A PostgreSQL database made for one measurement and dropped after."""

    def __init__(self, url, label):
        self.admin = url
        self.name = f"ordo_bench_{label}_{os.getpid()}"
        psql(url, f"DROP DATABASE IF EXISTS {self.name}")
        psql(url, f"CREATE DATABASE {self.name}")
        self.url = with_database(url, self.name)

    def __enter__(self):
        return self.url

    def __exit__(self, *exc):
        psql(self.admin, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
