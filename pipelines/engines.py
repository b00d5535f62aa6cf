"""Distributed engines for ``refinery run``: Beam's portable Flink and Spark runners, made to work
after ``make setup`` with nothing installed by hand.

What this module does for ``--runner FlinkRunner`` (and ``SparkRunner``):

1. **The job server.** Beam's Flink job server is a Java program. Maven Central as reachable here
   serves the Flink runner's own jar and everything it depends on, but not Beam's pre-shaded
   ``beam-runners-flink-<flink>-job-server`` jar, so the job server is assembled from its Maven
   parts: ``mvn dependency:copy-dependencies`` on a generated POM naming
   ``org.apache.beam:beam-runners-flink-1.16:<beam version>`` puts every jar in
   ``$REFINERY_CACHE_DIR/jars/<engine>-<beam version>/lib`` (default ``~/.cache/refinery``), and a
   small launcher jar beside them names the main class and lists them on its ``Class-Path``. That
   launcher plays the part of ``--flink_job_server_jar`` (``--spark_job_server_jar``) unless the user
   gave one. Refinery starts it on a free port (``java -jar``, output in a log file) and submits
   with Beam's PortableRunner to it, so that it is stopped as soon as the run ends, failed or not
   (Beam's own FlinkRunner would keep one JVM per run alive until the launching process exits).
   The Java side is the same Beam version as the Python SDK (:data:`BEAM_VERSION`); a mismatch is
   refused before anything starts.
2. **Python work in worker processes.** Beam's LOOPBACK environment (its default for a local Flink)
   runs every Python DoFn in the launching process under one GIL. Refinery instead starts Beam's
   worker pool (``python -m apache_beam.runners.worker.worker_pool_main``) and submits with
   ``--environment_type=EXTERNAL``: the pool starts one SDK worker process per environment the
   runner asks for, and ``--sdk_worker_parallelism`` is set to the run's parallelism, so
   ``--parallelism N`` runs the Python stages in N processes on N cores. The pool is stopped when
   the run ends, failed or not. (The PROCESS environment would need Beam's ``boot`` executable,
   which ships only in Beam's container images.)

For a cluster (``--flink_master=host:8081``) the user starts one worker pool per host and passes
``--environment_type=EXTERNAL --environment_config=localhost:PORT`` themselves; Refinery then leaves
the environment alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile

# The Beam version of the Python SDK and of the Java job server: they must be equal. Pinned in
# pyproject.toml to the newest release whose Flink runner Maven Central serves here with all its
# dependencies (2.57 and later: no beam-runners-flink-* of any Flink version, and no pre-built
# *-job-server jar of any version).
BEAM_VERSION = "2.56.0"


def _options_class():
    """Beam options class for the flags Refinery's engines read that Beam's Python SDK does not declare.
    Declared to Beam, they pass through the portable runner to the job server as pipeline options."""
    from apache_beam.options.pipeline_options import PipelineOptions

    class RefineryEngineOptions(PipelineOptions):
        @classmethod
        def _add_argparse_args(cls, parser):
            parser.add_argument(
                "--flink_conf_dir", default=None,
                help="folder holding a flink-conf.yaml for the Flink job server refinery starts (the embedded "
                     "Flink's managed memory, slots, temporary folders)")

    return RefineryEngineOptions


EngineOptions = _options_class()


class EngineError(RuntimeError):
    """The engine cannot be prepared (no Java, no Maven, an artifact that does not resolve)."""


@dataclasses.dataclass(frozen=True)
class Engine:
    name: str                      # Beam runner name as given to --runner
    artifacts: tuple[str, ...]     # Maven coordinates group:artifact:version ({beam} = BEAM_VERSION)
    main_class: str
    jar_option: str                # Beam's Python option naming the job-server jar
    add_opens: tuple[str, ...] = ()  # JDK packages the engine reflects into (manifest Add-Opens)

    def coordinates(self) -> list[str]:
        return [a.format(beam=BEAM_VERSION) for a in self.artifacts]


# Spark 3.5.0 is the Spark version Beam 2.56's Spark 3 runner is built against; its job server jar
# bundles spark-core and spark-streaming, which the runner's POM declares as provided.
ENGINES: dict[str, Engine] = {
    "FlinkRunner": Engine(
        name="FlinkRunner",
        artifacts=("org.apache.beam:beam-runners-flink-1.16:{beam}", "org.slf4j:slf4j-simple:1.7.30"),
        main_class="org.apache.beam.runners.flink.FlinkJobServerDriver",
        jar_option="flink_job_server_jar",
    ),
    "SparkRunner": Engine(
        name="SparkRunner",
        artifacts=("org.apache.beam:beam-runners-spark-3:{beam}",
                   "org.apache.spark:spark-core_2.12:3.5.0",
                   "org.apache.spark:spark-streaming_2.12:3.5.0",
                   # Maven's nearest-wins mixes Beam's older jackson-core with Spark's databind: Spark's.
                   "com.fasterxml.jackson.core:jackson-core:2.15.2",
                   "com.fasterxml.jackson.core:jackson-databind:2.15.2",
                   "com.fasterxml.jackson.core:jackson-annotations:2.15.2",
                   "com.fasterxml.jackson.module:jackson-module-scala_2.12:2.15.2"),
        main_class="org.apache.beam.runners.spark.SparkJobServerDriver",
        jar_option="spark_job_server_jar",
        add_opens=("java.base/java.lang", "java.base/java.lang.invoke", "java.base/java.lang.reflect",
                   "java.base/java.io", "java.base/java.net", "java.base/java.nio", "java.base/java.util",
                   "java.base/java.util.concurrent", "java.base/java.util.concurrent.atomic",
                   "java.base/sun.nio.ch", "java.base/sun.nio.cs", "java.base/sun.security.action",
                   "java.base/sun.util.calendar"),
    ),
}

_RUNNER_ALIASES = {"flinkrunner": "FlinkRunner", "flink": "FlinkRunner",
                   "sparkrunner": "SparkRunner", "spark": "SparkRunner"}


def engine_for(runner: str | None) -> Engine | None:
    """The engine a ``--runner`` value names, or None (DirectRunner, Dataflow, PortableRunner, ...)."""
    if not runner:
        return None
    name = _RUNNER_ALIASES.get(runner.lower())
    return ENGINES.get(name) if name else None


def cache_dir() -> str:
    """``$REFINERY_CACHE_DIR`` or ``~/.cache/refinery``: where the engines' jars are kept."""
    return os.environ.get("REFINERY_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "refinery")


def _need(tool: str, engine: Engine, what: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise EngineError(f"--runner {engine.name} needs {what} on PATH (`{tool}` not found): install it, e.g. "
                          f"`apt-get install openjdk-17-jdk-headless maven`, or pass --{engine.jar_option}=JAR")
    return path


def check_beam_version() -> None:
    import apache_beam

    if apache_beam.__version__ != BEAM_VERSION:
        raise EngineError(f"apache-beam {apache_beam.__version__} is installed but the job server is Beam "
                          f"{BEAM_VERSION}; the SDK and the job server must be the same version "
                          f"(`pip install apache-beam=={BEAM_VERSION}`, as pyproject.toml pins)")


def _pom(engine: Engine) -> str:
    deps = []
    for coord in engine.coordinates():
        group, artifact, version = coord.split(":")
        deps.append(f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
                    f"<version>{version}</version></dependency>")
    return ("<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n  <modelVersion>4.0.0</modelVersion>\n"
            f"  <groupId>refinery.engines</groupId><artifactId>{engine.name.lower()}-job-server</artifactId>"
            f"<version>{BEAM_VERSION}</version><packaging>pom</packaging>\n"
            "  <dependencies>\n" + "\n".join(deps) + "\n  </dependencies>\n</project>\n")


def _manifest(main_class: str, class_path: list[str], add_opens: tuple[str, ...]) -> bytes:
    """A jar manifest: lines of at most 72 bytes, continuation lines start with one space."""
    def wrap(header: str) -> str:
        raw = header.encode()
        lines = [raw[:72]] + [b" " + raw[i:i + 71] for i in range(72, len(raw), 71)]
        return "\r\n".join(x.decode() for x in lines) + "\r\n"

    text = wrap("Manifest-Version: 1.0") + wrap(f"Main-Class: {main_class}")
    text += wrap("Class-Path: " + " ".join(class_path))
    if add_opens:
        text += wrap("Add-Opens: " + " ".join(add_opens))
    return (text + "\r\n").encode()


def job_server_jar(engine: Engine, quiet: bool = False) -> str:
    """Path of the launcher jar for ``engine``, fetching its jars with Maven the first time.

    The folder is filled under a lock and published by an atomic rename, so concurrent runs (or a
    run killed half-way through the download) never see a partial set of jars.
    """
    check_beam_version()
    root = os.path.join(cache_dir(), "jars")
    # The folder is named by the artifact list too: a changed list fetches afresh.
    digest = hashlib.sha256(" ".join(engine.coordinates()).encode()).hexdigest()[:8]
    home = os.path.join(root, f"{engine.name.lower()}-{BEAM_VERSION}-{digest}")
    launcher = os.path.join(home, f"{engine.name.lower()}-job-server-{BEAM_VERSION}.jar")
    if os.path.isfile(launcher):
        return launcher
    _need("java", engine, "Java 11 or later")
    mvn = _need("mvn", engine, "Maven (to fetch Beam's job server from Maven Central)")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(launcher):
            return launcher
        staging = home + f".partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(os.path.join(staging, "lib"))
        with open(os.path.join(staging, "pom.xml"), "w") as f:
            f.write(_pom(engine))
        if not quiet:
            print(f"refinery: fetching Beam {BEAM_VERSION}'s {engine.name} job server with Maven "
                  f"({', '.join(engine.coordinates())}) into {home} (once; ~160 MB) ...", file=sys.stderr, flush=True)
        cmd = [mvn, "-q", "-B", "-f", os.path.join(staging, "pom.xml"), "dependency:copy-dependencies",
               "-DincludeScope=runtime", f"-DoutputDirectory={os.path.join(staging, 'lib')}"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            tail = " | ".join(line for line in (res.stdout + res.stderr).splitlines() if "ERROR" in line)[:600]
            shutil.rmtree(staging, ignore_errors=True)
            raise EngineError(f"Maven could not fetch {', '.join(engine.coordinates())}: {tail or res.returncode}")
        jars = sorted(n for n in os.listdir(os.path.join(staging, "lib")) if n.endswith(".jar"))
        with zipfile.ZipFile(os.path.join(staging, os.path.basename(launcher)), "w") as z:
            z.writestr("META-INF/MANIFEST.MF", _manifest(engine.main_class, [f"lib/{j}" for j in jars],
                                                         engine.add_opens))
        shutil.rmtree(home, ignore_errors=True)
        os.rename(staging, home)
    return launcher


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the launching process dies, however it dies (Linux),
    so a killed run leaves no job server or worker pool behind."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineError(f"{what} exited at start (status {proc.returncode})")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.1)
    raise EngineError(f"{what} did not listen on port {port} within {timeout:.0f} s")


class WorkerPool:
    """Beam's Python worker pool on a free local port; each worker it starts is its own process.
    Stopped (with every worker it started) by :meth:`stop`, which is idempotent."""

    def __init__(self, timeout: float = 60.0, log_path: str | None = None, progress_dir: str | None = None):
        self.port = free_port()
        self.log_path = log_path
        # The pool starts each worker as `python -c ...` found on PATH: this interpreter's must come first.
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        # Workers import Beam's Google clients before refinery's warning filter: one FutureWarning per client
        # and worker about a Python end of life in 2027 is nothing a user of this run can act on.
        quiet = "ignore::FutureWarning:google.api_core._python_version_support"
        env["PYTHONWARNINGS"] = ",".join(w for w in (env.get("PYTHONWARNINGS"), quiet) if w)
        # A worker runs its bundles on many threads, and glibc gives each thread that allocates its own
        # malloc arena (up to 8 per core), which keeps what it once held: two arenas hold a worker's memory
        # lower at no measured cost (docs/SCALING.md). The user's own setting wins.
        env.setdefault("MALLOC_ARENA_MAX", "2")
        if progress_dir:  # each worker writes its counters there for the progress line (refinery.progress)
            env["REFINERY_PROGRESS_DIR"] = progress_dir
        # The pool's and its workers' output (start-up lines, the gRPC errors of workers whose job server has
        # gone at the end of a run) goes to a log file, not the user's terminal.
        with open(log_path, "ab") if log_path else contextlib.nullcontext() as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={self.port}"],
                start_new_session=True, stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent,
                stdout=log, stderr=subprocess.STDOUT if log else None)
        try:
            _wait_listening(self.port, self.proc, timeout, "Beam's worker pool")
        except BaseException:
            self.stop()
            raise

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def stop(self) -> None:
        _stop_group(self.proc, 10)


class JobServer:
    """Beam's job server JVM (``java -jar LAUNCHER``) on free local ports, its output in ``log_path``.
    Stopped by :meth:`stop` (idempotent), with SIGKILL if it does not end within 15 s."""

    def __init__(self, engine: Engine, jar: str, master: str, log_path: str, timeout: float = 180.0,
                 conf_dir: str | None = None):
        java = _need("java", engine, "Java 11 or later")
        self.port = free_port()
        self.log_path = log_path
        self.artifacts_dir = log_path + ".artifacts"
        # The JVM's temporary files (an embedded Flink's or Spark's shuffle and spill files, blobs, its RPC
        # jar: several GB at 2 GB of input) go to a folder of this run's, removed when the job server
        # stops, even after the kernel killed it: in /tmp they would outlive every run that did not end
        # cleanly. A user's -Djava.io.tmpdir (REFINERY_JOB_SERVER_JAVA_OPTS) or Flink io.tmp.dirs wins.
        self.tmp_dir = log_path + ".tmp"
        for d in (self.artifacts_dir, self.tmp_dir):
            os.makedirs(d, exist_ok=True)
        master_flag = "--flink-master" if engine.name == "FlinkRunner" else "--spark-master-url"
        cmd = [java, f"-Djava.io.tmpdir={self.tmp_dir}", *_java_options(), "-jar", jar,
               master_flag, master, "--job-port", str(self.port),
               "--artifact-port", "0", "--expansion-port", "0", "--artifacts-dir", self.artifacts_dir]
        if conf_dir:
            cmd += ["--flink-conf-dir", conf_dir]
        with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        try:
            _wait_listening(self.port, self.proc, timeout, f"{engine.name}'s job server (log: {log_path})")
        except BaseException:
            self.stop()
            raise

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def stop(self) -> None:
        _stop_group(self.proc, 15)
        shutil.rmtree(self.artifacts_dir, ignore_errors=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


def _java_options() -> list[str]:
    """A 16 MB thread stack (Spark serialises the job's deep lineage recursively: with the default
    stack it can fail with StackOverflowError); exit on the first OutOfMemoryError (without it the JVM
    lives on with its gRPC threads dead and the job never ends: seen at 2 GB on Flink with the default
    heap); then ``REFINERY_JOB_SERVER_JAVA_OPTS`` (e.g. ``-Xmx8g``), split on spaces. A later option
    wins, so the user's ``-Xss`` or ``-XX:-ExitOnOutOfMemoryError`` overrides ours."""
    return ["-Xss16m", "-XX:+ExitOnOutOfMemoryError", *os.environ.get("REFINERY_JOB_SERVER_JAVA_OPTS", "").split()]


def _stop_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM the process group ``proc`` leads, then SIGKILL what is left after ``grace`` seconds."""
    import signal

    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # Workers the process started live in its group too: none may outlive the run.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _has(args: list[str], option: str) -> bool:
    flag = "--" + option
    return any(a == flag or a.startswith(flag + "=") for a in args)


def _value(args: list[str], option: str) -> str | None:
    flag = "--" + option
    for i, a in enumerate(args):
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
        if a == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def _without(args: list[str], option: str) -> list[str]:
    """``args`` less ``--option=V`` / ``--option V``."""
    flag, out, skip = "--" + option, [], False
    for i, a in enumerate(args):
        if skip:
            skip = False
        elif a == flag:
            skip = i + 1 < len(args) and not args[i + 1].startswith("--")
        elif not a.startswith(flag + "="):
            out.append(a)
    return out


def _log_mentions(path: str, needle: bytes) -> bool:
    """Whether the log at ``path`` holds ``needle``, read a line at a time (False if it cannot be read)."""
    with contextlib.suppress(OSError), open(path, "rb") as log:
        return any(needle in line for line in log)
    return False


@dataclasses.dataclass
class PreparedEngine:
    """Beam arguments to run with (a PortableRunner pointed at the job server), and what to stop."""
    beam_args: list[str]
    processes: list = dataclasses.field(default_factory=list)
    facts: dict = dataclasses.field(default_factory=dict)
    progress_dir: str | None = None  # where the workers Refinery started write their counters

    def died(self, grace: float = 3.0) -> str | None:
        """Why a failed run failed, where the cause is a job server that has exited under it (Beam's
        client then reports only a closed gRPC stream): its exit status, its log, and what to change
        when the log shows the JVM ran out of heap. None while every job server still runs after
        ``grace`` seconds (the client can see the stream close before the JVM has finished exiting)."""
        for proc in self.processes:
            if not isinstance(proc, JobServer):
                continue
            try:
                proc.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
            code, where = proc.proc.returncode, f"log: {proc.log_path}"
            hint = "REFINERY_JOB_SERVER_JAVA_OPTS=-Xmx<size> (docs/SCALING.md)"
            if code == -9:  # SIGKILL: from nobody in this run but the kernel, short of memory
                msg = (f"the job server was killed (SIGKILL: most likely the kernel's out-of-memory killer, see "
                       f"dmesg; {where}); give the machine more memory, or the JVM less with {hint}")
            elif _log_mentions(proc.log_path, b"OutOfMemoryError"):
                msg = (f"the job server exited with status {code} ({where}); its Java heap ran out: "
                       f"give it more with {hint}")
            else:
                msg = f"the job server exited with status {code} ({where})"
            return msg
        return None

    def close(self) -> None:
        """Stop the job server and the worker pool (each once, whatever happened to the other)."""
        while self.processes:
            with contextlib.suppress(Exception):
                self.processes.pop().stop()


def prepare(runner: str | None, beam_args: list[str], log_dir: str | None = None,
            quiet: bool = False) -> PreparedEngine | None:
    """For a Flink or Spark run: start the job server and the worker pool; return the Beam flags to
    run with (``--runner=PortableRunner --job_endpoint=...``). None for any other runner.

    Flags the user gave win: an own ``--flink_job_server_jar`` / ``--spark_job_server_jar``,
    ``--environment_type``, ``--flink_master`` / ``--spark_master_url``, ``--sdk_worker_parallelism``.
    ``--job_endpoint`` (a job server already running) skips starting one. ``--flink_conf_dir=DIR``
    (a folder with a ``flink-conf.yaml``) is handed to the Flink job server it starts: the embedded
    Flink's memory, slots, temporary folders.
    """
    engine = engine_for(runner)
    if engine is None:
        return None
    args = list(beam_args)
    facts: dict = {"engine": engine.name, "beam_version": BEAM_VERSION}
    parallelism = int(_value(args, "parallelism") or 0) or 1
    if engine.name == "FlinkRunner":
        master = _value(args, "flink_master") or "[local]"
        if not _has(args, "parallelism"):
            args.append(f"--parallelism={parallelism}")
    else:
        master = _value(args, "spark_master_url") or f"local[{parallelism}]"
    facts["master"] = master
    facts["parallelism"] = parallelism
    prepared = PreparedEngine(beam_args=args, facts=facts)
    try:
        if not _has(args, "job_endpoint"):
            jar = _value(args, engine.jar_option)
            if jar is None:
                jar = job_server_jar(engine, quiet=quiet)
                facts["job_server_artifacts"] = engine.coordinates()
            facts["job_server_jar"] = jar
            if log_dir is None:
                import tempfile

                log_dir = tempfile.mkdtemp(prefix="refinery-engine-")
            os.makedirs(log_dir, exist_ok=True)
            conf_dir = _value(args, "flink_conf_dir") if engine.name == "FlinkRunner" else None
            if conf_dir:
                if not os.path.isfile(os.path.join(conf_dir, "flink-conf.yaml")):
                    raise EngineError(f"--flink_conf_dir={conf_dir}: no flink-conf.yaml in that folder")
                facts["flink_conf_dir"] = conf_dir
            server = JobServer(engine, jar, master, os.path.join(log_dir, f"{engine.name.lower()}-job-server.log"),
                               conf_dir=conf_dir)
            prepared.processes.append(server)
            args.append(f"--job_endpoint={server.address}")
            facts["job_server_log"] = server.log_path
        if not _has(args, "environment_cache_millis"):
            # Flink releases a task's environment when the task ends: without a cache every stage of
            # the batch job would start (and import Refinery in) fresh Python workers. Kept for the
            # job's life; the pool and its workers are stopped when the run ends.
            args.append("--environment_cache_millis=86400000")
        if not _has(args, "sdk_worker_parallelism"):
            args.append(f"--sdk_worker_parallelism={parallelism}")
        if not _has(args, "environment_type"):
            if log_dir is None:
                import tempfile

                log_dir = tempfile.mkdtemp(prefix="refinery-engine-")
            prepared.progress_dir = os.path.join(log_dir, "progress")
            os.makedirs(prepared.progress_dir, exist_ok=True)
            pool = WorkerPool(log_path=os.path.join(log_dir, "worker-pool.log"), progress_dir=prepared.progress_dir)
            facts["worker_pool_log"] = pool.log_path
            prepared.processes.insert(0, pool)  # stopped after the job server
            args += ["--environment_type=EXTERNAL", f"--environment_config={pool.address}"]
            facts["environment"] = f"EXTERNAL: worker pool started by refinery, {parallelism} SDK worker process(es)"
        else:
            facts["environment"] = _value(args, "environment_type")
    except BaseException:
        prepared.close()
        raise
    # The job server is ours: the plain portable runner submits to it.
    args = _without(_without(args, "runner"), engine.jar_option)
    prepared.beam_args = ["--runner=PortableRunner", *args]
    return prepared
