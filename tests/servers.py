"""Throwaway real servers for tests.

``postgres_server()`` starts a private PostgreSQL cluster that lives only for
the duration of a ``with`` block:

    with postgres_server() as url:       # 'postgresql://postgres@127.0.0.1:54321/coach'
        conn = psycopg.connect(url)

Design notes
------------
* Binaries (initdb, pg_ctl, postgres) come from PATH or, failing that, from the
  newest ``/usr/lib/postgresql/<version>/bin`` (where Debian puts them without
  adding them to PATH).
* PostgreSQL refuses to run as root.  When the tests run as root (typical in
  containers) every server command is run as the existing ``postgres`` system
  user via ``runuser`` (or ``setpriv`` as a fallback) and the temp dir is
  chowned to that user.  Otherwise everything runs as the current user.
* The server listens only on 127.0.0.1, on a free port, with ``trust`` auth for
  127.0.0.1 only; its unix socket goes into the temp dir (never /var/run), and
  fsync / synchronous_commit / full_page_writes are off because the data is
  thrown away anyway.
* The server is always stopped (``pg_ctl stop -m immediate``) and the temp dir
  deleted, even if the test body raises.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Sequence

DB_NAME = "coach"
START_TIMEOUT_S = 30.0
_INSTALL_HINT = "install Debian package postgresql (make test does it)"


# --------------------------------------------------------------------------
# Locating the PostgreSQL binaries
# --------------------------------------------------------------------------

def _version_key(path: str) -> tuple:
    """Sort key for '/usr/lib/postgresql/<ver>/bin' so that 15 > 9.6."""
    ver = Path(path).parent.name
    return tuple(int(p) for p in re.findall(r"\d+", ver))


def _find_bin_dir() -> Path:
    """Return the directory holding initdb, pg_ctl and postgres.

    PATH wins; then the newest Debian-style /usr/lib/postgresql/*/bin.
    """
    needed = ("initdb", "pg_ctl", "postgres")
    on_path = [shutil.which(n) for n in needed]
    if all(on_path):
        # Resolve symlinks (Debian's /usr/local/bin or pg_wrapper shims) so
        # that all three come from the same real install directory.
        dirs = {Path(os.path.realpath(p)).parent for p in on_path}  # type: ignore[arg-type]
        if len(dirs) == 1:
            return dirs.pop()
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for d in candidates:
        if all(os.access(os.path.join(d, n), os.X_OK) for n in needed):
            return Path(d)
    if all(on_path):
        # Mixed directories on PATH but nothing under /usr/lib/postgresql:
        # use pg_ctl's directory (pg_ctl looks for postgres next to itself).
        return Path(os.path.realpath(on_path[1])).parent  # type: ignore[arg-type]
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH "
        "or in /usr/lib/postgresql/*/bin; " + _INSTALL_HINT
    )


# --------------------------------------------------------------------------
# Running commands as a non-root user
# --------------------------------------------------------------------------

def _run_as_prefix() -> tuple[List[str], str]:
    """Command prefix that drops root privileges, and the user name to use.

    Returns ([], current_user) when not root.
    """
    if os.geteuid() != 0:
        return [], pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "running as root but there is no 'postgres' system user to run the "
            "server as; " + _INSTALL_HINT
        ) from None
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"], "postgres"
    if shutil.which("setpriv"):
        pw = pwd.getpwnam("postgres")
        return [
            "setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups",
        ], "postgres"
    raise RuntimeError("running as root and neither runuser nor setpriv is available")


def _run(prefix: Sequence[str], cmd: Sequence[str], *, env: dict, timeout: float = 60) -> str:
    """Run a command (as the server user); raise with its output if it fails."""
    proc = subprocess.run(
        [*prefix, *cmd],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        cwd="/",  # the server user may not be able to read the caller's cwd
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stdout}"
        )
    return proc.stdout


# --------------------------------------------------------------------------
# Misc helpers
# --------------------------------------------------------------------------

def _free_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1.

    There is a tiny race between closing this socket and postgres binding the
    port; if another process grabs it, startup fails with a clear log message.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(no server log: {e})"


def _wait_ready(bin_dir: Path, env: dict, port: int, user: str, log: Path,
                timeout: float) -> None:
    """Poll until the server accepts connections to the 'postgres' database."""
    pg_isready = bin_dir / "pg_isready"
    deadline = time.monotonic() + timeout
    while True:
        if pg_isready.exists():
            rc = subprocess.run(
                [str(pg_isready), "-q", "-h", "127.0.0.1", "-p", str(port),
                 "-U", user, "-d", "postgres", "-t", "2"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ).returncode
            if rc == 0:
                return
        else:
            # No pg_isready: a successful TCP connect is good enough.
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"PostgreSQL did not become ready on 127.0.0.1:{port} within "
                f"{timeout:.0f}s. Server log tail ({log}):\n{_log_tail(log)}"
            )
        time.sleep(0.1)


# --------------------------------------------------------------------------
# The public context manager
# --------------------------------------------------------------------------

@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a private PostgreSQL cluster in a temp dir on a free localhost port;
    yield 'postgresql://USER@127.0.0.1:PORT/coach'; stop it and delete the dir
    afterwards."""
    bin_dir = _find_bin_dir()
    prefix, user = _run_as_prefix()

    # Minimal, predictable environment: no PG* variables leaking in from the
    # caller (PGDATA, PGPORT, PGHOST ... would change what the tools do).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["LC_ALL"] = env["LANG"] = "C.UTF-8" if _has_c_utf8() else "C"

    tmp = Path(tempfile.mkdtemp(prefix="coach-pg-"))
    data = tmp / "data"
    log = tmp / "server.log"
    started = False
    try:
        if prefix:  # running as root: hand the whole dir to 'postgres'
            pw = pwd.getpwnam(user)
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
            os.chmod(tmp, 0o700)

        # 1. Create the cluster.  --auth=trust + we overwrite pg_hba.conf below
        #    so that only 127.0.0.1 (and the private unix socket) are trusted.
        _run(prefix, [str(bin_dir / "initdb"), "-D", str(data), "-U", user,
                      "--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"],
             env=env)
        hba = (
            "# written by tests/servers.py\n"
            "local all all              trust\n"
            "host  all all 127.0.0.1/32 trust\n"
        )
        _write_as(prefix, data / "pg_hba.conf", hba)

        # 2. Start it.  Server settings are passed on the command line (-o) so
        #    postgresql.conf stays untouched.
        port = _free_port()
        opts = " ".join([
            f"-p {port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories='{tmp}'",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=50",
        ])
        # -w waits for startup itself, but we also poll below with a clear error.
        proc = subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-l", str(log),
             "-o", opts, "-w", "-t", str(int(START_TIMEOUT_S))],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=START_TIMEOUT_S + 10, cwd="/",
        )
        started = True  # pg_ctl may have launched the postmaster even on failure
        if proc.returncode != 0:
            raise RuntimeError(
                f"pg_ctl start failed (exit {proc.returncode}):\n{proc.stdout}\n"
                f"Server log tail ({log}):\n{_log_tail(log)}"
            )
        _wait_ready(bin_dir, env, port, user, log, START_TIMEOUT_S)

        # 3. Create the application database over TCP (same path the tests use).
        createdb = bin_dir / "createdb"
        if createdb.exists():
            _run(prefix, [str(createdb), "-h", "127.0.0.1", "-p", str(port), "-U", user, DB_NAME],
                 env=env)
        else:
            import psycopg  # only needed when the client tools are missing

            with psycopg.connect(f"postgresql://{user}@127.0.0.1:{port}/postgres",
                                 autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{DB_NAME}"')

        yield f"postgresql://{user}@127.0.0.1:{port}/{DB_NAME}"
    finally:
        if started:
            # 'immediate' = no checkpoint, no waiting for clients: fast and the
            # data is discarded anyway.  Never let a stop failure mask the
            # original exception.
            with contextlib.suppress(Exception):
                subprocess.run(
                    [*prefix, str(bin_dir / "pg_ctl"), "stop", "-D", str(data),
                     "-m", "immediate", "-w", "-t", "15"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    timeout=30, cwd="/",
                )
        shutil.rmtree(tmp, ignore_errors=True)


def _write_as(prefix: Sequence[str], path: Path, text: str) -> None:
    """Write a file inside the data dir, keeping it owned by the server user."""
    if not prefix:
        path.write_text(text)
        return
    # As root we can write directly, then give it back to the server user with
    # the same owner/mode as the file initdb created.
    st = path.stat()
    path.write_text(text)
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, st.st_mode & 0o777)


def _has_c_utf8() -> bool:
    """Whether the C.UTF-8 locale exists (it does on Debian/Ubuntu)."""
    try:
        out = subprocess.run(["locale", "-a"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout.lower()
    except OSError:
        return False
    return "c.utf8" in out or "c.utf-8" in out


# --------------------------------------------------------------------------
# PulseAudio: a null sink whose monitor is the default capture device
# --------------------------------------------------------------------------

@contextlib.contextmanager
def pulseaudio_server(rate: int = 16000, channels: int = 2) -> Iterator[dict]:
    """A private PulseAudio server with a null sink ``coachsink``; yields the environment
    (``XDG_RUNTIME_DIR``, ``PULSE_SERVER``, ``HOME``) under which clients reach only it.

    Whatever is played into the sink (``paplay --device=coachsink``) is what a PortAudio
    client captures from the ``pulse`` / ``default`` device: a real device path, no microphone.
    """
    if not (shutil.which("pulseaudio") and shutil.which("pactl") and shutil.which("paplay")):
        raise RuntimeError("pulseaudio/pactl/paplay not found; install Debian packages pulseaudio "
                           "pulseaudio-utils libasound2-plugins (make test does it)")
    with tempfile.TemporaryDirectory(prefix="coach-pulse-") as tmp:
        runtime, home = Path(tmp) / "run", Path(tmp) / "home"
        runtime.mkdir(mode=0o700)
        home.mkdir()
        socket_path = runtime / "pulse" / "native"
        env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(home),
               "PULSE_SERVER": f"unix:{socket_path}"}
        server = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes",
             "--use-pid-file=no", "--log-target=stderr", "--load=module-native-protocol-unix",
             f"--load=module-null-sink sink_name=coachsink rate={rate} channels={channels}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pulseaudio did not start: {server.stderr.read().decode()[-500:]}")
                time.sleep(0.2)
            for command in (["set-default-sink", "coachsink"], ["set-default-source", "coachsink.monitor"]):
                subprocess.run(["pactl", *command], env=env, check=True, capture_output=True)
            yield env
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and localhost (openssl, from Debian's openssl package),
    for the HTTPS a team's `coach serve` needs; browsers are told to accept it."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=coach-test",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key
