"""A standalone Flink 1.16 cluster (JobManager + one TaskManager) on this machine, from PyPI, for tests.

    python -m benchmarks.flink_cluster --slots 2 -- --input 'examples/sample/*' --output out/cluster
    python -m benchmarks.flink_cluster --slots 2 --keep      # start it, print the address, wait for Ctrl-C

Beam 2.56's Flink runner is built against Flink 1.16, so the cluster must be 1.16: PyPI's
``apache-flink-libraries==1.16.3`` sdist carries Flink's ``lib/`` (``flink-dist-1.16.3.jar`` and the
rest) but not its ``bin/`` scripts, so the JobManager (``StandaloneSessionClusterEntrypoint``) and the
TaskManager (``TaskManagerRunner``) are started with ``java`` directly: the TaskManager's memory
components are given explicitly (the scripts would compute them), and on Java 17 the JDK packages
Flink 1.16 reflects into are opened (``--add-opens`` / ``--add-exports``). The sdist is fetched once
with ``pip download`` into ``$REFINERY_CACHE_DIR/flink`` (default ``~/.cache/refinery``; ~240 MB).

With arguments after ``--`` it runs ``refinery run ARGS --runner FlinkRunner
--flink_master=localhost:PORT --parallelism SLOTS`` against the cluster (Refinery starts the Python
worker pool; the TaskManager reaches it on localhost) and stops the cluster afterwards, failed or not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

FLINK_VERSION = "1.16.3"  # the newest 1.16 on PyPI; Beam 2.56's runner is beam-runners-flink-1.16
_JAVA17_OPTS = [
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED", "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    *(f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in (
        "java.lang", "java.net", "java.io", "java.nio", "sun.nio.ch", "java.lang.reflect", "java.text", "java.time",
        "java.util", "java.util.concurrent", "java.util.concurrent.atomic", "java.util.concurrent.locks")),
]
# TaskManager memory, component by component (what bin/taskmanager.sh would compute): 3 GB in all.
_TM_MEMORY = {"framework.heap.size": "128m", "framework.off-heap.size": "128m", "task.heap.size": "1024m",
              "task.off-heap.size": "0m", "network.min": "512m", "network.max": "512m", "managed.size": "1024m",
              "jvm-metaspace.size": "256m", "jvm-overhead.min": "192m", "jvm-overhead.max": "192m"}


def flink_lib(cache: Path | None = None) -> Path:
    """Folder of Flink 1.16's jars, fetched from PyPI (``apache-flink-libraries`` sdist) the first time."""
    from refinery.pipelines.engines import cache_dir

    root = (cache or Path(cache_dir())) / "flink"
    lib = root / f"flink-{FLINK_VERSION}" / "lib"
    if (lib / f"flink-dist-{FLINK_VERSION}.jar").is_file():
        return lib
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        f"apache-flink-libraries=={FLINK_VERSION}", "-d", tmp], check=True)
        sdist = next(Path(tmp).glob("apache-flink-libraries-*.tar.gz"))
        staging = Path(tmp) / "lib"
        staging.mkdir()
        prefix = f"apache-flink-libraries-{FLINK_VERSION}/deps/lib/"
        with tarfile.open(sdist) as tar:
            for m in tar.getmembers():
                if m.name.startswith(prefix) and m.name.endswith(".jar") and m.isfile():
                    (staging / Path(m.name).name).write_bytes(tar.extractfile(m).read())
        lib.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, lib)
    return lib


def _free_port() -> int:
    from refinery.pipelines.engines import free_port

    return free_port()


class Cluster:
    """JobManager + one TaskManager with ``slots`` slots, on free local ports, in ``work``."""

    def __init__(self, work: Path, slots: int = 2, timeout: float = 240.0):
        self.lib = flink_lib()
        self.work = work
        self.rest_port = _free_port()
        conf = work / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (work / "tmp").mkdir(exist_ok=True)
        settings = {
            "jobmanager.rpc.address": "localhost", "jobmanager.rpc.port": _free_port(),
            "jobmanager.bind-host": "localhost", "taskmanager.bind-host": "localhost", "taskmanager.host": "localhost",
            "rest.address": "localhost", "rest.bind-address": "localhost", "rest.port": self.rest_port,
            "blob.server.port": _free_port(), "taskmanager.rpc.port": _free_port(),
            "taskmanager.data.port": _free_port(),
            "jobmanager.memory.process.size": "1024m", "taskmanager.numberOfTaskSlots": slots,
            "parallelism.default": slots, "io.tmp.dirs": str(work / "tmp"),
            # A loaded machine answers RPCs slowly: the 10 s default failed a task deployment here.
            "akka.ask.timeout": "120 s", "heartbeat.timeout": 300000, "web.timeout": 120000,
        }
        (conf / "flink-conf.yaml").write_text("".join(f"{k}: {v}\n" for k, v in settings.items()))
        cp = str(self.lib / "*")
        self.procs: list[subprocess.Popen] = []
        try:
            self._start("jobmanager", ["java", *_JAVA17_OPTS, "-cp", cp,
                                       "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
                                       "--configDir", str(conf)])
            tm_opts = [x for k, v in _TM_MEMORY.items() for x in ("-D", f"taskmanager.memory.{k}={v}")]
            self._start("taskmanager", ["java", *_JAVA17_OPTS, "-Xmx1152m", "-XX:MaxDirectMemorySize=800m", "-cp", cp,
                                        "org.apache.flink.runtime.taskexecutor.TaskManagerRunner", "--configDir",
                                        str(conf), "-D", f"taskmanager.cpu.cores={float(slots)}", *tm_opts])
            self._wait_slots(slots, timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, name: str, cmd: list[str]) -> None:
        with open(self.work / f"{name}.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                               start_new_session=True))

    def overview(self) -> dict:
        with urllib.request.urlopen(f"http://localhost:{self.rest_port}/overview", timeout=5) as r:
            return json.loads(r.read())

    def _wait_slots(self, slots: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"a Flink process exited at start (status {p.returncode}); logs in {self.work}")
            with contextlib.suppress(OSError, ValueError):
                if self.overview().get("slots-total", 0) >= slots:
                    return
            time.sleep(1)
        raise RuntimeError(f"the Flink cluster did not offer {slots} slots within {timeout:.0f} s; logs in {self.work}")

    @property
    def master(self) -> str:
        return f"localhost:{self.rest_port}"

    def stop(self) -> None:
        from refinery.pipelines.engines import _stop_group

        while self.procs:
            _stop_group(self.procs.pop(), 15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slots", type=int, default=2, help="TaskManager slots = the run's parallelism (default 2)")
    ap.add_argument("--work", help="folder for the cluster's configuration, logs and spills (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="start the cluster, print its address, wait for Ctrl-C")
    argv = sys.argv[1:]
    run_args = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="refinery-flink-cluster-"))
    cluster = Cluster(work, args.slots)
    try:
        print(f"Flink {FLINK_VERSION} cluster at {cluster.master} ({args.slots} slots; logs in {work})", flush=True)
        if args.keep:
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
            return 0
        if not run_args:
            return 0
        cmd = [sys.executable, "-m", "refinery.pipelines.cli", "run", *run_args, "--runner", "FlinkRunner",
               f"--flink_master={cluster.master}", f"--parallelism={args.slots}"]
        return subprocess.run(cmd).returncode
    finally:
        cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
