"""`make demo`: every service up on the offline defaults, the sample org ingested, a simulated phone call.

It runs what a user would: `voiceagent up` in the background, `voiceagent
ingest`, then `voiceagent call`, which drives the gateway exactly as Twilio
does (signed webhooks, the caller's audio served as a recording, the TwiML
followed), prints the conversation with per-stage latency and writes the
answer audio to out/. The caller asks something the documents do not cover
and leaves a message for a callback; the demo ends by showing the call as
the call store recorded it, and the callback request; then it prints the operator console's address and a
demo user's sign-in (and, at a terminal, keeps the services up until Enter is pressed).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VOICEAGENT = str(Path(sys.executable).parent / "voiceagent")
GATEWAY = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8000")
CONSOLE = f"http://127.0.0.1:{os.environ.get('CONSOLE_HTTP_PORT', '8080')}"
DEMO_USER = "demo@example.com"
CALLER_TURNS = [
    "What time do you open on Saturday?", "And on Sundays?", "Do you rent out kayaks?", "Yes, please.",
    "My name is John Smith.", "I'd like to rent two kayaks next weekend.", "Yes, that's right.", "No, that's all. Goodbye!",
]


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def wait_ready(up: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if up.poll() is not None:
            raise SystemExit(f"voiceagent up exited with {up.returncode}; see out/*.log")
        try:
            with urllib.request.urlopen(f"{GATEWAY}/readyz", timeout=2) as reply:
                if json.load(reply)["ready"]:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the services did not become ready in time; see out/*.log")


def run(*args: str) -> None:
    print(f"$ voiceagent {shlex.join(args)}", flush=True)
    subprocess.run([VOICEAGENT, *args], cwd=REPO_ROOT, check=True)


def latest_call(org: str, timeout: float = 10) -> str:
    """The org's newest call once its end is recorded (the gateway writes records off the call path)."""
    deadline = time.monotonic() + timeout
    while True:
        listed = subprocess.run([VOICEAGENT, "calls", "list", "--org", org, "--json"], cwd=REPO_ROOT, check=True, capture_output=True, text=True)
        calls = json.loads(listed.stdout)["calls"]
        if calls and (calls[0]["ended_at"] or time.monotonic() > deadline):
            return calls[0]["call_sid"]
        if time.monotonic() > deadline:
            raise SystemExit("the call store has no call for the demo")
        time.sleep(0.5)


def demo_user() -> str:
    """An admin of the sample org with a new random password (made on the first run, reset on later ones)."""
    password = secrets.token_urlsafe(12)
    listed = subprocess.run([VOICEAGENT, "users", "list", "--json"], cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    exists = any(user["email"] == DEMO_USER for user in json.loads(listed.stdout)["users"])
    command = ["users", "password", "--email", DEMO_USER] if exists else ["users", "add", "--email", DEMO_USER, "--role", "admin", "--org", "acme"]
    subprocess.run([VOICEAGENT, *command, "--actor", "demo"], cwd=REPO_ROOT, check=True, input=password + "\n", text=True, stdout=subprocess.DEVNULL)
    return password


def main() -> int:
    banner("voiceagent up (retrieval, stt, llm, tts, the gateway and the console, offline defaults)")
    up = subprocess.Popen([VOICEAGENT, "up"], cwd=REPO_ROOT)
    try:
        started = time.perf_counter()
        wait_ready(up)
        print(f"ready after {time.perf_counter() - started:.1f}s", flush=True)
        banner("ingest the sample organisation")
        run("ingest", "--org", "acme", "--rebuild", "data/acme/knowledge")
        banner("a simulated phone call to Acme Bicycle Works (+14155550100)")
        run("call", "--org", "acme", *[arg for turn in CALLER_TURNS for arg in ("--say", turn)])
        banner("the call as the call store recorded it")
        run("calls", "show", latest_call("acme"))
        banner("the message the caller left")
        run("callbacks", "list", "--org", "acme", "--status", "new")
        banner("the operator console")
        password = demo_user()
        print(f"open {CONSOLE} and sign in as {DEMO_USER} with the password {password}", flush=True)
        if sys.stdin.isatty():
            input("press Enter to stop the services ")
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(60)
    banner("done: answer audio is in out/call-turn-*.wav")
    return 0


if __name__ == "__main__":
    sys.exit(main())
