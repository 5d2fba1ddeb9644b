#!/usr/bin/env python3
"""A/B benchmark of PostgreSQL order placement: two `ordo` builds, side by side.

For each build (old, new): a fresh PostgreSQL database, migrated and seeded by
that build's own binary, an admin key, and `ordo serve` on its own port. Then
one discarded warm-up per server and N rounds, each round one loadgen run
against each server, in the order old,new / new,old / old,new / ... (ABBA), so
that drift of the machine falls on both builds alike. The same load generator
binary (--loadgen-bin, the old build by default) loads both servers.

Per run it records orders/s and p99 (from loadgen's JSON report), the serve
process's CPU (utime+stime from /proc/<pid>/stat) during the run, and the
whole machine's busy CPU (/proc/stat) during the run, each per order.

Standard library only. Example:

    bench/ab.py --old-bin OLD --new-bin NEW    # 6 rounds, 8 s each, with Idempotency-Keys
    bench/ab.py --old-bin OLD --new-bin NEW --no-keys  # the same without keys
    bench/ab.py --old-bin OLD --new-bin NEW --rounds 1 --duration 2s  # a quick check
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message):
    print(f"[ab {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(command, env=None, cwd=None, capture=False, check=True):
    command = [str(c) for c in command]
    result = subprocess.run(command, env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.PIPE if capture else None)
    if check and result.returncode != 0:
        detail = ""
        if capture:
            detail = "\n" + (result.stdout or "")[-2000:] + (result.stderr or "")[-2000:]
        raise RuntimeError(f"command failed ({result.returncode}): {' '.join(command)}{detail}")
    return result


def proc_cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    # After the comm: state is field 3, utime field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu_s():
    """(busy, total) CPU seconds of the whole machine, all cores (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice;
    # guest time is already inside user/nice.
    total = sum(fields[:8])
    idle = fields[3] + fields[4]
    return (total - idle) / CLK_TCK, total / CLK_TCK


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def parse_duration_s(text):
    text = text.strip()
    for suffix, factor in (("ms", 0.001), ("s", 1), ("m", 60)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class Postgres:
    def __init__(self, host, port, user):
        self.host, self.port, self.user = host, port, user

    def url(self, db):
        return f"postgres://{self.user}@{self.host}:{self.port}/{db}"

    def psql(self, sql):
        return run(["psql", "-h", self.host, "-p", self.port, "-U", self.user, "-d", "postgres",
                    "-v", "ON_ERROR_STOP=1", "-q", "-At", "-c", sql], capture=True)

    def fresh(self, db):
        self.drop(db)
        self.psql(f'CREATE DATABASE "{db}"')

    def drop(self, db):
        # WITH (FORCE): a connection left over from a crashed run does not block the drop.
        self.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def ordo_env(database_url, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDO_") and not k.startswith("OTEL_")}
    env.update({
        "ORDO_DATABASE_URL": database_url,
        "ORDO_LOG": "warn",
        # Measure Ordo, not the per-key rate limiter.
        "ORDO_RATE_LIMIT_ENABLED": "false",
        # Bench orders are never paid: keep them from expiring mid-run.
        "ORDO_ORDERS_UNPAID_TTL_MS": "86400000",
    })
    env.update(extra or {})
    return env


class Server:
    """One build: its database, its key and its `ordo serve` process."""

    def __init__(self, name, binary, port, pg, workdir, args):
        self.name, self.binary, self.port, self.pg, self.args = name, Path(binary), port, pg, args
        self.db = f"{args.db_prefix}_{name}"
        self.database_url = pg.url(self.db)
        self.workdir = workdir / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None
        self.key = None
        self.logfile = None
        self.db_created = False

    def env(self):
        return ordo_env(self.database_url)

    def prepare(self):
        log(f"{self.name}: fresh database {self.db}")
        self.pg.fresh(self.db)
        self.db_created = True
        run([self.binary, "migrate"], env=self.env(), cwd=self.workdir, capture=True)
        log(f"{self.name}: seeding (customers {self.args.customers}, products {self.args.products}, "
            f"orders {self.args.orders})")
        started = time.time()
        out = run([self.binary, "seed", "--customers", self.args.customers, "--products", self.args.products,
                   "--orders", self.args.orders], env=self.env(), cwd=self.workdir, capture=True)
        (self.workdir / "seed.log").write_text(out.stdout + out.stderr)
        self.seed_s = time.time() - started
        log(f"{self.name}: seeded in {self.seed_s:.1f} s")
        out = run([self.binary, "keys", "create", "--name", "ab-bench", "--role", "admin"],
                  env=self.env(), cwd=self.workdir, capture=True)
        self.key = next((w for w in out.stdout.split() if w.startswith("ordo_")), None)
        if not self.key:
            raise RuntimeError(f"{self.name}: no key in the output of `keys create`: {out.stdout!r}")

    def start(self):
        if not port_free(self.port):
            raise RuntimeError(f"port {self.port} is already in use; pick others with --ports")
        self.logfile = open(self.workdir / "serve.log", "w")
        command = [str(self.binary), "serve", "--listen", f"127.0.0.1:{self.port}"]
        log(f"{self.name}: $ {' '.join(command)}")
        # cwd: the confirmation e-mails (.eml files under ordo-data/mail) stay in the work folder.
        self.proc = subprocess.Popen(command, env=self.env(), cwd=self.workdir, stdout=self.logfile,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: ordo serve exited ({self.proc.returncode}) before it was "
                                   f"ready; see {self.workdir / 'serve.log'}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.time() > deadline:
                raise RuntimeError(f"{self.name}: /readyz not ready after 120 s; see {self.workdir / 'serve.log'}")
            time.sleep(0.2)
        log(f"{self.name}: ready at {self.url} (pid {self.proc.pid})")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: serve did not stop in 30 s after SIGTERM; killing pid {self.proc.pid}")
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.logfile:
            self.logfile.close()
            self.logfile = None


def settle(pid, max_s, step_s=0.25, idle_cores=0.05):
    """Waits until the process is idle (below `idle_cores` over `step_s`), at most `max_s`;
    returns (CPU seconds it used meanwhile, seconds waited)."""
    start_cpu, start = proc_cpu_s(pid), time.time()
    last = start_cpu
    while time.time() - start < max_s:
        time.sleep(step_s)
        now = proc_cpu_s(pid)
        if now - last < idle_cores * step_s:
            break
        last = now
    return proc_cpu_s(pid) - start_cpu, time.time() - start


def loadgen(args, server, duration, label, workdir):
    """One loadgen run against `server`; returns the measured figures."""
    report_path = workdir / f"loadgen-{label}.json"
    command = [args.loadgen_bin, "loadgen", "--url", server.url, "--mix", "place=100",
               "--concurrency", args.concurrency, "--duration", duration, "--warmup", "0s",
               "--no-verify", "--quiet", "--json", report_path]
    if args.no_keys:
        command.append("--no-idempotency-keys")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDO_")}
    env["ORDO_API_KEY"] = server.key
    if not server.alive():
        raise RuntimeError(f"{server.name}: ordo serve is no longer running; see {server.workdir / 'serve.log'}")
    cpu0, (busy0, total0), lg0, t0 = proc_cpu_s(server.proc.pid), machine_cpu_s(), children_cpu_s(), time.time()
    result = run(command, env=env, cwd=workdir, capture=True, check=False)
    cpu1, (busy1, total1), lg1, t1 = proc_cpu_s(server.proc.pid), machine_cpu_s(), children_cpu_s(), time.time()
    (workdir / f"loadgen-{label}.txt").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"loadgen against {server.name} failed ({result.returncode}):\n"
                           f"{(result.stdout + result.stderr)[-3000:]}")
    # Let the server finish what the run left (confirmation e-mail jobs and the like) before the
    # next run starts, so it does not load the other build's run; its CPU is reported apart.
    drain_cpu, drain_s = settle(server.proc.pid, args.settle_max_s)
    report = json.loads(report_path.read_text())
    place = next(s for s in report["scenarios"] if s["name"] == "place")
    orders = place["ok"]
    errors = sum(place.get("errors", {}).values())
    per_order = (lambda seconds: seconds * 1e6 / orders if orders else None)
    return {
        "build": server.name,
        "label": label,
        "orders": orders,
        "errors": errors,
        "error_kinds": place.get("errors", {}),
        "orders_per_s": place["throughput_per_sec"],
        "p50_ms": place["latency_ms"]["p50"],
        "p99_ms": place["latency_ms"]["p99"],
        "max_ms": place["latency_ms"]["max"],
        "wall_s": round(t1 - t0, 3),
        "serve_cpu_s": round(cpu1 - cpu0, 3),
        "serve_cpu_us_per_order": per_order(cpu1 - cpu0),
        "machine_busy_cpu_s": round(busy1 - busy0, 3),
        "machine_cores_busy": round((busy1 - busy0) / max(t1 - t0, 1e-9), 3),
        "machine_cpu_us_per_order": per_order(busy1 - busy0),
        "loadgen_cpu_s": round(lg1 - lg0, 3),
        "drain_s": round(drain_s, 2),
        "drain_cpu_s": round(drain_cpu, 3),
        "serve_cpu_incl_drain_us_per_order": per_order(cpu1 - cpu0 + drain_cpu),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
    }


def fmt(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(runs, rounds):
    by_build = {b: [r for r in runs if r["build"] == b] for b in ("old", "new")}
    metrics = [("orders/s", "orders_per_s", 0, True), ("p99 ms", "p99_ms", 1, False),
               ("serve CPU us/order", "serve_cpu_us_per_order", 0, False),
               ("  incl. drain after", "serve_cpu_incl_drain_us_per_order", 0, False),
               ("machine CPU us/order", "machine_cpu_us_per_order", 0, False)]
    summary = {}
    lines = []
    header = f"{'':22}{'old median [min-max]':>30}{'new median [min-max]':>30}{'new/old':>10}"
    lines.append(header)
    lines.append("-" * len(header))
    for title, key, digits, _ in metrics:
        cells = {}
        for b in ("old", "new"):
            values = [r[key] for r in by_build[b] if r[key] is not None]
            med = median(values)
            cells[b] = med
            summary.setdefault(b, {})[key] = {"median": med, "min": min(values) if values else None,
                                              "max": max(values) if values else None, "values": values}
        r = ratio(cells["new"], cells["old"])
        summary.setdefault("ratio_new_over_old", {})[key] = r

        def cell(b):
            s = summary[b][key]
            return f"{fmt(s['median'], digits)} [{fmt(s['min'], digits)}-{fmt(s['max'], digits)}]"

        lines.append(f"{title:22}{cell('old'):>30}{cell('new'):>30}{fmt(r, 3) + 'x':>10}")
    errors = {b: sum(r["errors"] for r in by_build[b]) for b in ("old", "new")}
    lines.append(f"{'errors (all rounds)':22}{errors['old']:>30}{errors['new']:>30}")
    summary["errors"] = errors

    lines.append("")
    lines.append("per pair (new/old, same round):")
    lines.append(f"  {'round':>5} {'order':>8} {'old o/s':>9} {'new o/s':>9} {'o/s x':>7} {'p99 x':>7} "
                 f"{'CPU/order x':>12}")
    pairs = []
    for i in range(rounds):
        old = next(r for r in runs if r["round"] == i and r["build"] == "old")
        new = next(r for r in runs if r["round"] == i and r["build"] == "new")
        pair = {"round": i + 1, "order": old["order"],
                "orders_per_s": ratio(new["orders_per_s"], old["orders_per_s"]),
                "p99_ms": ratio(new["p99_ms"], old["p99_ms"]),
                "serve_cpu_us_per_order": ratio(new["serve_cpu_us_per_order"], old["serve_cpu_us_per_order"]),
                "machine_cpu_us_per_order": ratio(new["machine_cpu_us_per_order"],
                                                  old["machine_cpu_us_per_order"])}
        pairs.append(pair)
        lines.append(f"  {i + 1:>5} {old['order']:>8} {fmt(old['orders_per_s'], 0):>9} "
                     f"{fmt(new['orders_per_s'], 0):>9} {fmt(pair['orders_per_s'], 3):>7} "
                     f"{fmt(pair['p99_ms'], 3):>7} {fmt(pair['serve_cpu_us_per_order'], 3):>12}")
    if pairs:
        lines.append(f"  {'median':>14} {'':>9} {'':>9} {fmt(median(p['orders_per_s'] for p in pairs), 3):>7} "
                     f"{fmt(median(p['p99_ms'] for p in pairs), 3):>7} "
                     f"{fmt(median(p['serve_cpu_us_per_order'] for p in pairs), 3):>12}")
    summary["pairs"] = pairs
    return summary, "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds, each one run per build (default 6)")
    parser.add_argument("--duration", default="8s", help="each measured run (default 8s)")
    parser.add_argument("--warmup-duration", default="3s", help="the discarded warm-up per server (default 3s)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-keys", action="store_true", help="send no Idempotency-Key with orders")
    parser.add_argument("--old-bin", required=True, help="the old build's ordo binary")
    parser.add_argument("--new-bin", required=True, help="the new build's ordo binary")
    parser.add_argument("--loadgen-bin", default=None, help="binary whose loadgen loads both (default: --old-bin)")
    parser.add_argument("--ports", default="18081,18082", help="old,new listen ports (default 18081,18082)")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--db-prefix", default="ab", help="databases are <prefix>_old and <prefix>_new")
    parser.add_argument("--customers", type=int, default=10000)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--out-dir", default=str(Path(tempfile.gettempdir()) / "ordo-ab"),
                        help="where ab-<timestamp>.json and the run's logs go (default: <tmp>/ordo-ab)")
    parser.add_argument("--settle-max-s", type=float, default=10.0,
                        help="after each run, wait up to this long for the server to go idle (default 10)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work folder's e-mail files and the databases (logs are always kept)")
    args = parser.parse_args()
    args.loadgen_bin = args.loadgen_bin or args.old_bin
    ports = [int(p) for p in args.ports.split(",")]
    if len(ports) != 2 or ports[0] == ports[1]:
        parser.error("--ports needs two different ports: old,new")
    parse_duration_s(args.duration), parse_duration_s(args.warmup_duration)  # fail early on a bad value
    for b in (args.old_bin, args.new_bin, args.loadgen_bin):
        if not os.access(b, os.X_OK):
            parser.error(f"{b} is not an executable")

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out_dir)
    workdir = out_dir / f"work-{stamp}"
    workdir.mkdir(parents=True)
    workdir.chmod(0o755)
    log(f"work folder {workdir}")

    # SIGTERM/SIGHUP end the run like Ctrl-C, so the cleanup below still runs.
    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    pg = Postgres(args.pg_host, args.pg_port, args.pg_user)
    servers = {"old": Server("old", args.old_bin, ports[0], pg, workdir, args),
               "new": Server("new", args.new_bin, ports[1], pg, workdir, args)}
    started = time.time()
    runs = []
    results = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "options": {k: v for k, v in vars(args).items()},
        "idempotency_keys": not args.no_keys,
        "binaries": {name: {"path": str(Path(b).resolve()),
                            "sha256": run(["sha256sum", b], capture=True).stdout.split()[0]}
                     for name, b in (("old", args.old_bin), ("new", args.new_bin), ("loadgen", args.loadgen_bin))},
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg(),
                    "kernel": os.uname().release},
        "runs": runs,
    }
    failed = None
    try:
        for s in servers.values():
            s.prepare()
        results["seed_s"] = {n: round(s.seed_s, 1) for n, s in servers.items()}
        for s in servers.values():
            s.start()
        for name in ("old", "new"):
            log(f"{name}: warm-up {args.warmup_duration} (discarded)")
            w = loadgen(args, servers[name], args.warmup_duration, f"warmup-{name}", workdir)
            w.update({"round": None, "order": None})
            results.setdefault("warmups", []).append(w)
        for i in range(args.rounds):
            order = ("old", "new") if i % 2 == 0 else ("new", "old")
            for name in order:
                r = loadgen(args, servers[name], args.duration, f"r{i + 1}-{name}", workdir)
                r.update({"round": i, "order": ",".join(order)})
                runs.append(r)
                log(f"round {i + 1}/{args.rounds} {name}: {r['orders_per_s']:.0f} orders/s, p99 {r['p99_ms']:.1f} ms, "
                    f"serve CPU {fmt(r['serve_cpu_us_per_order'])} us/order, "
                    f"machine {r['machine_cores_busy']:.2f} cores busy"
                    + (f", {r['errors']} ERRORS {r['error_kinds']}" if r["errors"] else ""))
    except BaseException as e:  # noqa: BLE001 - clean up on anything, Ctrl-C included
        failed = e
    finally:
        for s in servers.values():
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001
                log(f"{s.name}: stopping failed: {e}")
        if not args.keep:
            for s in servers.values():
                if s.db_created:
                    try:
                        pg.drop(s.db)
                    except Exception as e:  # noqa: BLE001
                        log(f"dropping {s.db} failed: {e}")
                shutil.rmtree(s.workdir / "ordo-data", ignore_errors=True)

    results["elapsed_s"] = round(time.time() - started, 1)
    complete = failed is None
    results["complete"] = complete
    if failed is not None:
        results["error"] = repr(failed)
    text = None
    done_rounds = len({r["round"] for r in runs if sum(1 for x in runs if x["round"] == r["round"]) == 2})
    if done_rounds:
        results["summary"], text = summarise(runs, done_rounds)
    json_path = out_dir / f"ab-{stamp}.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")

    if text:
        print()
        print(f"PostgreSQL placement A/B, {done_rounds} round(s) of {args.duration}, concurrency "
              f"{args.concurrency}, {'with' if not args.no_keys else 'without'} Idempotency-Keys "
              f"({results['elapsed_s']:.0f} s in all)")
        print(text)
        print(f"load average at start {results['machine']['loadavg_at_start'][0]:.2f} (1 min); the runs keep "
              f"both cores busy, so anything else running on the machine moves these figures")
    print(f"\nraw results: {json_path}\nlogs: {workdir}")
    if failed is not None:
        if isinstance(failed, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        raise failed


if __name__ == "__main__":
    main()
