"""The warm worker: pay the imports (TensorFlow, Keras, MLflow, scikit-learn, matplotlib: ~11 s on 2 cores) once per
pipeline invocation, not once per job. The invocation (Snakemake's onstart, or `python -m mlbasics worker -- dvc
repro`) starts a worker process that imports everything, then listens on the Unix socket named in MLBASICS_WORKER.
Each job is still its own `python -m mlbasics <stage>` process (its log, exit status and resume unchanged), but only
a client: it hands its arguments, directory, environment and standard streams to the worker, which forks a child to
run the stage. TensorFlow has started no thread pools yet, so the child is a fresh process minus the imports (a test
compares the bytes). A job started while the worker still imports waits for it; where no worker answers (none,
dead, a SLURM batch job), the client runs the stage itself; MLBASICS_NO_WORKER=1 turns it off. Nothing is left
behind: the worker dies with the process that started it (parent-death signal, polling), children die with the
worker, and a child whose client went away (a killed job) kills itself; signals sent to a client reach its child.
The top level imports the standard library only: every job's process loads it first. Over 300 lines: the client,
starting and stopping, and the worker speak one small protocol (a header, the streams' descriptors, a JSON
request; signal bytes back; a status), kept together.
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
PREFIX = "mlbasics-worker-"  # the socket folders in the temporary directory
WAIT_S = 90.0  # the longest a job waits for a starting worker (its imports take ~11 s on 2 idle cores)
# what a stage may import: loaded once, before any job is accepted
WARM = ("tensorflow", "keras", "mlflow", "mlflow.tensorflow", "mlflow.models", "mlflow.pyfunc",
        "mlflow.store.tracking.sqlalchemy_store", "alembic", "git", "PIL.Image", "sklearn.metrics",
        "matplotlib.pyplot", "scipy.stats", "uproot", "pandas", "mlflow.sklearn", "sklearn.ensemble",
        "sklearn.discriminant_analysis", "sklearn.naive_bayes", "sklearn.neighbors", "sklearn.inspection",
        "skops.io", "threadpoolctl", "mlbasics.reference_methods", "mlbasics.verdicts",
        "mlbasics.cli", "mlbasics.train", "mlbasics.evaluate", "mlbasics.report", "mlbasics.preprocess",
        "mlbasics.datasets", "mlbasics.download", "mlbasics.check", "mlbasics.tracking", "mlbasics.methods",
        "mlbasics.numpy_mlp", "mlbasics.physics_plots", "mlbasics.variables")
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
    if not where or os.environ.get(ENV_OFF, "") not in ("", "0") or \
            os.environ.get("SLURM_JOB_ID", "") != where.get("slurm_job", ""):
        return None
    return _ready_socket(where.get("socket", ""), where.get("pid"))


def _ready_socket(path: str, pid: int | None) -> str | None:
    """The socket once the worker is ready. While it is still importing, a job waits for it (up to WAIT_S):
    importing beside it would only slow both on a small machine. A worker that died never gets waited for."""
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
    for signum in FORWARDED:  # the scheduler's signals reach the stage
        signal.signal(signum, lambda s, _f: _send_signal(conn, s))
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


def _send_signal(conn: socket.socket, signum: int) -> None:
    with contextlib.suppress(OSError):  # the job has just ended: nothing to pass it to
        conn.send(bytes([signum]))


def _receive(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))  # a signal handler's interruption is retried (PEP 475)
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
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: _die_with_parent(signal.SIGTERM), start_new_session=True)
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
    """Import everything once, then fork a child per job until `watch` (the pipeline's process) ends; a child
    runs `main` (the CLI's) on the job's arguments."""
    import importlib
    import threading

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from .runtime import quiet_native_stderr

    quiet_native_stderr()
    for name in WARM:  # optional here: a stage that needs one imports it (and fails) as it would alone
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with contextlib.suppress(Exception):  # MLflow's map of installed packages (2 s), built per process otherwise
        importlib.import_module("mlflow.utils.requirements_utils")._init_modules_to_packages_map()
    # the imports are millions of objects that never die: out of the collector's sight, so that a child's
    # collections do not walk them all (a third of a small evaluation's time) nor copy their pages
    gc.collect()
    gc.freeze()
    children: set[int] = set()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.rename(path + ".tmp", path)  # clients see the socket only once the worker is ready
    listener.settimeout(1.0)
    try:
        while not stopping.is_set() and _alive(watch):
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            _accept(conn, listener, children, main)
    finally:
        for pid in list(children):  # the pipeline is gone: so are its jobs
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for name in (path, os.path.join(os.path.dirname(path), "pid")):
            with contextlib.suppress(OSError):
                os.unlink(name)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(path))  # start's folder, now empty (when the pipeline could not remove it)
    return 0


def _alive(pid: int) -> bool:
    """Whether the pipeline's process still runs (once it exits, the worker is reparented)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return os.getppid() == pid


def _accept(conn: socket.socket, listener: socket.socket, children: set[int], main: Callable) -> None:
    """Read one job's request and fork its child; a thread reports the child's exit status to the client."""
    import threading

    conn.settimeout(None)
    try:
        header, fds, _flags, _addr = socket.recv_fds(conn, 8, 3)
        size = struct.unpack("!Q", header)[0] if len(header) == 8 else 0
        request = json.loads(_receive(conn, size) or b"null")
    except (OSError, ValueError, struct.error):
        request, fds = None, []
    if not request or len(fds) != 3:
        conn.close()
        for fd in fds:
            os.close(fd)
        return
    sys.stdout.flush()
    sys.stderr.flush()
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

    def report() -> None:
        _, status = os.waitpid(pid, 0)
        children.discard(pid)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        with contextlib.suppress(OSError):
            conn.sendall(struct.pack("!i", code))
        _OPEN.discard(conn)
        conn.close()

    threading.Thread(target=report, daemon=True).start()


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
    from .runtime import quiet_native_stderr

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
