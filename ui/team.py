"""Several app processes on one store behind a reverse proxy: ``make team REPLICAS=N PORT=P``
(``python -m ui.team --replicas N --port P [--address A]``).

Each replica is the app as ``make run`` starts it (``python -m ui.serve``) on a port of its own
on 127.0.0.1; HAProxy (Debian's package) listens on ``--address``:``--port`` in front of them:
WebSockets passed through, each browser kept on one replica by a cookie (``KAM_REPLICA``; not
by its address — a whole office can share one NAT address), every replica's health endpoint
checked every two seconds, and a browser whose replica is down sent to another one (its tab
reconnects and reruns the page there). The replicas share one cookie secret (made for the run
unless one is configured), so a sign-in or an upload token made by one is good on another. A
replica that exits is started again on its port. Ctrl-C or SIGTERM — to this process or to the
``make`` that started it — stops the proxy and every replica; none is left behind.

What it prints goes through the catalogs (``KAM_LANG``); the cookie secret never appears in
output, in the proxy's configuration file or in a command line (the replicas read it from
their environment).
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from kam_analytics import config
from kam_analytics.i18n import normalise_lang, t

ROOT = Path(__file__).resolve().parent.parent
HAPROXY = "haproxy"
COOKIE = "KAM_REPLICA"
HEALTH_PATH = "/_stcore/health"
START_TIMEOUT_S = 120.0  # a replica's first answer on its health endpoint (imports, the store's migration)
LOOK_EVERY_S = 1.0       # how often the replicas and the proxy are looked at


def proxy_config(address: str, port: int, replicas: list[int]) -> str:
    """HAProxy's configuration: HTTP mode (WebSocket upgrades pass through; an open socket may
    stay idle for an hour), sticky by an inserted cookie, health checks on Streamlit's own
    endpoint, and redispatch to another replica when the cookie's one is down."""
    servers = "\n".join(f"    server r{i} 127.0.0.1:{p} cookie r{i}" for i, p in enumerate(replicas, start=1))
    bind = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return f"""global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 30s
    option redispatch
    retries 2

frontend kam
    bind {bind}
    default_backend replicas

backend replicas
    balance roundrobin
    cookie {COOKIE} insert indirect nocache httponly
    option httpchk
    http-check send meth GET uri {HEALTH_PATH}
    http-check expect status 200
    default-server check inter 2s fall 2 rise 1
{servers}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + HEALTH_PATH, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _die_with_parent() -> None:
    """In a child, before it runs: SIGTERM when the process that started it goes, however it
    goes (Linux ``PR_SET_PDEATHSIG``), so a killed supervisor leaves no replica or proxy."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # pragma: no cover - not Linux: the signal handlers below still stop them
        pass


class Team:
    """The replicas and the proxy of one ``make team`` run."""

    def __init__(self, replicas: int, port: int, address: str, lang: str, options: list[str]):
        self.count, self.port, self.address, self.lang, self.options = replicas, port, address, lang, options
        self.ports = [free_port() for _ in range(replicas)]
        self.processes: dict[int, subprocess.Popen] = {}
        self.proxy: subprocess.Popen | None = None
        self.folder = Path(tempfile.mkdtemp(prefix="kam-team-"))
        self.stopping = False
        env = dict(os.environ)
        # one cookie secret for every replica (a sign-in cookie or an upload's token made by one
        # is good on the others); from the environment only, never a command line
        env.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", secrets.token_hex(32))
        self.env = env

    def say(self, key: str, **params) -> None:
        print(t(key, self.lang, **params), flush=True)

    def start_replica(self, number: int) -> subprocess.Popen:
        port = self.ports[number - 1]
        log = open(self.folder / f"replica{number}.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "ui.serve", "--server.port", str(port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--browser.gatherUsageStats", "false", *self.options],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self.processes[number] = process
        return process

    def start(self) -> int:
        haproxy = shutil.which(HAPROXY) or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)
        if haproxy is None:
            self.say("team_no_proxy")
            return 2
        for number in range(1, self.count + 1):
            self.start_replica(number)
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = set(self.processes)
        while waiting and time.monotonic() < deadline and not self.stopping:
            for number in sorted(waiting):
                if self.processes[number].poll() is not None:
                    self.say("team_replica_failed", number=number, log=self.folder / f"replica{number}.log")
                    return 1
                if healthy(f"http://127.0.0.1:{self.ports[number - 1]}"):
                    waiting.discard(number)
                    self.say("team_replica_up", number=number, pid=self.processes[number].pid,
                             port=self.ports[number - 1])
            time.sleep(0.2)
        if waiting:
            self.say("team_replica_slow", numbers=", ".join(map(str, sorted(waiting))), seconds=int(START_TIMEOUT_S))
            return 1
        cfg = self.folder / "haproxy.cfg"
        cfg.write_text(proxy_config(self.address, self.port, self.ports), encoding="utf-8")
        check = subprocess.run([haproxy, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode:
            self.say("team_proxy_refused", reason=(check.stderr or check.stdout).strip()[-400:])
            return 1
        self.proxy = subprocess.Popen([haproxy, "-db", "-f", str(cfg)], stdout=open(self.folder / "proxy.log", "ab"),
                                      stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        shown = "localhost" if self.address in ("127.0.0.1", "localhost") else self.address
        for _ in range(50):
            if self.proxy.poll() is not None or healthy(f"http://127.0.0.1:{self.port}"):
                break
            time.sleep(0.1)
        if self.proxy.poll() is not None:
            self.say("team_proxy_failed", port=self.port, log=self.folder / "proxy.log")
            return 1
        self.say("team_serving", count=self.count, url=f"http://{shown}:{self.port}", pid=self.proxy.pid)
        return 0

    def watch(self) -> int:
        """Start again a replica that exited; stop everything when the proxy exits."""
        while not self.stopping:
            if self.proxy is not None and self.proxy.poll() is not None:
                self.say("team_proxy_exited", code=self.proxy.returncode, log=self.folder / "proxy.log")
                return 1
            for number, process in list(self.processes.items()):
                if process.poll() is not None and not self.stopping:
                    self.say("team_replica_restart", number=number, code=process.returncode)
                    new = self.start_replica(number)
                    self.say("team_replica_started", number=number, pid=new.pid, port=self.ports[number - 1])
            time.sleep(LOOK_EVERY_S)
        return 0

    def stop(self) -> None:
        """Terminate the proxy and every replica; kill those still there after 20 s."""
        self.stopping = True
        children = [p for p in [self.proxy, *self.processes.values()] if p is not None]
        for process in children:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 20
        for process in children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.say("team_stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui.team")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--address", default="localhost")
    parser.add_argument("options", nargs="*", help="more Streamlit options for every replica")
    args = parser.parse_args(argv)
    lang = normalise_lang(config.setting("KAM_LANG") or "en")
    if args.replicas < 1:
        print(t("team_replicas_bad", lang, count=args.replicas), file=sys.stderr)
        return 2
    _die_with_parent()  # make (or the shell) gone: stop as on Ctrl-C
    team = Team(args.replicas, args.port, "127.0.0.1" if args.address == "localhost" else args.address, lang,
                args.options)

    def on_signal(number, frame):
        team.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        code = team.start()
        if code == 0:
            code = team.watch()
    finally:
        team.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
