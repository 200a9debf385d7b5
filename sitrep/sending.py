"""Sending an outbox's queued events (:class:`Sender`): the order, the batches, the retries.

What is queued and what happened to it lives in :mod:`sitrep.outbox`; this module decides
what to send next and what an answer means (stored, refused for good, or to try again).
"""

from __future__ import annotations

import logging
import random as random_module
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sitrep.client import ApiProblem, CannotConnect, Client, ClientError, is_retryable
from sitrep.outbox import BATCH_BYTES, BATCH_SIZE, Batch, Item, Outbox, token_fingerprint

log = logging.getLogger(__name__)

#: Longest wait a ``Retry-After`` may impose on one attempt.
RETRY_AFTER_LIMIT = 300.0


@dataclass(frozen=True)
class Policy:
    """How hard to try: attempts per request, the backoff's base and cap (full jitter)."""

    max_attempts: int = 10
    base_delay: float = 0.5
    max_delay: float = 60.0
    batch_size: int = BATCH_SIZE
    batch_bytes: int = BATCH_BYTES

    def delay(self, attempt: int, draw: float, retry_after: float | None = None) -> float:
        """The wait before attempt ``attempt + 1``: full jitter on an exponential, or longer
        when the server asked for it (``Retry-After``)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** min(attempt, 32))
        wait = draw * ceiling
        if retry_after is not None:
            wait = max(wait, min(retry_after, RETRY_AFTER_LIMIT))
        return wait


class Stopped(Exception):
    """The run cannot go on (bad token, wrong URL, the server keeps failing); nothing is lost."""


@dataclass
class Delivery:
    """What one run did."""

    sent: list[Item] = field(default_factory=list)
    refused: list[tuple[Item, ApiProblem]] = field(default_factory=list)
    requests: int = 0


_EVENT_INDEX = re.compile(r"^events\[(\d+)\]")
# The role (not the scope) of the token forbids the event: on the first request of a run
# that is the token's fault, not the event's.
_ROLE_FORBIDS = re.compile(r"token may not post")


class Sender:
    """Sends an outbox's queued events through a :class:`Client`, oldest first."""

    def __init__(
        self,
        outbox: Outbox,
        client: Client,
        token: str,
        *,
        policy: Policy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = random_module.random,
        settled: Callable[[Item, ApiProblem | None], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.fingerprint = token_fingerprint(token)
        self.policy = policy or Policy()
        self.sleep = sleep
        self.random = random
        self.settled = settled
        self.delivery = Delivery()

    def run(self) -> Delivery:
        """Send until nothing is queued; raises :class:`Stopped` (with ``self.delivery`` so far)."""
        doubtful = self.outbox.in_doubt_with_other_token(self.fingerprint)
        if doubtful:
            raise Stopped(
                f"{doubtful} queued events were sent with another token and no answer came "
                "back; the server knows their Idempotency-Keys only for that token, so sending "
                "them with this one could store them twice: send with the earlier token"
            )
        if self.outbox.head() is None:
            return self.delivery
        self._probe()
        while True:
            batch = self.outbox.next_batch(self.policy.batch_size, self.policy.batch_bytes)
            if batch is not None:
                self._send_batch(batch)
                continue
            head = self.outbox.head()
            if head is None:
                return self.delivery
            self._send_one(head)

    # --- the requests --------------------------------------------------------------------

    def _probe(self) -> None:
        # One read before any write: a wrong URL or a bad token is reported as such, instead of
        # as a problem of the first event.
        try:
            page = self._attempt(None, lambda: self.client.get("/v1/events", limit=1))
        except CannotConnect as exc:
            raise Stopped(f"cannot reach the server: {exc}") from None
        except ApiProblem as exc:
            if exc.status in (401, 403):
                raise Stopped(f"the server refused the token: {exc}") from None
            raise Stopped(f"not a sitrep server? GET /v1/events answered {exc}") from None
        if not isinstance(page, dict) or not isinstance(page.get("events"), list):
            raise Stopped("not a sitrep server? GET /v1/events answered without events")

    def _send_one(self, item: Item) -> None:
        try:
            stored = self._attempt(
                item, lambda: self.client.append(item.event, idempotency_key=item.idempotency_key)
            )
        except ApiProblem as problem:
            self._refused_alone(item, problem)
            return
        self.outbox.sent([item], [stored])
        self._accepted([item])

    def _send_batch(self, batch: Batch) -> None:
        events = [member.event for member in batch.members]
        try:
            stored = self._attempt(
                batch,
                lambda: self.client.append_batch(events, idempotency_key=batch.idempotency_key),
            )
        except ApiProblem as problem:
            self._refused_batch(batch, problem)
            return
        if len(stored) != len(batch.members):
            raise Stopped(f"the server answered a batch of {len(batch.members)} with "
                          f"{len(stored)} events")  # fmt: skip
        self.outbox.sent(batch.members, stored, batch)
        self._accepted(list(batch.members))

    def _attempt(self, target: Item | Batch | None, call: Callable[[], Any]) -> Any:
        """``call`` until it answers for sure: its result, or the refusal raised as ApiProblem.

        No answer, 408, 429 and 5xx are tried again after a backoff; a 401 stops the run.
        """
        attempt = 0
        while True:
            if target is not None:
                self.outbox.attempting(target, self.fingerprint)
            self.delivery.requests += 1
            try:
                return call()
            except ClientError as exc:
                if target is not None and isinstance(exc, ApiProblem) and not is_retryable(exc):
                    self.outbox.answered(target, str(exc))  # turned away: nothing stored
                if isinstance(exc, ApiProblem) and exc.status == 401:
                    raise Stopped(f"the server refused the token: {exc}") from None
                if not is_retryable(exc):
                    if isinstance(exc, ApiProblem):
                        raise
                    raise Stopped(str(exc)) from None  # UnexpectedAnswer: not a sitrep server
                if target is None and isinstance(exc, CannotConnect):
                    raise  # the first contact: a wrong URL, not a passing outage
                attempt += 1
                if target is not None:
                    self.outbox.failed(target, str(exc))
                if attempt >= self.policy.max_attempts:
                    raise Stopped(f"gave up after {attempt} attempts: {exc}") from None
                retry_after = exc.retry_after if isinstance(exc, ApiProblem) else None
                wait = self.policy.delay(attempt - 1, self.random(), retry_after)
                log.info("attempt %d failed (%s); next in %.2f s", attempt, exc, wait)
                self.sleep(wait)

    # --- the answers ---------------------------------------------------------------------

    def _accepted(self, items: list[Item]) -> None:
        self.delivery.sent.extend(items)
        if self.settled is not None:
            for item in items:
                self.settled(item, None)

    def _refused_alone(self, item: Item, problem: ApiProblem) -> None:
        if (
            problem.status == 403
            and not self.delivery.sent
            and _ROLE_FORBIDS.search(problem.detail)
        ):
            raise Stopped(f"the server refused the token: {problem}")
        self.outbox.refused(item, problem)
        self.delivery.refused.append((item, problem))
        if self.settled is not None:
            self.settled(item, problem)

    def _refused_batch(self, batch: Batch, problem: ApiProblem) -> None:
        # Refused for sure, so none of it was stored: its events may go in other requests now.
        # When the problem names the first event it could not take, that one goes alone and
        # the ones before it (which passed) and after it may form new batches.
        index = _first_index(problem)
        if index is not None and index < len(batch.members):
            solo = [batch.members[index].seq]
        else:
            solo = [member.seq for member in batch.members]
        log.info("batch of %d refused (%s); %d to go alone", len(batch.members), problem, len(solo))
        self.outbox.release(batch, solo)


def _first_index(problem: ApiProblem) -> int | None:
    indices = [int(m.group(1)) for e in problem.errors if (m := _EVENT_INDEX.match(e.field))]
    return min(indices) if indices else None
