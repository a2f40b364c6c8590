"""A PostgreSQL cluster of the test's own (initdb + pg_ctl on a free port), so a scenario can
restart it without touching the machine's shared server. Run as root, the cluster belongs to
the ``postgres`` system user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.ports import free_port, wait_listening


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("no /usr/lib/postgresql/*/bin/pg_ctl: install postgresql")
    return Path(found[-1]).parent


@dataclass
class PrivatePostgres:
    """initdb'd into workdir; ``url`` is a SQLAlchemy URL of database ``caredge``."""

    workdir: Path
    port: int

    @classmethod
    def create(cls) -> PrivatePostgres:
        workdir = Path(tempfile.mkdtemp(prefix="caredge-pg-"))
        server = cls(workdir, free_port())
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(workdir, account.pw_uid, account.pw_gid)
        server._run("initdb", "-D", str(server.data), "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8")  # fmt: skip
        server.start()
        server._run("createdb", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
                    "caredge")  # fmt: skip
        return server

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/caredge"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(_bin_dir() / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.workdir / "pg.log"),
                  "-o", options, "-w", "start")  # fmt: skip
        wait_listening(self.port)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``immediate`` is a crash (no shutdown checkpoint)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)
