"""The warm worker: pay the imports (TensorFlow, Keras, MLflow, scikit-learn, matplotlib: ~11 s on 2 cores) once per
pipeline invocation, not once per job. The invocation (Snakemake's onstart, or `python -m mlbasics worker -- dvc
repro`) starts a worker process that listens on the Unix socket named in MLBASICS_WORKER and imports everything.
Each job is still its own `python -m mlbasics <stage>` process (its log, exit status and resume unchanged), but only
a client: it hands its arguments, directory, environment and standard streams to the worker, which forks a child to
run the stage. TensorFlow has started no thread pools yet, so the child is a fresh process minus the imports (a test
compares the bytes). The worker imports in stages: a job that connects meanwhile starts as soon as its stage's
modules are in (the data stages before TensorFlow, training before MLflow). Where no worker answers (none, dead
before it started the job, a SLURM batch job), the client runs the stage itself; MLBASICS_NO_WORKER=1 turns it
off. Nothing is left behind: the worker dies with the process that started it (parent-death signal, polling),
children die with the worker, and a child whose client went away (a killed job) kills itself; signals sent to a
client reach its child. MLBASICS_WORKER_STATS=<file> in the pipeline's environment: the worker appends a line per
job (its stage's CPU, which the job's own process never shows). The top level imports the standard library only:
every job's process loads it first.
Over 350 lines: the client, starting and stopping, and the worker speak one small protocol (a header, the streams'
descriptors, a JSON request; a started byte, signal bytes back; a status), kept together.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import struct
import sys
from collections.abc import Callable

ENV = "MLBASICS_WORKER"  # {"socket": path, "pid": the worker's, "slurm_job": the SLURM job it runs in, or ""}
ENV_OFF = "MLBASICS_NO_WORKER"
ENV_STATS = "MLBASICS_WORKER_STATS"  # a file the worker appends a line per job to (bench/pipeline_overhead.py)
PREFIX = "mlbasics-worker-"  # the socket folders in the temporary directory
WAIT_S = 90.0  # the longest a job waits for a starting worker (its imports take ~11 s on 2 idle cores)
# What the stages import, loaded once, in this order: the data stages' modules, training's, then the rest
# (evaluation, reports, MLflow). The package's part is each stage's module (mlbasics.stages.<stage>, which imports
# its libraries) and the CLI; the rest are the heavy libraries, listed to load them in a useful order. A job starts
# as soon as its stage's module is in (READY_AFTER): the data stages run while TensorFlow loads, the first
# trainings while MLflow does; the other stages wait for all of it.
WARM = (
    "mlbasics.stages.download",
    "PIL.Image",
    "matplotlib.pyplot",
    "uproot",
    "pandas",
    "scipy.stats",
    "sklearn.metrics",
    "threadpoolctl",
    "mlbasics.stages.dataset",
    "mlbasics.stages.preprocess",
    "tensorflow",
    "keras",
    "sklearn.ensemble",
    "sklearn.discriminant_analysis",
    "sklearn.naive_bayes",
    "sklearn.neighbors",
    "skops.io",
    "onnx",
    "skl2onnx",
    "mlbasics.stages.train",
    "mlbasics.methods.numpy_mlp",  # the lecture's backend, which training imports only when a variant asks for it
    "mlflow",
    "mlflow.tensorflow",
    "mlflow.models",
    "mlflow.pyfunc",
    "mlflow.store.tracking.sqlalchemy_store",
    "alembic",
    "git",
    "mlflow.sklearn",
    "sklearn.inspection",
    "mlbasics.cli",
    "mlbasics.stages.folds",
    "mlbasics.stages.evaluate",
    "mlbasics.stages.report",
    "mlbasics.stages.summary",
    "mlbasics.stages.check",
    "mlbasics.stages.track",
)
READY_AFTER = {stage: f"mlbasics.stages.{stage}" for stage in ("download", "dataset", "preprocess", "train")}
READY_AFTER["train_fold"] = READY_AFTER["train"]  # one fold's training runs the train stage's module
STARTED = b"\x01"  # the worker to a client: your job's process runs (before it, a client may still run it itself)
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT)
_OPEN: set[socket.socket] = set()  # the worker's connections to running jobs' clients


# --- the client: every job's process ---------------------------------------------------------------------------


def _announced() -> dict:
    """Where this process's pipeline says its worker is (ENV); {} when none, or unreadable."""
    try:
        where = json.loads(os.environ.get(ENV) or "{}")
    except ValueError:
        return {}
    return where if isinstance(where, dict) else {}


def _endpoint() -> str | None:
    """The socket of this invocation's worker, if there is one this process may use."""
    where = _announced()
    # a batch job (another node, or this one under SLURM's limits and GPU binding) runs its stage itself
    if (
        not where
        or os.environ.get(ENV_OFF, "") not in ("", "0")
        or os.environ.get("SLURM_JOB_ID", "") != where.get("slurm_job", "")
    ):
        return None
    return _ready_socket(where.get("socket", ""), where.get("pid"))


def _ready_socket(path: str, pid: int | None) -> str | None:
    """The worker's socket, once it listens (at once; up to WAIT_S). A job connects while the worker still
    imports and starts when its stage's modules are in: importing beside it would only slow both on a small
    machine. A worker that died never gets waited for."""
    import time

    deadline = time.monotonic() + WAIT_S
    while not os.path.exists(path):
        if pid is None or not _running(pid) or time.monotonic() > deadline:
            return None
        time.sleep(0.05)
    return path


def _running(pid: int) -> bool:
    """Whether a process runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def run(argv: list[str]) -> int | None:
    """Run `python -m mlbasics argv` in the worker; its exit status, or None where no worker takes it."""
    path = _endpoint()
    if path is None:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        payload = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
        socket.send_fds(conn, [struct.pack("!Q", len(payload))], [0, 1, 2])
        conn.sendall(payload)
    except OSError:  # the worker went away between the check and the call: nothing ran yet
        conn.close()
        return None
    received: list[int] = []

    def forward(signum: int, _frame) -> None:  # the scheduler's signals reach the stage (queued until it starts)
        received.append(signum)
        _send_signal(conn, signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    if _receive(conn, 1) != STARTED:  # the worker died before starting the job (while importing): nothing ran
        conn.close()
        return _not_started(previous, received)
    status = _receive(conn, 4)
    if status is None:
        print("error: the mlbasics worker stopped while running this job; rerun it (it resumes)", file=sys.stderr)
        return 1
    code = struct.unpack("!i", status)[0]
    if code < 0:  # killed by a signal: end the same way, so the scheduler sees what a lone process would show
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


def _not_started(previous: dict, received: list[int]) -> int | None:
    """A job its worker never started: None (the client runs the stage itself), unless it was told to stop while
    it waited (the pipeline ending, Ctrl-C) - then it ends as that signal ends a lone process, and runs nothing."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    stop = [s for s in received if s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)]
    if not stop:
        return None
    signal.signal(stop[0], signal.SIG_DFL)
    os.kill(os.getpid(), stop[0])
    return 128 + stop[0]


def _send_signal(conn: socket.socket, signum: int) -> None:
    with contextlib.suppress(OSError):  # the job has just ended: nothing to pass it to
        conn.send(bytes([signum]))


def _receive(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))  # a signal handler's interruption is retried (PEP 475)
        except ConnectionResetError:  # the other end died with bytes unread (a forwarded signal): gone all the same
            return None
        if not chunk:
            return None
        data += chunk
    return data


# --- starting and stopping (the pipeline's side) ---------------------------------------------------------------


def _die_with_parent(signum: int = signal.SIGKILL) -> None:
    """In a child: get `signum` when the parent dies (Linux), so that nothing outlives the pipeline."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not Linux: the worker's parent polling still ends it
        ctypes.CDLL(None, use_errno=True).prctl(1, signum)  # 1: PR_SET_PDEATHSIG


def start() -> dict | None:
    """Start this invocation's worker (unless turned off) and point the jobs at it through the environment.
    Returns what `stop` needs. The worker is ready some seconds later; jobs started before wait for it."""
    import subprocess
    import tempfile

    if os.environ.get(ENV_OFF, "") not in ("", "0"):
        return None
    remove_stale(tempfile.gettempdir())
    folder = tempfile.mkdtemp(prefix=PREFIX)  # short: a socket path holds at most 107 bytes
    path = os.path.join(folder, "socket")
    # its own session: a Ctrl-C at the terminal reaches the jobs' clients (which pass it on), not the worker
    process = subprocess.Popen(
        [sys.executable, "-m", "mlbasics", "worker", "--serve", path, "--watch", str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: _die_with_parent(signal.SIGTERM),
        start_new_session=True,
    )
    os.environ[ENV] = json.dumps({"socket": path, "pid": process.pid, "slurm_job": os.environ.get("SLURM_JOB_ID", "")})
    with open(os.path.join(folder, "pid"), "w") as pid_file:  # whose folder this is (remove_stale)
        pid_file.write(str(process.pid))
    return {"process": process, "folder": folder}


def remove_stale(parent: str, min_age_s: float = 120.0) -> list[str]:
    """Remove the socket folders of workers that are gone without cleaning up (both the worker and the process
    that started it killed with SIGKILL); a folder younger than `min_age_s` may be one being set up. Returns
    the folders removed."""
    import shutil
    import time

    removed = []
    for entry in os.scandir(parent):
        if not entry.name.startswith(PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if time.time() - entry.stat().st_mtime < min_age_s:
                continue
            with open(os.path.join(entry.path, "pid")) as pid_file:
                pid = int(pid_file.read())
        except (OSError, ValueError):
            pid = None  # no pid: an old folder, or someone else's we cannot read
        if pid is None or not _running(pid):
            shutil.rmtree(entry.path, ignore_errors=True)
            if not os.path.exists(entry.path):
                removed.append(entry.path)
    return removed


def start_in_group_job(group_job: bool) -> dict | None:
    """The worker of a SLURM job that runs a bundle of jobs (a Snakemake group job: its Snakemake runs each job
    as a step of the same allocation, on this node): one per bundle, not per job. A step's own Snakemake
    inherits this one's environment and starts none; a single batch job's stage runs alone, as before."""
    job = os.environ.get("SLURM_JOB_ID", "")
    if not group_job or not job:
        return None
    return None if _announced().get("slurm_job") == job else start()


def stop(handle: dict | None) -> None:
    """Stop the worker (its running children with it) and remove its socket."""
    import shutil
    import subprocess

    if not handle:
        return
    os.environ.pop(ENV, None)
    process = handle["process"]
    process.terminate()  # a no-op on an exited process
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    shutil.rmtree(handle["folder"], ignore_errors=True)


def run_with_worker(command: list[str]) -> int:
    """`python -m mlbasics worker -- dvc repro`: run a command (any pipeline) with a worker for its jobs."""
    import subprocess

    if not command:
        print("error: worker: name a command, e.g. `python -m mlbasics worker -- dvc repro`", file=sys.stderr)
        return 2
    words = [os.path.basename(command[0]), *command[1:]]
    if words[:1] == ["dvc"] and "queue" in words and "start" in words[words.index("queue") :]:
        print(
            "error: worker: `dvc queue start` returns while the queue's own workers go on, and this worker would "
            "stop under their jobs; run `dvc queue start` by itself (its jobs import their libraries themselves)",
            file=sys.stderr,
        )
        return 2
    handle = start()
    try:
        return subprocess.call(command)
    except FileNotFoundError:
        print(f"error: worker: command not found: {command[0]}", file=sys.stderr)
        return 127
    finally:
        stop(handle)


# --- the worker ------------------------------------------------------------------------------------------------


def serve(path: str, watch: int, main: Callable[[list[str]], int]) -> int:
    """Listen at once; import WARM, starting each waiting job as soon as its stage's modules are in; then fork a
    child per job until `watch` (the pipeline's process) ends. A child runs `main` (the CLI's) on the job's
    arguments."""
    import threading

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from mlbasics.core.runtime import quiet_native_stderr

    quiet_native_stderr()
    children: set[int] = set()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.rename(path + ".tmp", path)  # clients connect from now on; each job waits until it can start
    try:
        waiting = _import_serving(listener, children, main)
        # the imports are millions of objects that never die: out of the collector's sight, so that a child's
        # collections do not walk them all (a third of a small evaluation's time) nor copy their pages
        gc.collect()
        gc.freeze()
        for job in waiting:
            _start(job, listener, children, main)
        with open(os.path.join(os.path.dirname(path), "ready"), "w"):
            pass  # everything imported (what tests and a curious user can look for)
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        listener.settimeout(0.2)  # how soon it notices SIGTERM (the pipeline's end waits for it)
        while not stopping.is_set() and _alive(watch):
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            if (job := _read_job(conn)) is not None:
                _start(job, listener, children, main)
    finally:
        for pid in list(children):  # the pipeline is gone: so are its jobs
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for name in ("ready", "pid", os.path.basename(path)):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(os.path.dirname(path), name))
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(path))  # start's folder, now empty (when the pipeline could not remove it)
    return 0


def _import_serving(listener: socket.socket, children: set[int], main: Callable) -> list[tuple]:
    """Import WARM in order; after each module, start the jobs that have connected meanwhile and whose stage has
    its modules (READY_AFTER). Returns the jobs still waiting for the rest."""
    import importlib

    waiting: list[tuple] = []
    listener.setblocking(False)
    for index, name in enumerate(WARM):
        with contextlib.suppress(ImportError):  # optional here: a stage that needs it imports it (and fails) alone
            importlib.import_module(name)
        while True:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                break
            if (job := _read_job(conn)) is not None:
                waiting.append(job)
        imported = WARM[: index + 1]
        ready = [job for job in waiting if READY_AFTER.get(job[2]["argv"][0] if job[2]["argv"] else "") in imported]
        for job in ready:
            waiting.remove(job)
            gc.freeze()  # what is imported so far stays out of the child's collections
            _start(job, listener, children, main)
    warm_caches()
    return waiting


def warm_caches() -> None:
    """What MLflow would otherwise work out again in every job's process, the same for all of them: the map of
    installed packages (its model logging, ~0.35 s) and the newest schema revision of its SQL store (alembic
    reads every migration script to find it, ~0.04 s per store opened). Skipped where MLflow changed them."""
    import importlib

    with contextlib.suppress(Exception):
        importlib.import_module("mlflow.utils.requirements_utils")._init_modules_to_packages_map()
    with contextlib.suppress(Exception):
        utils = importlib.import_module("mlflow.store.db.utils")
        head = utils._get_latest_schema_revision()
        utils._get_latest_schema_revision = lambda: head  # the scripts on disk do not change during a pipeline


def _alive(pid: int) -> bool:
    """Whether the pipeline's process still runs (once it exits, the worker is reparented)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return os.getppid() == pid


def _read_job(conn: socket.socket) -> tuple | None:
    """One job's request: (connection, the client's stream descriptors, request); None for a malformed one."""
    conn.settimeout(None)
    try:
        header, fds, _flags, _addr = socket.recv_fds(conn, 8, 3)
        size = struct.unpack("!Q", header)[0] if len(header) == 8 else 0
        request = json.loads(_receive(conn, size) or b"null")
    except (OSError, ValueError, struct.error):
        request, fds = None, []
    if not isinstance(request, dict) or not isinstance(request.get("argv"), list) or len(fds) != 3:
        conn.close()
        for fd in fds:
            os.close(fd)
        return None
    return conn, fds, request


def _start(job: tuple, listener: socket.socket, children: set[int], main: Callable) -> None:
    """Fork the job's child and tell its client; a thread reports the child's exit status to the client."""
    import threading
    import time

    conn, fds, request = job
    sys.stdout.flush()
    sys.stderr.flush()
    began = time.time()
    pid = os.fork()
    if pid == 0:
        listener.close()
        for other in _OPEN:  # another job's client must see its own job end, not wait for this one
            other.close()
        try:
            _child(conn, fds, request, main)  # ends the process itself
        finally:
            os._exit(1)  # whatever happens in the child, it never returns into the worker's loop
    for fd in fds:
        os.close(fd)
    children.add(pid)
    _OPEN.add(conn)
    with contextlib.suppress(OSError):  # a client gone meanwhile: its child sees that and ends itself
        conn.sendall(STARTED)

    def report() -> None:
        _, status, usage = os.wait4(pid, 0)
        children.discard(pid)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        _record_stats(request, began, usage, code)
        with contextlib.suppress(OSError):
            conn.sendall(struct.pack("!i", code))
        _OPEN.discard(conn)
        conn.close()

    threading.Thread(target=report, daemon=True).start()


def _record_stats(request: dict, began: float, usage, code: int) -> None:
    """Where the worker's environment names a file (ENV_STATS), append what the job cost, as one JSON line: its
    arguments and directory, start (epoch seconds), wall and CPU seconds (the kernel's account of its child and
    that child's own children), exit status. What a benchmark needs to say where a run's CPU went: the stages run
    here, so the jobs' own processes (the clients) show none of it."""
    import time

    path = os.environ.get(ENV_STATS)
    if not path:
        return
    line = json.dumps(
        {
            "argv": request["argv"],
            "cwd": request.get("cwd"),
            "started": round(began, 3),
            "wall_s": round(time.time() - began, 3),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "exit": code,
        }
    )
    with contextlib.suppress(OSError):  # a line fewer in a benchmark's file never fails a job
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())  # one write in append mode: lines of parallel jobs do not mix
        finally:
            os.close(fd)


def _child(conn: socket.socket, fds: list[int], request: dict, main: Callable) -> None:
    """One job: become the client's process (streams, directory, environment, arguments), run, exit."""
    import atexit
    import threading
    import traceback

    _die_with_parent()
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    from mlbasics.core.runtime import quiet_native_stderr

    quiet_native_stderr()  # on the job's own stderr (run at exit below)
    threading.Thread(target=_relay_signals, args=(conn,), daemon=True).start()
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # the job's own process (the client): tracking finds its pipeline (DVC) among that one's parents, and
        # run_stats.json records that the job ran warm
        os.environ["MLBASICS_WORKER_JOB"] = str(_peer_pid(conn))
        sys.argv = [sys.argv[0], *request["argv"]]
        code = main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    try:
        atexit._run_exitfuncs()  # what a process ending normally runs (MLflow, TensorFlow clean-up)
    finally:
        with contextlib.suppress(OSError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code or 0)


def _peer_pid(conn: socket.socket) -> int:
    return struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[0]


def _relay_signals(conn: socket.socket) -> None:
    """Signals the client received arrive as bytes; the client's end closing means the job was killed."""
    while True:
        try:
            data = conn.recv(16)
        except OSError:
            data = b""
        if not data:
            os.kill(os.getpid(), signal.SIGKILL)
        for signum in data:
            os.kill(os.getpid(), signum)
