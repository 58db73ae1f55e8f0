"""Load that measures the app, not browsers: simulated users speak Streamlit's own WebSocket
protocol (``/_stcore/stream``: a ``BackMsg`` rerun with the page's name and query string, then
``ForwardMsg``s read until ``script_finished``), so no Chromium shares the cores with the app.

Each user first fetches ``/`` over HTTP (through a proxy this sets its sticky cookie, sent again
with the socket: one user, one replica), opens one socket (one Streamlit session, as one tab)
and walks every page in both languages — overview, concentration, key accounts, segments,
churn, receivables, account, reviews, alerts, data; zh then en — waiting a think time drawn
between ``--think`` bounds (seeded) between pages. A page's time runs from the rerun sent to
``script_finished``. Errors: an exception element, an error alert, a run that did not finish
successfully, a socket that closed. With ``--think 0 0`` the users are a closed loop (the next
page as soon as one is done): pages per second is the throughput.

Usage:
  python bench/load.py --url http://127.0.0.1:8501 [--users 1 8 32 64] [--think 2 8]
  python bench/load.py --start one|team [--replicas 2] [--db PATH] [--users …] [--think …]
``--start`` starts the app on ``--db`` (a copy of the demo when absent) — one process
(``python -m ui.serve``) or ``python -m ui.team`` — and stops it afterwards; the peak resident
memory of each app process is read from /proc. Prints one JSON line per user count and a
Markdown table at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PAGES = ["", "concentration", "key_accounts", "segments", "churn", "receivables", "account", "reviews",
         "alerts", "data"]
LANGS = ["zh", "en"]
PAGE_TIMEOUT_S = 300.0


def _cookie(url: str) -> str:
    """The proxy's sticky cookie (``name=value``; empty without a proxy) from a GET of ``/``."""
    with urllib.request.urlopen(url + "/", timeout=30) as answer:
        found = [h.split(";")[0] for k, h in answer.headers.items() if k.lower() == "set-cookie"]
    return "; ".join(found)


def _errors(message) -> int:
    """Exception elements and error alerts in one ForwardMsg."""
    if message.WhichOneof("type") != "delta" or message.delta.WhichOneof("type") != "new_element":
        return 0
    element = message.delta.new_element
    kind = element.WhichOneof("type")
    if kind == "exception":
        return 1
    if kind == "alert" and element.alert.format == element.alert.ERROR:
        return 1
    return 0


async def user(number: int, url: str, think: tuple[float, float], seed: int, times: list, errors: list,
               stop_at: float | None = None) -> None:
    """One simulated user's walk (see the module's docstring); appends (page, seconds) to
    ``times`` and a reason to ``errors`` for each error."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    rng = random.Random(seed * 1000 + number)
    cookie = await asyncio.to_thread(_cookie, url)
    stream = url.replace("http://", "ws://").replace("https://", "wss://") + "/_stcore/stream"
    headers = {"Cookie": cookie} if cookie else {}
    try:
        async with websockets.connect(stream, subprotocols=["streamlit"], additional_headers=headers,
                                      max_size=None, open_timeout=60, ping_interval=20, ping_timeout=120) as socket:
            while True:
                for lang in LANGS:
                    for page in PAGES:
                        if stop_at is not None and time.monotonic() > stop_at:
                            return
                        message = BackMsg()
                        message.rerun_script.query_string = f"lang={lang}"
                        message.rerun_script.page_name = page
                        started = time.monotonic()
                        await socket.send(message.SerializeToString())
                        found, finished = 0, None
                        while finished is None:
                            raw = await asyncio.wait_for(socket.recv(), PAGE_TIMEOUT_S)
                            forward = ForwardMsg()
                            forward.ParseFromString(raw)
                            found += _errors(forward)
                            if forward.WhichOneof("type") == "page_not_found":
                                errors.append(f"{page}: page not found")
                            if forward.WhichOneof("type") == "script_finished":
                                finished = forward.script_finished
                        times.append((page, time.monotonic() - started))
                        if found:
                            errors.append(f"{page or 'overview'}/{lang}: {found} error element(s)")
                        if finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                            errors.append(f"{page or 'overview'}/{lang}: run ended {finished}")
                        pause = rng.uniform(*think)
                        if pause:
                            await asyncio.sleep(pause)
                if stop_at is None:
                    return
    except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as error:
        errors.append(f"user {number}: socket {type(error).__name__}: {error}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))] if ordered else float("nan")


def app_pids(root_pid: int) -> list[int]:
    """The app processes (``ui.serve``) under ``root_pid`` (itself included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"ui.serve" in cmd and (int(entry.name) == root_pid or int(stat[1]) == root_pid):
            found.append(int(entry.name))
    return sorted(found)


def peak_rss_mb(pids: list[int]) -> list[float]:
    out = []
    for pid in pids:
        try:
            line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM"))
            out.append(round(int(line.split()[1]) / 1024, 1))
        except (OSError, StopIteration):
            pass
    return out


def run_level(url: str, users: int, think: tuple[float, float], seed: int, duration: float | None) -> dict:
    times, errors = [], []

    async def everyone():
        stop_at = time.monotonic() + duration if duration else None
        await asyncio.gather(*(user(n, url, think, seed, times, errors, stop_at) for n in range(users)))

    started = time.monotonic()
    asyncio.run(everyone())
    took = time.monotonic() - started
    seconds = [s for _, s in times]
    return {"users": users, "think_s": list(think), "pages": len(seconds), "wall_s": round(took, 1),
            "pages_per_s": round(len(seconds) / took, 2) if took else None,
            "p50_s": round(statistics.median(seconds), 2) if seconds else None,
            "p95_s": round(_percentile(seconds, 0.95), 2) if seconds else None,
            "max_s": round(max(seconds), 2) if seconds else None,
            "errors": len(errors), "error_examples": errors[:3]}


def start(kind: str, db: Path, replicas: int, log: Path) -> tuple[str, subprocess.Popen]:
    from conftest import free_port, healthy

    env = {**os.environ, "KAM_DB": str(db), "KAM_LANG": "en"}
    if not db.exists():  # a new store seeded with the demo, as make run does
        subprocess.run([sys.executable, "-m", "kam_analytics", "datasets"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
    port = free_port()
    if kind == "team":
        command = [sys.executable, "-m", "ui.team", "--replicas", str(replicas), "--port", str(port)]
    else:
        command = [sys.executable, "-m", "ui.serve", "--server.port", str(port), "--server.address", "127.0.0.1",
                   "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if kind == "team" and "HAProxy" not in log.read_text(encoding="utf-8"):
            time.sleep(0.5)
            continue
        if healthy(url, 2):
            return url, process
    process.kill()
    raise SystemExit(f"the app did not start; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--start", choices=["one", "team"])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--think", type=float, nargs=2, default=[2.0, 8.0])
    parser.add_argument("--duration", type=float, help="seconds per level (users walk again until then); "
                                                       "default: one walk each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm", action="store_true", help="one user walks once first (every process's caches)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kam-load-"))
    process = None
    url = args.url
    if args.start:
        url, process = start(args.start, args.db or folder / "kam.db", args.replicas, folder / "app.log")
    rows = []
    try:
        if args.warm:
            for _ in range(args.replicas if args.start == "team" else 1):
                run_level(url, 1, (0.0, 0.0), 99, None)
        for users in args.users:
            row = run_level(url, users, tuple(args.think), args.seed, args.duration)
            if process is not None:
                pids = app_pids(process.pid)
                row["processes"] = len(pids)
                row["peak_rss_mb"] = peak_rss_mb(pids)
            row["target"] = args.start or url
            print(json.dumps(row), flush=True)
            rows.append(row)
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
    print("\n| target | users | think (s) | pages | pages/s | p50 (s) | p95 (s) | max (s) | errors | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['target']} | {r['users']} | {r['think_s'][0]:g}–{r['think_s'][1]:g} | {r['pages']} | "
              f"{r['pages_per_s']} | {r['p50_s']} | {r['p95_s']} | {r['max_s']} | {r['errors']} | "
              f"{', '.join(map(str, r.get('peak_rss_mb', [])))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
