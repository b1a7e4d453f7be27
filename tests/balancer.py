"""nginx in front of several web servers, as an operator puts them behind one address:
the site file the repository ships (deploy/nginx/scandepot.conf) with the test's ports,
run by Debian's nginx in the foreground with a prefix folder of its own. Each request
goes to the next server in turn; the access log says which server answered each."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

SITE = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "scandepot.conf"
NGINX = "/usr/sbin/nginx"
START_WITHIN_S = 30
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")  # nginx's spool folders


def site(port: int, servers: list[tuple[str, int]]) -> str:
    """The shipped site file, listening on loopback ``port`` and sending to ``servers``."""
    text = SITE.read_text()
    listed = "".join(f"    server {host}:{p};\n" for host, p in servers)
    text, upstreams = re.subn(r"(?m)^    server 127\.0\.0\.1:\d+;\n", "", text)
    assert upstreams, f"{SITE} lists no upstream server"
    text = text.replace("    keepalive ", listed + "    keepalive ", 1)
    text, listens = re.subn(r"(?m)^    listen 80;$", f"    listen 127.0.0.1:{port};", text)
    assert listens == 1, f"{SITE} has no 'listen 80;'"
    return text


class Balancer:
    """``with Balancer(folder, [(host, port), ...]) as lb: lb.url``."""

    def __init__(self, folder: Path, servers: list[tuple[str, int]]) -> None:
        if not Path(NGINX).exists():
            raise AssertionError(f"{NGINX} is needed; scripts/ensure-services.sh installs it")
        self.folder, self.servers = folder, servers
        folder.mkdir(parents=True, exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        (folder / "site.conf").write_text(site(self.port, servers))
        temp = " ".join(f"{kind}_temp_path {folder / kind};" for kind in TEMP_KINDS)
        user = "user root;\n" if os.geteuid() == 0 else ""  # its folders are root's alone
        (folder / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
            f"error_log {folder / 'error.log'} warn;\nevents {{ worker_connections 1024; }}\n"
            "http {\n"
            "  log_format upstream '$request $status $upstream_addr';\n"
            f"  access_log {folder / 'access.log'} upstream;\n  {temp}\n"
            f"  include {folder / 'site.conf'};\n}}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answered_by(self) -> list[str]:
        """The server (host:port) that answered each request so far, in order."""
        log = self.folder / "access.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [line.rsplit(" ", 1)[1] for line in lines]

    def __enter__(self) -> Balancer:
        out = open(self.folder / "nginx.out", "ab")  # noqa: SIM115 - the process keeps it
        args = [NGINX, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf")]
        args += ["-e", str(self.folder / "error.log")]
        self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + START_WITHIN_S
        while not _listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise AssertionError(f"nginx did not start:\n{self.logs()}")
            time.sleep(0.05)
        return self

    def logs(self) -> str:
        return "\n".join(
            (self.folder / name).read_text(errors="replace")
            for name in ("nginx.out", "error.log")
            if (self.folder / name).exists()
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # nginx's graceful stop
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for spool in TEMP_KINDS:
            shutil.rmtree(self.folder / spool, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
