"""Run the example project for a demo: `make demo` (or `.venv/bin/python example_project/demo.py`).

What it does, in order:

1. migrates the SQLite database, creates (or resets) the superuser `admin` with a fresh random
   password, and creates three sample customers if they are missing;
2. starts the eSMS simulator inside this process (it scripts one outcome per sample phone);
3. starts the development server, a Celery worker (thread pool) and Celery beat as child
   processes. The broker is embedded: kombu's filesystem transport, a folder of message
   files, so nothing else has to be installed or running;
4. places three sample calls through the app's services. Their results come back as real
   callbacks from the simulator to the development server;
5. prints the admin pages to open, then the calls' progress; Ctrl-C stops everything it
   started (process groups: nothing is left behind).

`--check` runs the same steps, waits until the three calls are final (answered, no answer,
failed), checks that their results came by callback and that the admin pages it prints answer,
prints a summary, stops everything and exits 0; or exits 1, saying what went wrong, when
something fails or the deadline passes. The test suite runs it on free ports and a
temporary data folder (`--port`, `--simulator-port`, `--data-dir`).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.cookiejar
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

HERE = Path(__file__).resolve().parent
MANAGE = str(HERE / "manage.py")
PYTHON = sys.executable
HOST = "127.0.0.1"
ADMIN_USERNAME = "admin"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 40
WORKER_CONCURRENCY = 4  # SQLite takes one writer at a time: a few threads are plenty here

# Recording 1001 asks the listener to press 1 to talk to the shop; script 2002 reads a payment
# reminder with the customer's name and amount. The simulator accepts any id; on eSMS they are
# the ids of a recording and a script registered on account.esms.vn.
RECORDING_ID = "1001"
SCRIPT_ID = "2002"
SHOP_PHONE = "02871002454"  # where key 1 forwards the listener


@dataclass(frozen=True)
class Sample:
    """A sample customer, and how the simulator ends the calls to their phone."""

    name: str
    phone: str
    amount: int
    outcome: str  # the call status the demo expects: answered, no_answer or failed
    story: str


SAMPLES = (
    Sample("Nguyễn Văn An", "0901000001", 450_000, "answered", "answers and presses 1"),
    Sample("Trần Thị Bình", "0901000002", 1_250_000, "no_answer", "does not pick up"),
    Sample("Lê Văn Cường", "0901000003", 780_000, "failed", "cannot be reached (call failed)"),
)

_say_lock = threading.Lock()


def say(message: str = "") -> None:
    """Print a line for the person running the demo; a closed terminal or pipe is no error."""
    with _say_lock:
        try:
            sys.stdout.write(f"{message}\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass


class DemoError(Exception):
    """Something the person running the demo has to know; the message says what."""


def port_answers(port: int, timeout: float = 0.5) -> bool:
    """Say whether something accepts connections on HOST:port."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class Process:
    """A program the demo runs in a process group of its own, its output prefixed and kept."""

    name: str
    argv: list[str]
    port: int | None = None  # ready once this port answers...
    ready_text: str | None = None  # ...or once a line of its output contains this
    popen: subprocess.Popen[bytes] | None = None
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=200))
    _ready: threading.Event = field(default_factory=threading.Event)
    _pump: threading.Thread | None = None

    def start(self, env: dict[str, str]) -> None:
        """Start the program; its output is printed line by line with the name in front."""
        shown = ["python", *("manage.py" if a == MANAGE else a for a in self.argv[1:])]
        say(f"demo: starting the {self.name}: {' '.join(shown)}")
        # A session of its own: the terminal's Ctrl-C reaches only this script, which then
        # stops each process group (with every thread and child in it) in order.
        self.popen = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
            self.argv,
            cwd=HERE,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._pump = threading.Thread(
            target=self._forward, args=(self.popen.stdout,), name=f"demo-{self.name}", daemon=True
        )
        self._pump.start()

    def _forward(self, stream: IO[bytes] | None) -> None:
        """Print and remember every line of the program's output."""
        if stream is None:
            return
        label = self.name.split()[-1][:6]
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            self.tail.append(line)
            if self.ready_text is not None and self.ready_text in line:
                self._ready.set()
            say(f"{label:>6} | {line}")
        stream.close()

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def exited(self) -> int | None:
        """Return the exit status, or None while it runs."""
        return None if self.popen is None else self.popen.poll()

    def output_tail(self) -> str:
        """Return the last lines of its output, for error messages."""
        lines = list(self.tail)[-LOG_TAIL_LINES:]
        return "\n".join(f"    {line}" for line in lines) or "    (no output)"

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until it is ready; fail if it exits or the time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.exited()
            if code is not None:
                raise DemoError(
                    f"{self.name} exited with status {code} while starting:\n{self.output_tail()}"
                )
            if self.port is not None and port_answers(self.port):
                return
            if self.port is None and (self.ready_text is None or self._ready.is_set()):
                return
            time.sleep(0.1)
        raise DemoError(f"{self.name} was not ready in {timeout:.0f} s:\n{self.output_tail()}")

    def signal_group(self, sig: signal.Signals) -> bool:
        """Send a signal to the process group; False when nothing of it is left."""
        if self.popen is None:
            return False
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        """Terminate the process group (a warm shutdown for Celery), then kill what lingers."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            say(f"demo: stopping {self.name}")
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if not self.signal_group(sig):
                    break
                try:
                    self.popen.wait(timeout=STOP_TIMEOUT)
                    break
                except subprocess.TimeoutExpired:
                    say(f"demo: {self.name} did not stop in {STOP_TIMEOUT:.0f} s; killing it")
        # Whatever the leader left behind in its group goes too.
        self.signal_group(signal.SIGKILL)
        if self._pump is not None:
            self._pump.join(timeout=2)


@dataclass(frozen=True)
class Options:
    """The demo's command-line options."""

    check: bool
    port: int
    simulator_port: int
    data_dir: Path
    callback_delay: float
    timeout: float

    @property
    def database(self) -> Path:
        return self.data_dir / "db.sqlite3"

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / ".broker"

    @property
    def site(self) -> str:
        return f"http://{HOST}:{self.port}"


def parse_args(argv: list[str] | None = None) -> Options:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="demo.py",
        description="Run the example project with the eSMS simulator, a Celery worker and beat "
        "on an embedded broker, and the development server; place three sample calls.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="wait until the three sample calls are final, print a summary, stop and exit "
        "(0 when each call ended as expected, 1 otherwise)",
    )
    parser.add_argument("--port", type=int, default=8000, help="development server port")
    parser.add_argument("--simulator-port", type=int, default=8765, help="eSMS simulator port")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=HERE,
        help="folder for the SQLite database (db.sqlite3) and the broker (.broker/) "
        "(default: example_project/)",
    )
    parser.add_argument(
        "--callback-delay",
        type=float,
        default=4.0,
        help="seconds from a call's acceptance to its result callback (default %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="with --check: seconds to wait for the calls before giving up (default %(default)s)",
    )
    args = parser.parse_args(argv)
    return Options(
        check=args.check,
        port=args.port,
        simulator_port=args.simulator_port,
        data_dir=args.data_dir.resolve(),
        callback_delay=args.callback_delay,
        timeout=args.timeout,
    )


def demo_env(options: Options) -> dict[str, str]:
    """Set up this process's environment, which every process of the demo inherits."""
    # The demo is SQLite + the embedded broker + the simulator, whatever the shell says.
    for name in (
        "DJANGO_DB", "DJANGO_DB_POOL_SIZE", "CELERY_BROKER_URL", "REDIS_CACHE_URL",
        "ESMS_VOICE_RATE_LIMIT",
    ):  # fmt: skip
        os.environ.pop(name, None)
    simulator = f"http://{HOST}:{options.simulator_port}/MainService.svc/json/"
    os.environ.update(
        {
            "DJANGO_DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SQLITE_PATH": str(options.database),
            "EXAMPLE_BROKER_DIR": str(options.broker_dir),
            "ESMS_VOICE_BASE_URL": simulator,
            "ESMS_VOICE_BALANCE_URL": simulator,
            "ESMS_VOICE_CALLBACK_BASE_URL": options.site,
            "PYTHONUNBUFFERED": "1",
            # Absolute entries: the children run in example_project/, not in this directory.
            "PYTHONPATH": os.pathsep.join(
                [
                    str(HERE),
                    *(
                        str(Path(entry).resolve())
                        for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                        if entry
                    ),
                ]
            ),
        }
    )
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return dict(os.environ)


def processes(options: Options) -> list[Process]:
    """The child processes, in start order."""
    celery = [PYTHON, "-m", "celery", "-A", "config"]
    worker = [
        *celery, "worker", "--pool", "threads", "--concurrency", str(WORKER_CONCURRENCY),
        "--loglevel", "info", "--hostname", f"esms-demo-{os.getpid()}@%h",
        "--without-heartbeat", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    return [
        Process(
            "development server",
            [PYTHON, MANAGE, "runserver", f"{HOST}:{options.port}", "--noreload"],
            port=options.port,
        ),
        Process("Celery worker", worker, ready_text=" ready."),
        Process("Celery beat", [*celery, "beat", "--loglevel", "info"], ready_text="Starting"),
    ]


# ----------------------------------------------------------------------------- Django side


def setup_django() -> None:
    """Load the example project's settings and apps in this process."""
    import django

    django.setup()


def migrate() -> None:
    """Create or update the database tables."""
    from django.core.management import call_command
    from django.db import connections

    say("demo: migrating the database")
    call_command("migrate", interactive=False, verbosity=0)
    connections.close_all()


def reset_admin() -> str:
    """Create or reset the superuser with a new random password, and return the password."""
    from django.contrib.auth import get_user_model

    password = secrets.token_urlsafe(12)
    user_model = get_user_model()
    user = user_model._default_manager.filter(username=ADMIN_USERNAME).first()
    if user is None:
        user = user_model(username=ADMIN_USERNAME)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()
    return password


def ensure_customers() -> list[Any]:
    """Return the sample customers, creating those that are missing."""
    from shop.models import Customer

    customers = []
    for sample in SAMPLES:
        customer = Customer.objects.filter(phone=sample.phone).order_by("pk").first()
        if customer is None:
            customer = Customer.objects.create(
                name=sample.name, phone=sample.phone, amount=sample.amount
            )
        customers.append(customer)
    return customers


def start_simulator(options: Options) -> Any:
    """Start the eSMS simulator in this process, with one scripted outcome per sample phone."""
    from django_esms_voice.conf import voice_settings
    from django_esms_voice.testing.simulator import EsmsSimulator, Outcome, Script

    conf = voice_settings()
    sim = EsmsSimulator(
        api_key=conf.api_key or "",
        secret_key=conf.secret_key or "",
        host=HOST,
        port=options.simulator_port,
        callback_delay=options.callback_delay,
    )
    outcomes = {
        "answered": Outcome.answered(ivr="1", duration=27),
        "no_answer": Outcome.no_answer(),
        "failed": Outcome.failed(),
    }
    for sample in SAMPLES:
        # progress_callback: an "in progress" callback half-way, then the result.
        sim.script(sample.phone, Script(outcome=outcomes[sample.outcome], progress_callback=True))
    # Any other number (a call you place from the admin) is answered.
    sim.default = Script(outcome=Outcome.answered(duration=15), progress_callback=True)
    try:
        sim.start()
    except OSError as exc:
        raise DemoError(
            f"the eSMS simulator cannot listen on {HOST}:{options.simulator_port}: "
            f"{exc.strerror or exc}"
        ) from exc
    say(f"demo: eSMS simulator answers on {sim.base_url}")
    return sim


def place_sample_calls(customers: list[Any]) -> list[int]:
    """Place the three sample calls through the app's services; return their ids."""
    from django.db import transaction
    from django.utils import timezone

    from django_esms_voice import services

    an, binh, cuong = customers
    batch = f"demo-{timezone.localtime():%Y%m%d-%H%M%S}"
    with transaction.atomic():
        # A recording that offers key 1 to talk to the shop: one call, services.create_call.
        first = services.create_call(
            phone=an.phone,
            kind="record",
            template_id=RECORDING_ID,
            ivr_key=1,
            number_forward=SHOP_PHONE,
            content_object=an,
            batch=batch,
            metadata={"purpose": "order confirmation", "order": "DH-1042"},
        )
        # A text-to-speech payment reminder to two customers at once: services.create_calls.
        others = services.create_calls(
            [
                {
                    "phone": customer.phone,
                    "kind": "template",
                    "template_id": SCRIPT_ID,
                    "variables": [customer.name, f"{customer.amount:,.0f}".replace(",", ".")],
                    "content_object": customer,
                    "metadata": {"purpose": "payment reminder"},
                }
                for customer in (binh, cuong)
            ],
            batch=batch,
        )
    # The tasks are sent to the broker when the transaction commits (transaction.on_commit).
    ids = [first.pk, *(call.pk for call in others)]
    say(f"demo: placed 3 sample calls (batch {batch}); the worker sends them to the simulator")
    return ids


def call_rows(ids: list[int]) -> list[Any]:
    """Return the calls, in the order of ids, read fresh from the database."""
    from django.db import connection

    from django_esms_voice.models import VoiceCall

    calls = VoiceCall.objects.in_bulk(ids)
    connection.close()  # hold nothing between two looks (SQLite)
    return [calls[pk] for pk in ids]


def describe_call(call: Any) -> str:
    """Return one line about a call's state."""
    parts = [f"{call.phone}: {call.status}"]
    if call.ivr_pressed:
        parts.append(f"key {call.ivr_pressed} pressed")
    if call.duration:
        parts.append(f"{call.duration} s")
    if call.price is not None:
        parts.append(f"{call.price:,.0f} đ")
    if call.last_error_code:
        parts.append(f"error {call.last_error_code}: {call.last_error_message[:80]}")
    return ", ".join(parts)


def admin_pages(options: Options) -> list[tuple[str, str, str]]:
    """Return the admin pages to open, as (name, url, what to do there), from the registry."""
    from django.contrib import admin
    from django.urls import NoReverseMatch, reverse
    from django.utils import translation
    from shop.models import Customer

    from django_esms_voice.models import VoiceCall

    site = options.site
    pages = []
    if admin.site.is_registered(VoiceCall):
        pages.append(
            (
                "Voice calls",
                site + reverse("admin:esms_voice_voicecall_changelist"),
                "the three sample calls; click one for its timeline and the callbacks eSMS sent",
            )
        )
        with contextlib.suppress(NoReverseMatch):
            url = site + reverse("admin:esms_voice_voicecall_call_many")
            pages.append(("Call many numbers", url, "paste numbers or upload a CSV"))
    with contextlib.suppress(NoReverseMatch):
        url = site + reverse("esms_voice_api:call-list")
        pages.append(("REST API", url, "the calls as JSON; browsable while logged in"))
    if admin.site.is_registered(Customer):
        url = site + reverse("admin:shop_customer_changelist")
        actions = [a for a in admin.site._registry[Customer].actions or () if callable(a)]
        if actions:
            with translation.override("en"):
                label = str(getattr(actions[0], "short_description", "the call action"))
                label %= {"verbose_name_plural": Customer._meta.verbose_name_plural}
            hint = f"tick some, choose '{label}' in the Action menu, Go"
        else:
            hint = "the shop's sample customers"
        pages.append(("Customers", url, hint))
    return pages


def admin_pages_answer(options: Options, password: str, urls: list[str]) -> list[str]:
    """Log in to the admin as the demo's superuser and open each page; return the failures."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = f"{options.site}/admin/login/"
    try:
        opener.open(login, timeout=10).close()  # sets the CSRF cookie
        token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
        form = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token,
                "username": ADMIN_USERNAME,
                "password": password,
                "next": "/admin/",
            }
        ).encode()
        request = urllib.request.Request(login, data=form, headers={"Referer": login})  # noqa: S310
        with opener.open(request, timeout=10) as answer:
            if "/admin/login/" in answer.geturl():
                return [f"could not log in to {login} as {ADMIN_USERNAME}"]
    except (OSError, StopIteration) as exc:
        return [f"{login}: {exc or type(exc).__name__}"]
    failures = []
    for url in urls:
        try:
            with opener.open(url, timeout=20) as answer:
                if answer.status != 200:
                    failures.append(f"{url} answered {answer.status}")
        except OSError as exc:
            failures.append(f"{url}: {exc}")
    return failures


def callback_counts(ids: list[int]) -> dict[int, int]:
    """Return, per call id, how many callbacks were stored and applied."""
    from django.db import connection
    from django.db.models import Count, Q

    from django_esms_voice.models import VoiceCall

    rows = VoiceCall.objects.filter(pk__in=ids).annotate(
        applied=Count("events", filter=Q(events__source="callback", events__outcome="applied"))
    )
    counts = {row.pk: row.applied for row in rows}
    connection.close()
    return counts


# ----------------------------------------------------------------------------- running


class Demo:
    """Everything the demo started, and how to stop it."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.children: list[Process] = []
        self.simulator: Any = None

    def check_free_ports(self) -> None:
        """Refuse to start on ports already in use (another demo still running?)."""
        used = [
            f"{HOST}:{port} ({what})"
            for port, what in (
                (self.options.port, "development server"),
                (self.options.simulator_port, "eSMS simulator"),
            )
            if port_answers(port)
        ]
        if used:
            raise DemoError(
                f"already in use: {', '.join(used)}. Is another demo still running? "
                "(or choose others with --port / --simulator-port)"
            )

    def start(self) -> tuple[str, list[int]]:
        """Prepare the database, start every process, place the calls; return the password."""
        env = demo_env(self.options)
        self.check_free_ports()
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        setup_django()
        migrate()
        password = reset_admin()
        customers = ensure_customers()
        self.simulator = start_simulator(self.options)
        for process in processes(self.options):
            process.start(env)
            self.children.append(process)
            process.wait_ready()
            say(f"demo: {process.name} is ready (pid {process.pid})")
        ids = place_sample_calls(customers)
        return password, ids

    def stop(self) -> None:
        """Stop every process in reverse order, then the simulator; nothing may skip this."""
        for process in reversed(self.children):
            try:
                process.stop()
            except Exception as error:
                say(f"demo: could not stop {process.name}: {error}")
        if self.simulator is not None:
            self.simulator.stop()
        with contextlib.suppress(Exception):  # Django may not be set up yet
            from django.db import connections

            connections.close_all()
        say("demo: stopped")

    def dead_child(self) -> Process | None:
        """Return a child that exited, if any."""
        return next((p for p in self.children if p.exited() is not None), None)


def watch(demo: Demo, ids: list[int], deadline: float | None) -> list[Any]:
    """Print each call's changes; return the calls once all are final (with a deadline)."""
    last: dict[int, str] = {}
    names = {pk: sample.name for pk, sample in zip(ids, SAMPLES, strict=True)}
    while True:
        dead = demo.dead_child()
        if dead is not None:
            raise DemoError(
                f"{dead.name} exited with status {dead.exited()}:\n{dead.output_tail()}"
            )
        calls = call_rows(ids)
        for call in calls:
            line = describe_call(call)
            if last.get(call.pk) != line:
                last[call.pk] = line
                say(f"demo: call to {names[call.pk]} ({line})")
        if all(call.is_final for call in calls):
            return calls
        if deadline is not None and time.monotonic() > deadline:
            states = "; ".join(f"{names[c.pk]}: {c.status}" for c in calls)
            worker = next((p for p in demo.children if p.name == "Celery worker"), None)
            tail = f"\nCelery worker output (tail):\n{worker.output_tail()}" if worker else ""
            raise DemoError(
                f"the sample calls were not final after {demo.options.timeout:.0f} s "
                f"({states}){tail}"
            )
        time.sleep(0.25)


def verify(demo: Demo, calls: list[Any], password: str) -> list[str]:
    """Return what is wrong with the finished sample calls (nothing when all is well)."""
    from django.contrib import admin
    from django.urls import reverse

    from django_esms_voice.models import VoiceCall

    problems = []
    counts = callback_counts([call.pk for call in calls])
    for call, sample in zip(calls, SAMPLES, strict=True):
        if call.status != sample.outcome:
            problems.append(f"{sample.name}: expected {sample.outcome}, got {describe_call(call)}")
        if counts.get(call.pk, 0) < 1:
            problems.append(f"{sample.name}: no callback was applied (results came another way)")
    if calls and calls[0].ivr_pressed != "1":
        problems.append(f"{SAMPLES[0].name}: expected key 1 pressed, got {calls[0].ivr_pressed!r}")
    for process in demo.children:
        if process.exited() is not None:
            problems.append(f"{process.name} exited early with status {process.exited()}")
    # The pages the demo tells people to open answer, logged in as the printed user.
    urls = [url for _, url, _ in admin_pages(demo.options)]
    if calls and admin.site.is_registered(VoiceCall):
        urls.append(
            demo.options.site + reverse("admin:esms_voice_voicecall_change", args=[calls[0].pk])
        )
    problems.extend(admin_pages_answer(demo.options, password, urls))
    return problems


def run(options: Options) -> int:
    """Run the demo until Ctrl-C (or, with --check, until the calls are final)."""
    demo = Demo(options)
    try:
        password, ids = demo.start()
        say()
        say("demo: everything runs; results come back through callbacks in a few seconds.")
        for sample in SAMPLES:
            say(f"demo:   {sample.name} ({sample.phone}) {sample.story}")
        say()
        say(f"demo: open {options.site}/admin/ and log in (in your browser's language):")
        say(f"demo:   username: {ADMIN_USERNAME}")
        say(f"demo:   password: {password}")
        for name, url, hint in admin_pages(options):
            say(f"demo: {name}: {url}")
            say(f"demo:   {hint}")
        say(f"demo: eSMS is simulated at {demo.simulator.base_url}: no real call, no credit spent.")
        if not options.check:
            say("demo: press Ctrl-C to stop everything")
        say()
        deadline = time.monotonic() + options.timeout if options.check else None
        calls = watch(demo, ids, deadline)
        if options.check:
            problems = verify(demo, calls, password)
            say()
            say("demo: summary")
            for call, sample in zip(calls, SAMPLES, strict=True):
                say(f"demo:   {sample.name}: {describe_call(call)}")
            if problems:
                for problem in problems:
                    say(f"demo: FAILED: {problem}")
                return 1
            say(
                "demo: check passed: 3 calls placed by the worker, results applied by "
                "callback, admin pages answer"
            )
            return 0
        say("demo: the three sample calls are final; the demo keeps running (Ctrl-C stops it)")
        while True:
            dead = demo.dead_child()
            if dead is not None:
                raise DemoError(
                    f"{dead.name} exited with status {dead.exited()}:\n{dead.output_tail()}"
                )
            time.sleep(0.5)
    except KeyboardInterrupt:
        say()
        say("demo: asked to stop")
        return 1 if options.check else 0  # a check that did not finish did not pass
    finally:
        # Nothing may skip the cleanup: not a second Ctrl-C, not one process refusing to stop.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        demo.stop()


def on_terminate(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM/SIGHUP into the same clean stop as Ctrl-C."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (`cmd &` in a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGHUP, on_terminate)
    try:
        return run(options)
    except DemoError as error:
        say(f"demo: error: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
