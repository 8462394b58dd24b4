"""Real servers for the scale-out tests, started and stopped by the tests themselves: a PostgreSQL server and a
two-node Ray cluster, each on the loopback interface, in its own temporary folder, on ports picked free.

They run the real binaries (the Debian `postgresql-15` package's `initdb` / `pg_ctl`, Ray's `ray start`), so the
tests exercise what a team's cluster would run. A test skips only when a binary is truly absent (`find_pg_bin`
returns None); any other failure to start is an error that names the log.

Both clean up exactly what they started: PostgreSQL with `pg_ctl stop` (then the postmaster's pid), Ray by
killing the process trees of the `ray start --block` commands this module launched, never a machine-wide
`ray stop`, which would also end other people's clusters on a shared machine.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Ray turns 127.0.0.1 into the machine's outward-facing address (services.resolve_ip_for_localhost); any other
# loopback address is taken as given, so the test cluster talks over the loopback interface only.
RAY_HOST = "127.0.0.2"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it; a race with another process is retried by callers)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------ PostgreSQL
def find_pg_bin() -> Path | None:
    """The folder holding `initdb` and `pg_ctl`: $SMP_PG_BIN, the newest /usr/lib/postgresql/*/bin (Debian keeps
    them off PATH), or PATH; None when PostgreSQL's server is not installed."""
    candidates = [os.environ.get("SMP_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                         if Path(p).parent.name.isdigit() else 0, reverse=True)
    which = shutil.which("pg_ctl")
    candidates += [str(Path(which).parent)] if which else []
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


@dataclass
class Postgres:
    """A running PostgreSQL server: trust auth on 127.0.0.1:`port`, superuser `postgres`."""

    bin: Path
    root: Path
    port: int
    user: str | None  # the system user the server runs as (None: this process's user)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, db: str = "postgres") -> str:
        """SQLAlchemy URL with the psycopg (v3) driver."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        _run_as(self.user, [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                check=False, timeout=60)
        pid_file = self.data / "postmaster.pid"
        if pid_file.is_file():  # pg_ctl could not stop it: end the postmaster we started, by its pid
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def _run_as(user: str | None, cmd: list[str], *, check: bool = True, timeout: float = 120):
    # PostgreSQL refuses to run as root: as root, run it as the `postgres` system user the package creates.
    full = ["runuser", "-u", user, "--", *cmd] if user else cmd
    out = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} failed ({out.returncode}): {out.stderr[-2000:] or out.stdout[-2000:]}")
    return out


def start_postgres(bin_dir: Path, *, tries: int = 3) -> Postgres:
    """initdb a temporary cluster and start it on a free loopback port (fsync off: test data only)."""
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            raise RuntimeError("PostgreSQL cannot run as root and there is no `postgres` system user "
                               "(the postgresql package creates it)") from None
    # Not pytest's tmp_path: its parents are private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="smp-pg-"))
    if user:
        os.chown(root, pw.pw_uid, pw.pw_gid)
    try:
        _run_as(user, [str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust",
                       "-E", "UTF8", "--no-sync", "--no-instructions"])
        for attempt in range(tries):
            port = free_port()
            opts = (f"-h 127.0.0.1 -p {port} -k {root} -F -c full_page_writes=off -c synchronous_commit=off "
                    f"-c max_connections=50")
            out = _run_as(user, [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "server.log"),
                                 "-o", opts, "-w", "-t", "60", "start"], check=False)
            if out.returncode == 0:
                return Postgres(bin_dir, root, port, user)
            if attempt == tries - 1:  # port taken between free_port and the bind, or a real failure
                log = (root / "server.log").read_text()[-2000:] if (root / "server.log").is_file() else ""
                raise RuntimeError(f"pg_ctl start failed: {out.stderr[-1000:]}\n{log}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------------------ Ray
def _descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _ours(session: int) -> list:
    """The processes of the session a `ray start` of ours leads (it was started with a new session), plus its
    descendants: what it launched, even if a parent died and they were re-parented."""
    import psutil

    found = {p.pid: p for p in _descendants(session)}
    for p in psutil.process_iter():
        try:
            if p.pid != session and os.getsid(p.pid) == session:
                found.setdefault(p.pid, p)
        except (OSError, psutil.Error):
            continue
    return list(found.values())


@dataclass
class RayNode:
    """One `ray start --block` command and the processes under it (raylet, workers, agents, GCS on the head)."""

    proc: subprocess.Popen
    log: Path
    node_id: str | None = None  # Ray's id of this node (read from its raylet once it is up)

    def pids(self) -> set[int]:
        return {self.proc.pid, *(p.pid for p in _descendants(self.proc.pid))}

    def raylet_node_id(self) -> str | None:
        """The Ray node id of this node, from its raylet's command line (`--node_id=...`)."""
        import psutil

        for p in _descendants(self.proc.pid):
            try:
                if p.name() == "raylet":
                    return next((a.split("=", 1)[1] for a in p.cmdline() if a.startswith("--node_id=")), None)
            except psutil.Error:
                continue
        return None

    def running_task(self, name: str) -> bool:
        """Whether a worker of this node is executing the remote function `name` (Ray titles it `ray::name`)."""
        import psutil

        for p in _descendants(self.proc.pid):
            try:
                if f"ray::{name}" in " ".join(p.cmdline()):
                    return True
            except psutil.Error:
                continue
        return False

    def kill(self) -> None:
        """SIGKILL this node's processes at once, as a lost machine or an OOM kill would (no draining)."""
        import psutil

        procs = _ours(self.proc.pid)
        for p in procs:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        try:
            self.proc.kill()
        except OSError:
            pass
        self.proc.wait(timeout=30)
        psutil.wait_procs(procs, timeout=10)


@dataclass
class RayCluster:
    """A head node plus worker nodes on RAY_HOST, token auth with a fresh token, dashboard off."""

    root: Path
    port: int
    env: dict[str, str]  # what a driver needs in its environment (the token)
    nodes: list[RayNode] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{RAY_HOST}:{self.port}"

    def add_node(self, *, num_cpus: int = 1, timeout: float = 90) -> RayNode:
        head = not self.nodes
        # One log monitor per machine, as Ray asks (more would each push every node's logs): the head's.
        args = ["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.root}"] if head \
            else [f"--address={self.address}", "--include-log-monitor=false"]
        log = self.root / f"node{len(self.nodes)}.log"
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", *args, "--block", f"--num-cpus={num_cpus}",
               "--num-gpus=0", f"--node-ip-address={RAY_HOST}", "--object-store-memory=80000000",
               f"--plasma-directory={self.root}", "--disable-usage-stats",
               # Fixed default ports would clash with a second node on this machine (or other people's Ray).
               f"--dashboard-agent-listen-port={free_port(RAY_HOST)}",
               f"--dashboard-agent-grpc-port={free_port(RAY_HOST)}", f"--metrics-export-port={free_port(RAY_HOST)}",
               f"--runtime-env-agent-port={free_port(RAY_HOST)}"]
        with open(log, "w") as f:
            # Own session: a Ctrl-C of the test run reaches the tests, and teardown kills the node, not vice versa.
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
                                    start_new_session=True)
        node = RayNode(proc, log)
        self.nodes.append(node)
        deadline = time.time() + timeout
        while "Ray runtime started" not in log.read_text():  # printed once the node has joined the cluster
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"ray start {'--head' if head else '(worker)'} did not come up "
                                   f"(exit {proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        node.node_id = node.raylet_node_id()
        return node

    def stop(self) -> None:
        for node in reversed(self.nodes):
            if node.proc.poll() is None or _ours(node.proc.pid):
                node.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def start_ray_cluster(n_nodes: int = 2) -> RayCluster:
    """`ray start --head` plus `n_nodes - 1` worker nodes (`ray start --address=...`), 1 CPU each."""
    root = Path(tempfile.mkdtemp(prefix="smpray-"))
    env = {
        "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),  # this cluster's own token
        # A dead node is noticed in a few seconds instead of Ray's default ~30 s (C++ settings read RAY_<name>).
        "RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
        "RAY_health_check_failure_threshold": "3", "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    }
    cluster = RayCluster(root, free_port(RAY_HOST), env)
    try:
        for _ in range(n_nodes):
            cluster.add_node()
    except BaseException:
        cluster.stop()
        raise
    return cluster
