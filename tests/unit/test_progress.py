"""Progress lines appear on a terminal only; the start-up notice says when the server answers."""

from __future__ import annotations

import contextlib
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlflow_supplychain.progress import Steps
from mlflow_supplychain.server import startup_notice


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_steps_print_on_a_terminal_only() -> None:
    terminal, pipe = Terminal(), io.StringIO()
    Steps(terminal).step("hashing 3 files")
    Steps(pipe).step("hashing 3 files")
    assert "hashing 3 files..." in terminal.getvalue() and terminal.getvalue().startswith(
        "mlflow-supplychain: [")
    assert pipe.getvalue() == ""


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_start_up_notice_says_when_the_server_answers(health_url) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert startup_notice.main(["x", health_url]) == 0
    assert f"ready at {health_url}" in err.getvalue()


def test_the_start_up_notice_gives_up_when_nothing_answers(monkeypatch) -> None:
    monkeypatch.setattr(startup_notice, "LIMIT_SECONDS", 1.2)
    monkeypatch.setattr(startup_notice, "EVERY_SECONDS", 0.4)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert startup_notice.main(["x", "http://127.0.0.1:9"]) == 1
    assert "still starting" in err.getvalue()
