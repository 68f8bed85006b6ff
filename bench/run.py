"""Load benchmark: the service next to a bare FastAPI endpoint returning the same bytes.

For each ``--clients N``: seed (or reuse) ``bench/data/clients-N``, copy its database to a
scratch dir, start ``zorgleefplan serve`` and ``bench/bare.py`` (one worker each) on free
loopback ports, warm up, run wrk for every scenario, print a table and write
``bench/results/<timestamp>-<N>.json``. With several N, a last table compares read and search
latency between the smallest and the largest store (the "flat from 10k to 1M" target).

    python bench/run.py --clients 1000
    python bench/run.py --clients 1000 100000 --duration 10 --connections 32
    python bench/run.py --clients 1000 --workers 1 2      # how throughput scales with workers

Needs wrk (``apt-get install -y wrk``). With one worker the servers are pinned to core 0 and wrk
to core 1 when ``taskset`` is available and the machine has two cores; with N workers the
servers get cores 0..N-1 and wrk the next core, or share the servers' cores when there is none
left (see ``pinning``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import seed

from zorgleefplan.auth import tokens
from zorgleefplan.auth.keys import SigningKeys
from zorgleefplan.config import Settings

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
LUA = BENCH / "wrk" / "scenario.lua"
HOST = "127.0.0.1"
READY_TIMEOUT_S = 120.0

Server = Literal["bare", "service"]
Mode = Literal["read", "search", "create"]


# ------------------------------------------------------------------------------ scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    server: Server
    mode: Mode
    expect: int = 200
    single_connection: bool = False  # latency of one request at a time (no queueing)
    create_path: str | None = None
    create_body: str | None = None  # key of the body template
    baseline: str | None = None  # scenario whose req/s is the ceiling for the ratio
    min_ratio: float | None = None
    min_rps: float | None = None

    @property
    def target(self) -> str:
        if self.min_ratio is not None:
            return f">= {self.min_ratio:g} x {self.baseline}"
        if self.min_rps is not None:
            return f">= {self.min_rps:,.0f}/s"
        return "-"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("bare-read", "bare", "read"),
    Scenario("bare-search", "bare", "search"),
    Scenario("read", "service", "read", baseline="bare-read", min_ratio=0.5),
    Scenario("search", "service", "search", baseline="bare-search", min_ratio=0.25),
    Scenario("read c=1", "service", "read", single_connection=True),
    Scenario("search c=1", "service", "search", single_connection=True),
    Scenario(
        "create Goal",
        "service",
        "create",
        expect=201,
        create_path="/fhir/Goal",
        create_body="goal",
        min_rps=1500,
    ),
    Scenario(
        "create CarePlan",
        "service",
        "create",
        expect=201,
        create_path="/fhir/CarePlan",
        create_body="careplan",
        min_rps=1500,
    ),
)
FLAT_SCENARIOS = ("read", "search", "read c=1", "search c=1")


@dataclass
class Measurement:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    bad_status: int
    bad_status_sample: str
    socket_errors: int
    server_cpu: float | None  # cores' worth of CPU the server processes used during the run

    @property
    def errors(self) -> int:
        return self.bad_status + self.socket_errors


@dataclass
class Row:
    scenario: str
    target: str
    measurement: Measurement
    ratio: float | None
    passed: bool | None  # None: no target (a ceiling or an informational row)
    note: str = ""


# ------------------------------------------------------------------------------ processes


@dataclass(frozen=True)
class Pinning:
    server: tuple[str, ...]
    load: tuple[str, ...]
    description: str


def pinning(workers: int = 1) -> Pinning:
    """Servers on the first ``workers`` cores, wrk on the next one. When no core is left for
    wrk (two workers on two cores) it shares the servers' cores: its own CPU use then counts
    against the servers, which understates how well they scale."""
    taskset = shutil.which("taskset")
    cores = sorted(os.sched_getaffinity(0))
    if not taskset or len(cores) < 2 or workers > len(cores):
        why = "taskset not found" if not taskset else f"cores available: {cores}"
        return Pinning((), (), f"not pinned ({why}); numbers are less stable")
    servers = ",".join(str(c) for c in cores[:workers])
    if workers < len(cores):
        load = str(cores[workers])
        return Pinning(
            (taskset, "-c", servers),
            (taskset, "-c", load),
            f"servers pinned to core{'s' if workers > 1 else ''} {servers}, "
            f"wrk to core {load} (taskset)",
        )
    return Pinning(
        (taskset, "-c", servers),
        (taskset, "-c", servers),
        f"servers and wrk share cores {servers} (taskset; no core left for wrk: its CPU use "
        "counts against the servers)",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(command: Sequence[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {READY_TIMEOUT_S:.0f} s; see {log}")


def wait_idle(proc: subprocess.Popen, log: Path) -> None:
    """Wait until a multi-worker server's processes stop using CPU: the first worker to start
    answers ``wait_ready`` while the others may still be importing and opening the store."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    before = cpu_seconds(proc.pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see {log}")
        now = cpu_seconds(proc.pid)
        if now - before < 0.05:
            return
        before = now
    raise SystemExit(f"server workers still busy after {READY_TIMEOUT_S:.0f} s; see {log}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children (the worker processes of a
    multi-worker server), from Linux /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:  # exited meanwhile
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def server_env() -> dict[str, str]:
    """The environment without ZLP_* settings, so the service runs with its defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ZLP_")}


def service_command(port: int, data_dir: Path, workers: int = 1) -> list[str]:
    script = Path(sys.executable).parent / "zorgleefplan"
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "zorgleefplan"]
    return [
        *launcher,
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]


# ------------------------------------------------------------------------------ fixtures


# Clients given a token: a sample across the whole store, as many as the warm-up verifies once
# (a token is verified once and then served from the cache for its 15 minutes, so a real
# server's steady state sees few cold verifications; a fresh server per run would otherwise
# measure mostly first verifications).
TOKEN_CLIENTS = 1000
AUTHORISED_TSV = "clients-authorised.tsv"


def authorise_clients(work_dir: Path, root: str, source: Path, limit: int = TOKEN_CLIENTS) -> Path:
    """Each sampled client gets a real access token for their own plan, signed with the
    server's key as the token endpoint would sign it; wrk sends it as the bearer token."""
    keys = SigningKeys.open(work_dir)
    rows = source.read_text().splitlines()
    sample = random.Random("bench-tokens").sample(rows, min(limit, len(rows)))
    lines = []
    for row in sample:
        patient = row.split("\t")[0]
        token = tokens.issue(
            keys,
            issuer=root,
            audience=f"{root}/fhir",
            subject=f"Patient/{patient}",
            client_id="bench",
            scope="launch/patient patient/*.cruds",
            lifetime=4 * 3600,
            patient=patient,
            fhir_user=f"Patient/{patient}",
        ).token
        lines.append(f"{row}\t{token}\n")
    out = work_dir / AUTHORISED_TSV
    out.write_text("".join(lines))
    return out


def fetch(url: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        if resp.status != 200:
            raise SystemExit(f"GET {url} answered {resp.status}")
        return {"headers": dict(resp.headers.items()), "body": resp.read().decode("utf-8")}


def first_client(clients_tsv: Path) -> list[str]:
    with clients_tsv.open() as f:
        return f.readline().rstrip("\n").split("\t")


def capture_fixture(base: str, clients_tsv: Path, out: Path) -> dict[str, int]:
    """What the service answers for one read and one search: the bare app replays it."""
    client = first_client(clients_tsv)
    token = client[6]
    fixture = {
        "read": fetch(f"{base}/fhir/CarePlan/{client[2]}", token),
        "search": fetch(f"{base}/fhir/CarePlan?patient=Patient/{client[0]}", token),
    }
    out.write_text(json.dumps(fixture))
    return {k: len(v["body"].encode()) for k, v in fixture.items()}


def body_templates(out_dir: Path) -> dict[str, Path]:
    """Create bodies built by the seeder's own builders, with placeholders for the ids."""
    ids = seed.ClientIds(
        index=0,
        patient="@PATIENT@",
        condition="@CONDITION@",
        careteam="@CARETEAM@",
        careplan="unused",
        consent="unused",
        goals=("@GOAL@",),
        tasks=(),
        practitioners=("@PRACTITIONER@", "@PRACTITIONER@"),
        organization="unused",
    )
    rng = random.Random("bench-create")
    bodies = {
        "goal": seed.goal(rng, ids, "Elke dag een wandeling maken"),
        "careplan": seed.careplan(rng, ids),
    }
    paths = {}
    for name, resource in bodies.items():
        paths[name] = out_dir / f"create-{name}.json"
        paths[name].write_text(json.dumps(resource, ensure_ascii=False))
    return paths


# ------------------------------------------------------------------------------ wrk


@dataclass(frozen=True)
class LoadSettings:
    duration: int
    connections: int
    warmup: int
    pin: Pinning
    clients_tsv: Path
    bodies: dict[str, Path] = field(default_factory=dict)


def wrk_command(scenario: Scenario, url: str, settings: LoadSettings, seconds: int) -> list[str]:
    connections = 1 if scenario.single_connection else settings.connections
    return [
        *settings.pin.load,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        url,
    ]


def wrk_env(scenario: Scenario, settings: LoadSettings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        BENCH_MODE=scenario.mode,
        BENCH_EXPECT=str(scenario.expect),
        BENCH_CLIENTS=str(settings.clients_tsv),
    )
    if scenario.create_body is not None:
        env["BENCH_BODY"] = str(settings.bodies[scenario.create_body])
        env["BENCH_PATH"] = scenario.create_path or ""
    return env


def parse_wrk(output: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line[len("BENCH_JSON ") :]))
    raise SystemExit(f"wrk printed no BENCH_JSON line:\n{output}")


def run_wrk(
    scenario: Scenario, url: str, settings: LoadSettings, seconds: int, pid: int
) -> Measurement:
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    done = subprocess.run(
        wrk_command(scenario, url, settings, seconds),
        env=wrk_env(scenario, settings),
        capture_output=True,
        text=True,
        check=False,
    )
    cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - started)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = parse_wrk(done.stdout)
    seconds_run = raw["duration_us"] / 1e6
    return Measurement(
        requests=raw["requests"],
        seconds=round(seconds_run, 3),
        rps=round(raw["requests"] / seconds_run, 1),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        bad_status=raw["bad_status"],
        bad_status_sample=raw["bad_status_sample"].strip(),
        socket_errors=raw["connect_errors"]
        + raw["read_errors"]
        + raw["write_errors"]
        + raw["timeouts"],
        server_cpu=round(cpu, 2),
    )


# ------------------------------------------------------------------------------ evaluation


def evaluate(scenario: Scenario, m: Measurement, done: dict[str, Measurement]) -> Row:
    ratio = None
    if scenario.baseline is not None and scenario.baseline in done:
        ratio = round(m.rps / done[scenario.baseline].rps, 3)
    if m.errors or m.requests == 0:
        sample = f" ({m.bad_status_sample})" if m.bad_status_sample else ""
        note = f"{m.bad_status} bad status{sample}, {m.socket_errors} socket errors"
        return Row(scenario.name, scenario.target, m, ratio, False, note)
    passed: bool | None = None
    if scenario.min_ratio is not None:
        passed = ratio is not None and ratio >= scenario.min_ratio
    elif scenario.min_rps is not None:
        passed = m.rps >= scenario.min_rps
    return Row(scenario.name, scenario.target, m, ratio, passed)


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "-"}[passed]


def format_table(rows: Sequence[Row]) -> str:
    head = (
        f"{'scenario':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8} "
        f"{'srv cpu':>7}  {'target':<22} result"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        m = r.measurement
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        cpu = f"{m.server_cpu:.0%}" if m.server_cpu is not None else "-"
        lines.append(
            f"{r.scenario:<16} {m.rps:>9,.0f} {m.p50_ms:>8.2f} {m.p99_ms:>8.2f} {ratio:>8} "
            f"{cpu:>7}  {r.target:<22} {verdict(r.passed)}" + (f"  {r.note}" if r.note else "")
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ one store size


@dataclass
class RunResult:
    clients: int
    workers: int
    seed_report: dict[str, Any]
    seeded_now: bool
    rows: list[Row]
    response_bytes: dict[str, int]
    server_log_errors: list[str]


def prepare_work_dir(data_dir: Path, work_dir: Path) -> float:
    """A scratch copy of the seeded database (create scenarios write into it)."""
    started = time.monotonic()
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    name = Settings(data_dir=data_dir).database_path.name
    shutil.copyfile(data_dir / name, work_dir / name)
    drop_statistics(work_dir / name)
    os.sync()  # no write-back of the copy competing with the servers while they are measured
    return time.monotonic() - started


def drop_statistics(database: Path) -> None:
    """Remove ANALYZE statistics (older seeders made them): the service never gathers any, and
    they change SQLite's plans, so the benchmark must run without them like production."""
    conn = sqlite3.connect(database)
    try:
        for table in ("sqlite_stat1", "sqlite_stat4"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.commit()
    finally:
        conn.close()


def log_errors(log: Path) -> list[str]:
    """Error lines of a server log, each traceback shortened to its final exception line."""
    errors: list[str] = []
    in_traceback = False
    previous = ""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("Traceback"):
            in_traceback = True
        elif in_traceback and line and not line.startswith((" ", "\t", "Traceback")):
            if not line.startswith(("The above exception", "During handling")):
                errors.append(line)
                in_traceback = False
        elif "ERROR" in line and line != previous:
            errors.append(line)
        previous = line
    counts: dict[str, int] = {}
    for line in errors:
        counts[line] = counts.get(line, 0) + 1
    return [f"{n} x {line}" for line, n in counts.items()]


def run_scenarios(
    urls: dict[Server, str], pids: dict[Server, int], settings: LoadSettings
) -> list[Row]:
    """Each scenario is warmed up (results discarded) right before it is measured; the create
    scenarios come last, so reads and searches see exactly the seeded store."""
    done: dict[str, Measurement] = {}
    rows = []
    for scenario in SCENARIOS:
        url, pid = urls[scenario.server], pids[scenario.server]
        print(f"  {scenario.name} ...", end=" ", file=sys.stderr, flush=True)
        if settings.warmup:
            run_wrk(scenario, url, settings, settings.warmup, pid)
        m = run_wrk(scenario, url, settings, settings.duration, pid)
        print(f"{m.rps:,.0f}/s", file=sys.stderr, flush=True)
        done[scenario.name] = m
        rows.append(evaluate(scenario, m, done))
    return rows


def run_one(clients: int, workers: int, args: argparse.Namespace, pin: Pinning) -> RunResult:
    data_dir = args.data_root / f"clients-{clients}"
    print(f"[{clients:,} clients] seeding or reusing {data_dir}", file=sys.stderr, flush=True)
    report, seeded_now = seed.ensure_seeded(data_dir, clients, args.seed)
    work_dir = args.data_root / f"work-{clients}"
    copy_s = prepare_work_dir(data_dir, work_dir)
    print(f"  {report.resources:,} resources; copied in {copy_s:.1f} s", file=sys.stderr)
    settings = LoadSettings(
        args.duration,
        args.connections,
        args.warmup,
        pin,
        work_dir / AUTHORISED_TSV,
        body_templates(work_dir),
    )
    env = server_env()
    ports = {"service": free_port(), "bare": free_port()}
    service_log, bare_log = work_dir / "service.log", work_dir / "bare.log"
    service_cmd = [*pin.server, *service_command(ports["service"], work_dir, workers)]
    with running(service_cmd, service_log, env) as service:
        base = f"http://{HOST}:{ports['service']}"
        wait_ready(f"{base}/fhir/metadata", service, service_log)
        if workers > 1:
            wait_idle(service, service_log)
        authorise_clients(work_dir, base, data_dir / seed.CLIENTS_TSV)
        fixture = work_dir / "bare-fixture.json"
        sizes = capture_fixture(base, settings.clients_tsv, fixture)
        bare_cmd = [
            *pin.server,
            sys.executable,
            str(BENCH / "bare.py"),
            "--fixture",
            str(fixture),
            "--port",
            str(ports["bare"]),
            "--workers",
            str(workers),
        ]
        with running(bare_cmd, bare_log, env) as bare:
            bare_base = f"http://{HOST}:{ports['bare']}"
            wait_ready(f"{bare_base}/fhir/CarePlan/ready", bare, bare_log)
            if workers > 1:
                wait_idle(bare, bare_log)
            rows = run_scenarios(
                {"service": base, "bare": bare_base},
                {"service": service.pid, "bare": bare.pid},
                settings,
            )
    result = RunResult(
        clients, workers, asdict(report), seeded_now, rows, sizes, log_errors(service_log)
    )
    if not args.keep_work:
        shutil.rmtree(work_dir)
    return result


# ------------------------------------------------------------------------------ flatness


def flatness(results: Sequence[RunResult], tolerance: float) -> tuple[str, list[dict[str, Any]]]:
    small, large = results[0], results[-1]
    by_name = [{r.scenario: r for r in res.rows} for res in (small, large)]
    out, lines = [], []
    head = (
        f"{'scenario':<12} {'p50 ' + str(small.clients):>12} {'p50 ' + str(large.clients):>12} "
        f"{'x':>6} {'p99 ' + str(small.clients):>12} {'p99 ' + str(large.clients):>12} "
        f"{'x':>6}  result (flat: <= {tolerance:g} x)"
    )
    lines += [head, "-" * len(head)]
    for name in FLAT_SCENARIOS:
        a, b = by_name[0][name].measurement, by_name[1][name].measurement
        p50x, p99x = b.p50_ms / a.p50_ms, b.p99_ms / a.p99_ms
        passed = p50x <= tolerance and p99x <= tolerance and not (a.errors or b.errors)
        out.append(
            {
                "scenario": name,
                "p50_ratio": round(p50x, 3),
                "p99_ratio": round(p99x, 3),
                "passed": passed,
            }
        )
        lines.append(
            f"{name:<12} {a.p50_ms:>12.2f} {b.p50_ms:>12.2f} {p50x:>6.2f} {a.p99_ms:>12.2f} "
            f"{b.p99_ms:>12.2f} {p99x:>6.2f}  {verdict(passed)}"
        )
    return "\n".join(lines), out


# ------------------------------------------------------------------------------ scaling


def scaling(runs: Sequence[RunResult]) -> tuple[str, list[dict[str, Any]]]:
    """req/s of every scenario at each worker count, and each count's req/s over the first's."""
    first = runs[0]
    head = f"{'scenario':<16}" + "".join(f" {f'{r.workers} w req/s':>12} {'x':>5}" for r in runs)
    lines, out = [head, "-" * len(head)], []
    for row in first.rows:
        rps = [next(x for x in r.rows if x.scenario == row.scenario).measurement.rps for r in runs]
        factors = [round(v / rps[0], 2) if rps[0] else None for v in rps]
        out.append(
            {
                "scenario": row.scenario,
                "rps": {str(r.workers): v for r, v in zip(runs, rps, strict=True)},
                "factor": {str(r.workers): f for r, f in zip(runs, factors, strict=True)},
            }
        )
        cells = "".join(
            f" {v:>12,.0f} {f'{f:.2f}' if f is not None else '-':>5}"
            for v, f in zip(rps, factors, strict=True)
        )
        lines.append(f"{row.scenario:<16}{cells}")
    return "\n".join(lines), out


# ------------------------------------------------------------------------------ reporting


def git_state() -> dict[str, str]:
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *cmd], capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_service_changes": git("status", "--porcelain", "--", "service"),
    }


def environment() -> dict[str, Any]:
    def installed(name: str) -> bool:
        try:
            __import__(name)
        except ImportError:
            return False
        return True

    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "uvloop": installed("uvloop"),
        "httptools": installed("httptools"),
        "wrk": wrk[0] if wrk else "?",
        "git": git_state(),
    }


def header(result: RunResult, args: argparse.Namespace) -> str:
    r = result.seed_report
    how = "seeded now" if result.seeded_now else "reused"
    workers = f"{result.workers} worker{'s' if result.workers > 1 else ''}"
    return (
        f"== {result.clients:,} clients, {workers}, {r['resources']:,} stored resources ({how}; "
        f"seeding ran at {r['resources_per_second']:,.0f} resources/s) ==\n"
        f"wrk -t1, {args.connections} connections (c=1 rows: one), {args.duration} s per "
        f"scenario after {args.warmup} s warm-up; read body {result.response_bytes['read']:,} B, "
        f"search body {result.response_bytes['search']:,} B"
    )


def write_json(
    result: RunResult,
    args: argparse.Namespace,
    env: dict[str, Any],
    stamp: str,
    pin: Pinning,
    extra: dict[str, Any] | None = None,
) -> Path:
    args.results.mkdir(parents=True, exist_ok=True)
    suffix = "" if result.workers == 1 else f"-w{result.workers}"
    path = args.results / f"{stamp}-{result.clients}{suffix}.json"
    document = {
        "timestamp": stamp,
        "clients": result.clients,
        "workers": result.workers,
        "settings": {
            "duration_s": args.duration,
            "connections": args.connections,
            "warmup_s": args.warmup,
            "wrk_threads": 1,
            "pinning": pin.description,
        },
        "environment": env,
        "seed": result.seed_report,
        "seeded_now": result.seeded_now,
        "response_bytes": result.response_bytes,
        "server_log_errors": result.server_log_errors,
        "scenarios": [
            {
                "scenario": r.scenario,
                "target": r.target,
                "ratio_to_bare": r.ratio,
                "passed": r.passed,
                "note": r.note,
                **asdict(r.measurement),
            }
            for r in result.rows
        ],
    }
    document.update(extra or {})
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


# ------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Zorgleefplan load benchmark (see README)")
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[1000],
        help="store sizes in clients (~10 resources each); several allowed",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per scenario")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic data")
    parser.add_argument(
        "--flat-tolerance",
        type=float,
        default=1.5,
        help="largest/smallest latency ratio still called flat",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="service (and bare app) worker processes; several give a scaling table",
    )
    parser.add_argument("--data-root", type=Path, default=BENCH / "data")
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    parser.add_argument(
        "--keep-work", action="store_true", help="keep the scratch data dir and server logs"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    if min(args.workers) < 1:
        raise SystemExit("--workers must be at least 1")
    env = environment()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print(f"uvloop={env['uvloop']} httptools={env['httptools']}")
    by_workers: dict[int, list[RunResult]] = {}
    failed = False
    for workers in sorted(set(args.workers)):
        pin = pinning(workers)
        print(f"[{workers} worker{'s' if workers > 1 else ''}] {pin.description}")
        results: list[RunResult] = []
        for clients in sorted(args.clients):
            result = run_one(clients, workers, args, pin)
            results.append(result)
            path = write_json(result, args, env, stamp, pin)
            print(f"\n{header(result, args)}\n{format_table(result.rows)}")
            for line in result.server_log_errors:
                print(f"  server log: {line}")
            print(f"results: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
            failed |= any(r.passed is False for r in result.rows)
        if len(results) > 1:
            table, flat = flatness(results, args.flat_tolerance)
            print(f"\n== latency from {results[0].clients:,} to {results[-1].clients:,} clients ==")
            print(table)
            extra = {"latency_flatness": {"tolerance": args.flat_tolerance, "rows": flat}}
            write_json(results[-1], args, env, stamp, pin, extra)
            failed |= not all(row["passed"] for row in flat)
        by_workers[workers] = results
    if len(by_workers) > 1:
        for index, clients in enumerate(sorted(args.clients)):
            runs = [results[index] for results in by_workers.values()]
            table, rows = scaling(runs)
            print(
                f"\n== throughput from {runs[0].workers} to {runs[-1].workers} workers, "
                f"{clients:,} clients =="
            )
            print(table)
            write_json(runs[-1], args, env, stamp, pinning(runs[-1].workers), {"scaling": rows})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
