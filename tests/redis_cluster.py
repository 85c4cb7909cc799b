"""A throwaway 3-master Redis Cluster for the tests (``ROOST_TEST_REDIS_CLUSTER=1``).

Started from the system's ``redis-server`` on free local ports, each node in a
directory of its own under ``root``, nothing saved to disk; the slots are spread
over the three masters by ``redis-cli --cluster create``. Never the shared Redis.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from infra import devstack
from tests.waiting import wait_until

MASTERS = 3


def _cli(*args: str) -> str:
    found = subprocess.run([shutil.which("redis-cli") or "redis-cli", *args],
                           capture_output=True, text=True, check=True, timeout=60)
    return found.stdout


def start_cluster(root: Path, masters: int = MASTERS) -> tuple[str, Callable[[], None]]:
    """Start the cluster: (the URL of its first node, the stopper)."""
    server = shutil.which("redis-server")
    if not server:
        raise RuntimeError("a Redis Cluster run needs the system's redis-server")
    processes: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []

    def stop() -> None:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)

    try:
        for n in range(masters):
            port, bus = devstack.free_port(), devstack.free_port()
            node_dir = root / f"node{n}"
            node_dir.mkdir(parents=True, exist_ok=True)
            processes.append(subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-port", str(bus),
                 "--cluster-config-file", str(node_dir / "nodes.conf"),
                 "--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no",
                 "--dir", str(node_dir), "--logfile", str(node_dir / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            ports.append(port)
        for port in ports:
            devstack.wait_for_port("127.0.0.1", port)
        _cli("--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes")
        wait_until(lambda: all("cluster_state:ok" in _cli("-p", str(p), "cluster", "info")
                               for p in ports),
                   failure=lambda: "the test Redis Cluster did not come up (cluster_state)")
    except BaseException:
        stop()
        raise
    return f"redis://127.0.0.1:{ports[0]}/0", stop
