"""Helpers for the alert tests: MSS mandate and review events, and a real webhook receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from tests.conftest import body

#: A Standard Webhooks secret as an operator would configure it.
SECRET = "whsec_" + base64.b64encode(b"sitrep test signing key, 32 bytes").decode()
THRESHOLDS = [90, 60, 30, 14, 7, 1]


def renewed(expires_on: str = "2025-10-02", on: str = "2024-09-30", **envelope: Any) -> Any:
    data = {"resolution": "S/RES/2751 (2024)", "expires_on": expires_on}
    return body("MandateRenewed", on, data, **envelope)


def review(review_id: str, due_on: str, on: str, **envelope: Any) -> Any:
    data = {
        "review_id": review_id,
        "body": "secretary_general",
        "due_on": due_on,
        "title": f"Report of the Secretary-General ({review_id})",
    }
    return body("ReviewScheduled", on, data, **envelope)


def completed(review_id: str, on: str, **envelope: Any) -> Any:
    data = {"review_id": review_id, "outcome": "presented to the Council"}
    return body("ReviewCompleted", on, data, **envelope)


def ended(on: str, **envelope: Any) -> Any:
    return body("MandateEnded", on, {"reason": "succeeded by another force"}, **envelope)


def flag_key(event: Any) -> tuple[Any, ...]:
    """(mission, deadline, resolution or review, due_on, threshold, days remaining)."""
    d = event.data if hasattr(event, "data") else event
    mission = event.mission if hasattr(event, "mission") else d["mission"]
    ref = d.get("resolution") or d.get("review_id")
    return (mission, d["deadline"], ref, d["due_on"], d["threshold_days"], d["days_remaining"])


# --- a webhook receiver on 127.0.0.1 ---------------------------------------------------------


def expected_signature(secret: str, msg_id: str, timestamp: str, raw: bytes) -> str:
    """Standard Webhooks v1, computed by hand (independently of the library sitrep uses)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + raw
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    signature_ok: bool
    library_ok: bool

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """An HTTP server that records webhook requests and answers with the statuses queued in
    ``answers`` (then ``default``); ``delay`` makes it slow."""

    secret: str = SECRET
    port: int = 0
    answers: list[int] = field(default_factory=list)
    default: int = 204
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/sitrep"

    def ids(self) -> list[str]:
        with self.lock:
            return [r.id for r in self.received]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.record(headers, raw)
                time.sleep(receiver.delay)
                with receiver.lock:
                    status = receiver.answers.pop(0) if receiver.answers else receiver.default
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def record(self, headers: dict[str, str], raw: bytes) -> None:
        given = headers.get("webhook-signature", "")
        expected = expected_signature(
            self.secret, headers.get("webhook-id", ""), headers.get("webhook-timestamp", ""), raw
        )
        signature_ok = any(
            part.startswith("v1,") and hmac.compare_digest(part[3:], expected)
            for part in given.split(" ")
        )
        try:
            Webhook(self.secret).verify(raw, headers)
            library_ok = True
        except WebhookVerificationError:
            library_ok = False  # also when the timestamp is far from the real clock
        with self.lock:
            self.received.append(Received(headers, raw, signature_ok, library_ok))

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@contextmanager
def receiving(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options).start()
    try:
        yield receiver
    finally:
        receiver.stop()
