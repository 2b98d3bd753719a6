"""The engines of bench/cluster.py, each started from Debian's own packages on this one machine, in a directory
of its own (default /tmp/daoxiang-cluster), on ports of its own, so nothing collides with the MariaDB and Redis
that the test suites use:

- a 3-node MariaDB Galera cluster (galera-4 + mariadb-server's mariadbd; SQL ports 13306-13308, group
  communication 14567/14577/14587, IST and rsync SST ports beside them);
- a Redis Cluster of three masters (ports 17001-17003, `redis-cli --cluster create`);
- nginx on port 18100 balancing the shop processes (least connections, no stickiness).

Every process is ours: `down()` stops them by their pid files and nothing else.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pymysql

GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"
SQL_PORTS = [13306, 13307, 13308]
GCOMM_PORTS = [14567, 14577, 14587]
REDIS_PORTS = [17001, 17002, 17003]
NGINX_PORT = 18100


def log(message: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


def apt_install(*packages: str) -> None:
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return
    log(f"apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env
    )


def wait_until(what: str, check, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not come up within {seconds:.0f} s")


# ------------------------------------------------------------------------------------------ Galera


def _galera_cnf(base: Path, i: int) -> Path:
    node = base / f"galera{i + 1}"
    gcomm = ",".join(f"127.0.0.1:{p}" for p in GCOMM_PORTS)
    port = GCOMM_PORTS[i]
    cnf = node / "my.cnf"
    cnf.write_text(
        f"""[mysqld]
user=mysql
datadir={node}/data
socket={node}/mysqld.sock
pid-file={node}/mysqld.pid
log-error={node}/error.log
port={SQL_PORTS[i]}
bind-address=127.0.0.1
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
max_connections=600
innodb_buffer_pool_size=128M
innodb_log_file_size=64M
# Galera: row-based binlog events, interleaved auto-increment locks, InnoDB only.
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider={GALERA_PROVIDER}
wsrep_cluster_name=daoxiang
wsrep_cluster_address=gcomm://{gcomm}
wsrep_node_name=galera{i + 1}
wsrep_node_address=127.0.0.1:{port}
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:{port};ist.recv_addr=127.0.0.1:{port + 1};gcache.size=64M"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:{port + 2}
# Causal reads: a read waits until this node has applied every write the cluster committed before it, so a
# buyer whose next request lands on another node sees their own order.
wsrep_sync_wait=1
wsrep_slave_threads=2
"""
    )
    return cnf


def galera_up(base: Path) -> None:
    apt_install("galera-4", "mariadb-server", "rsync")
    for i in range(3):
        node = base / f"galera{i + 1}"
        (node / "data").mkdir(parents=True, exist_ok=True)
        cnf = _galera_cnf(base, i)
        # Only the first node is initialised; the others receive its data by SST (rsync, as the mysql user).
        if i == 0 and not (node / "data" / "mysql").exists():
            subprocess.run(
                [
                    "mariadb-install-db",
                    f"--defaults-file={cnf}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ],
                check=True,
                capture_output=True,
            )
        shutil.chown(node, "mysql", "mysql")
        for path in node.rglob("*"):
            shutil.chown(path, "mysql", "mysql")
    for i in range(3):
        node = base / f"galera{i + 1}"
        args = ["/usr/sbin/mariadbd", f"--defaults-file={node / 'my.cnf'}"]
        if i == 0:
            args.append("--wsrep-new-cluster")
        log(f"starting Galera node {i + 1} (port {SQL_PORTS[i]})")
        with open(node / "stdout.log", "ab") as out:
            subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(f"Galera node {i + 1}", lambda i=i: _synced(i), 180)
    size = _status(0, "wsrep_cluster_size")
    log(f"Galera cluster up: {size} nodes, all Synced")


def sql(i: int, statement: str, database: str | None = None) -> list[tuple]:
    conn = pymysql.connect(
        host="127.0.0.1",
        port=SQL_PORTS[i],
        user="root",
        password="",
        database=database,
        connect_timeout=2,
        autocommit=True,
    )
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return list(cur.fetchall())
    finally:
        conn.close()


def _status(i: int, name: str) -> str:
    rows = sql(i, f"SHOW STATUS LIKE '{name}'")
    return rows[0][1] if rows else ""


def _synced(i: int) -> bool:
    return _status(i, "wsrep_local_state_comment") == "Synced"


def galera_down(base: Path) -> None:
    """All three at once: a node waiting for the others to leave the group stops as soon as they have."""
    pidfiles = [base / f"galera{i + 1}" / "mysqld.pid" for i in range(3)]
    for pidfile in pidfiles:
        _signal_pidfile(pidfile, signal.SIGTERM)
    for i, pidfile in enumerate(pidfiles):
        _stop_pidfile(pidfile, f"Galera node {i + 1}", seconds=60)


# ------------------------------------------------------------------------------------------ Redis Cluster


def redis_up(base: Path) -> None:
    apt_install("redis-server", "redis-tools")
    for port in REDIS_PORTS:
        node = base / f"redis{port}"
        node.mkdir(parents=True, exist_ok=True)
        for stale in ("nodes.conf", "dump.rdb"):
            (node / stale).unlink(missing_ok=True)
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(node / "nodes.conf"),
                "--cluster-node-timeout",
                "5000",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(node),
                "--pidfile",
                str(node / "redis.pid"),
                "--logfile",
                str(node / "redis.log"),
            ],
            check=True,
        )
    for port in REDIS_PORTS:
        wait_until(f"Redis {port}", lambda port=port: _redis_cli(port, "ping") == "PONG", 30)
    subprocess.run(
        [
            "redis-cli",
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in REDIS_PORTS),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ],
        check=True,
        capture_output=True,
    )
    wait_until(
        "Redis Cluster", lambda: "cluster_state:ok" in _redis_cli(REDIS_PORTS[0], "cluster", "info"), 30
    )
    log(f"Redis Cluster up: 3 masters on {REDIS_PORTS}, 16384 slots assigned")


def _redis_cli(port: int, *args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=5
    ).stdout.strip()


def redis_down(base: Path) -> None:
    for port in REDIS_PORTS:
        _stop_pidfile(base / f"redis{port}" / "redis.pid", f"Redis {port}", seconds=15)


# ------------------------------------------------------------------------------------------ nginx


def nginx_up(base: Path, upstreams: list[int]) -> None:
    apt_install("nginx")
    conf_dir = base / "nginx"
    (conf_dir / "logs").mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in upstreams)
    (conf_dir / "nginx.conf").write_text(
        f"""worker_processes 1;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {conf_dir}/body;
    proxy_temp_path {conf_dir}/proxy;
    fastcgi_temp_path {conf_dir}/fastcgi;
    uwsgi_temp_path {conf_dir}/uwsgi;
    scgi_temp_path {conf_dir}/scgi;
    upstream shop {{
        least_conn;
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{NGINX_PORT};
        location / {{
            proxy_pass http://shop;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            # A write is never retried on another shop process (it may have been applied).
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""
    )
    subprocess.run(["nginx", "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf")], check=True)
    log(f"nginx up on {NGINX_PORT}, least_conn over {upstreams}")


def nginx_down(base: Path) -> None:
    _stop_pidfile(base / "nginx" / "nginx.pid", "nginx", seconds=10)


# ------------------------------------------------------------------------------------------ helpers


def _signal_pidfile(pidfile: Path, signum: int) -> None:
    try:
        os.kill(int(pidfile.read_text().strip()), signum)
    except (OSError, ValueError):
        pass


def _stop_pidfile(pidfile: Path, name: str, seconds: float) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log(f"{name} stopped")
            return
        time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    log(f"{name} killed after {seconds:.0f} s")


def wipe(base: Path) -> None:
    shutil.rmtree(base, ignore_errors=True)
