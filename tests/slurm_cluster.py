"""A real single-node SLURM on 127.0.0.1 with two fake GPUs, for the tests (recipe and traps:
../shared/docs/slurm.md). Needs root and Debian's munge, slurmctld, slurmd and slurm-client (.ci/run installs
them). Every daemon is stopped by the PID in its pid file, and the /etc/slurm links are removed again: with a
config there and no controller, every `snakemake` start would hang ~10 s in the SLURM plugin's scontrol call."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
ETC = Path("/etc/slurm")


def missing() -> str | None:
    """Why a cluster cannot start here, or None."""
    if os.geteuid() != 0:
        return "not root"
    absent = [
        name for name in ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd") if not Path(name).exists()
    ] + [c for c in ("sbatch", "squeue", "scontrol") if not shutil.which(c)]
    return (
        f"not installed: {', '.join(absent)} (apt-get install munge slurm-client slurmctld slurmd)" if absent else None
    )


CONF = """ClusterName=mlbasicsci
SlurmctldHost=localhost
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/run/slurmctld.pid
SlurmdPidFile={d}/run/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={d}/log/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmdTimeout=30
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=6000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        self.pidfiles = {
            "munged": root / "run" / "munged.pid",
            "slurmctld": root / "run" / "slurmctld.pid",
            "slurmd": root / "run" / "slurmd.pid",
        }

    def _write_config(self) -> None:
        for sub in ("state", "spool", "run", "log", "gpus", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for k in range(2):  # fake GPUs must be character devices (the same as /dev/null)
            device = self.root / "gpus" / f"fakegpu{k}"
            if not device.exists():
                subprocess.run(["mknod", str(device), "c", "1", "3"], check=True)
        (self.root / "slurm.conf").write_text(CONF.format(d=self.root, cpus=os.cpu_count() or 2))
        (self.root / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName=localhost Name=gpu File={self.root}/gpus/fakegpu[0-1]\n"
        )
        ETC.mkdir(parents=True, exist_ok=True)
        for name in ("slurm.conf", "gres.conf"):  # jobsteps drop SLURM_CONF: the config must be found here
            link = ETC / name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(self.root / name)

    def start(self, timeout: float = 60) -> None:
        self._write_config()
        munge_run = Path("/run/munge")
        munge_run.mkdir(parents=True, exist_ok=True)
        shutil.chown(munge_run, "munge", "munge")
        subprocess.run(
            ["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force", f"--pid-file={munge_run / 'munged.pid'}"],
            check=True,
        )
        self.pidfiles["munged"] = munge_run / "munged.pid"
        subprocess.run(["/usr/sbin/slurmctld"], check=True)
        subprocess.run(["/usr/sbin/slurmd", "-N", "localhost"], check=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
            node = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True)
            if "UP" in ping.stdout and node.stdout.strip() in ("idle", "mixed"):
                return
            if "drain" in node.stdout:
                subprocess.run(["scontrol", "update", "nodename=localhost", "state=resume"], capture_output=True)
            time.sleep(1)
        raise RuntimeError(f"SLURM did not come up: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text()[-2000:] for p in (self.root / "log").glob("*.log"))

    def stop(self) -> None:
        for name in reversed(DAEMONS):
            pidfile = self.pidfiles[name]
            try:
                pid = int(pidfile.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for name in ("slurm.conf", "gres.conf"):
            link = ETC / name
            if link.is_symlink():
                link.unlink()

    def job(self, job_id: str) -> str:
        return subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
