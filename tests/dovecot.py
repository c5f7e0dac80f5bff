"""A throwaway Dovecot IMAP server for the tests: its own config, mail, log and certificates in a temporary
folder, on free localhost ports, stopped (and its folder removed) at the end.

The binary comes from DSARCTL_TEST_DOVECOT (e.g. /usr/sbin/dovecot from Debian's dovecot-imapd). Without
it the IMAP tests skip, saying why; with DSARCTL_TEST_REQUIRE_SERVERS=1 (set by .ci/run) they fail instead.

Dovecot runs as the current user. As root (CI), its login processes must run as another user and so must
mail access (Dovecot refuses uid 0 for both): `nobody`, whose mail folder is then created for it in a
folder under /tmp that it can reach (a pytest temp folder is private to root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from helpers import required_binary

ENV = "DSARCTL_TEST_DOVECOT"
STARTUP = 60  # seconds for a new server to answer on both ports (a loaded CI machine is slow to start it)


def dovecot_binary() -> str:
    """The Dovecot binary to test against; skips (or, when servers are required, fails) without one."""
    return required_binary(ENV, "/usr/sbin/dovecot, from Debian's dovecot-imapd", "IMAP server")


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different ports free now: all bound at once, so that the kernel cannot hand out one twice."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


class Dovecot:
    """One Dovecot server: `start()`, `stop()`, `add_user()`, `kick()`."""

    def __init__(self, binary: str, *, capability: str | None = None):
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="dsarctl-dovecot-"))
        os.chmod(self.root, 0o755)
        self.port, self.tls_port = free_ports(2)
        self.ca_file = self.root / "ca.pem"
        self.process: subprocess.Popen | None = None
        me = pwd.getpwuid(os.getuid())
        mail_user = pwd.getpwnam("nobody") if os.getuid() == 0 else me
        self.mail_uid, self.mail_gid = mail_user.pw_uid, mail_user.pw_gid
        (self.root / "mail").mkdir()
        os.chown(self.root / "mail", self.mail_uid, self.mail_gid)
        (self.root / "users").mkdir()
        self._certificates()
        internal = me.pw_name
        login = "nobody" if os.getuid() == 0 else me.pw_name
        self.config = self.root / "dovecot.conf"
        self.config.write_text(_CONFIG.format(
            root=self.root, port=self.port, tls_port=self.tls_port, internal=internal, login=login,
            group=_group_name(me.pw_gid), uid=self.mail_uid, gid=self.mail_gid,
            capability=f"imap_capability = {capability}\n" if capability else ""))

    def _certificates(self) -> None:
        """A CA and a certificate for localhost and 127.0.0.1 signed by it (openssl: Dovecot needs it)."""
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.fail("openssl not found (Debian's dovecot-core depends on it)")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        (self.root / "server.ext").write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        for command in (
            ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=dsarctl test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "server.ext"],
        ):
            subprocess.run([openssl, *command], cwd=self.root, check=True, capture_output=True)

    def add_user(self, name: str, password: str) -> None:
        """A mail account, in a passwd-file of its own (Dovecot reads a changed passwd-file again at most
        once a second: a file per user is read when the user first logs in)."""
        (self.root / "users" / name).write_text(f"{name}:{{PLAIN}}{password}::::::\n")

    def start(self) -> None:
        log = open(self.root / "stderr.log", "ab")
        self.process = subprocess.Popen([self.binary, "-F", "-c", str(self.config)], stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"dovecot exited with {self.process.returncode}:\n{self.log()}")
            if self._answers(self.port) and self._answers(self.tls_port):
                return
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"dovecot did not answer on 127.0.0.1:{self.port} within {STARTUP} s:\n{self.log()}")

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            # IMAP sessions outlive the master: end those still open (a test that failed half-way) first
            with contextlib.suppress(OSError):
                subprocess.run([self._doveadm(), "-c", str(self.config), "kick", "*"], capture_output=True)
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        # the master is gone once its pid file is: the next start must not find it running
        deadline = time.monotonic() + 10
        while (self.root / "run" / "master.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def kick(self, user: str) -> None:
        """Drop every connection of a user, as a server going away does (`doveadm kick`; a restart of the
        master would not: Dovecot's running IMAP sessions outlive it)."""
        subprocess.run([self._doveadm(), "-c", str(self.config), "kick", user], check=True, capture_output=True)

    def _doveadm(self) -> str:
        """Dovecot's admin tool, from the same package (dovecot-core)."""
        return shutil.which("doveadm") or str(Path(self.binary).parent / "doveadm")

    def log(self) -> str:
        parts = []
        for name in ("dovecot.log", "stderr.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
mail_location = maildir:{root}/mail/%u
auth_mechanisms = plain login xoauth2
disable_plaintext_auth = no
auth_failure_delay = 0
ssl = yes
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Trash {{
    special_use = \\Trash
    auto = create
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = create
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
"""
