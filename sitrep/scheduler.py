"""The scheduler inside ``sitrep serve`` (CONTRACT §7): deadline passes, weekly reports and
webhook delivery.

Named APScheduler jobs on a background thread pool: ``deadline-check`` runs a pass at start-up
and then every ``SITREP_ALERT_INTERVAL_SECONDS``; with ``SITREP_REPORT_WEEKDAY`` and webhooks,
``weekly-report`` queues the weeks' reports due (``sitrep.weekly``) on the same schedule;
``webhook-delivery`` sends and retries the outbox every few seconds. Runs missed while the
process was busy or suspended are coalesced into one, and a job never overlaps itself. With
several workers or instances each runs its own scheduler: flags are appended and reports queued
once whoever runs first, and deliveries are leased row by row.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import DBAPIError

from api.metrics import Metrics
from events.envelope import RecordedEvent
from events.errors import StoreUnavailable
from events.store import Clock, EventStore, utcnow
from projections.runner import Projector
from sitrep.deadlines import check_deadlines
from sitrep.settings import Settings
from sitrep.webhooks import Dispatcher
from sitrep.weekly import WeeklyReports

log = logging.getLogger(__name__)

DELIVERY_INTERVAL_SECONDS = 5


class AlertScheduler:
    """Starts and stops the deadline and delivery jobs of one process."""

    def __init__(
        self,
        store: EventStore,
        projector: Projector,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        dispatcher: Dispatcher | None = None,
        delivery_interval: float = DELIVERY_INTERVAL_SECONDS,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.store = store
        self.projector = projector
        self.thresholds = list(settings.alert_thresholds)
        self.interval = settings.alert_interval_seconds
        self.delivery_interval = delivery_interval
        self.clock = clock
        self.dispatcher = dispatcher or Dispatcher.from_settings(store, settings, clock=clock)
        self.weekly: WeeklyReports | None = None
        if settings.report_weekday is not None:
            if self.dispatcher is None:
                log.warning("SITREP_REPORT_WEEKDAY is set but no webhook is: no weekly report")
            else:
                self.weekly = WeeklyReports(
                    store, projector, self.dispatcher, settings.report_weekday
                )
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            # A late run still runs (once, however many were missed) rather than being skipped.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def start(self) -> None:
        # APScheduler's own timing is the real clock; the injected clock decides what "today" is.
        now = datetime.now(UTC)
        self._scheduler.add_job(
            self.check, "interval", seconds=self.interval, next_run_time=now,
            id="deadline-check", name="deadline check",
        )  # fmt: skip
        if self.weekly is not None:
            self._scheduler.add_job(
                self.report_weekly, "interval", seconds=self.interval, next_run_time=now,
                id="weekly-report", name="weekly report",
            )  # fmt: skip
        if self.dispatcher is not None:
            self._scheduler.add_job(
                self.deliver, "interval", seconds=self.delivery_interval, next_run_time=now,
                id="webhook-delivery", name="webhook delivery",
            )  # fmt: skip
        self._scheduler.start()
        log.info(
            "scheduler started: deadline check every %ss, %s%s",
            self.interval,
            "webhooks on" if self.dispatcher else "no webhooks configured",
            ", weekly reports on" if self.weekly else "",
        )

    def shutdown(self) -> None:
        """Stop the jobs, waiting for a running one to finish its current step."""
        self._stopping.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        if self.dispatcher is not None:
            self.dispatcher.close()

    def check(self) -> list[RecordedEvent]:
        """One deadline pass for today (by the injected clock), then deliver what it flagged."""
        try:
            flags = check_deadlines(
                self.store, self.projector, self.clock().date(), self.thresholds
            )
        except StoreUnavailable as exc:
            log.warning("deadline check skipped: %s", exc.detail)
            return []
        except DBAPIError as exc:
            failure = type(exc.orig).__name__
            log.warning("deadline check skipped: the database failed: %s", failure)
            return []
        except Exception:
            log.exception("deadline check failed")
            return []
        if self.metrics is not None:
            self.metrics.scheduler_last_run.set(time.time())
            self.metrics.flags.inc(len(flags))
        if flags:
            log.info("deadline check flagged %s deadline(s)", len(flags))
            self._deliver_soon()
        return flags

    def report_weekly(self) -> list[str]:
        """Queue the weekly reports due today (by the injected clock), then deliver them."""
        if self.weekly is None:
            return []
        try:
            queued = self.weekly.run(self.clock().date())
        except StoreUnavailable as exc:
            log.warning("weekly report pass skipped: %s", exc.detail)
            return []
        except DBAPIError as exc:
            failure = type(exc.orig).__name__
            log.warning("weekly report pass skipped: the database failed: %s", failure)
            return []
        except Exception:
            log.exception("weekly report pass failed")
            return []
        if queued:
            log.info("queued %s weekly report(s)", len(queued))
            self._deliver_soon()
        return queued

    def _deliver_soon(self) -> None:
        if self.dispatcher is None:
            return
        if self._scheduler.running:
            # Run the delivery job now rather than here, so deliveries never run twice at once;
            # a delivery run under way when this is asked runs again (APScheduler would skip).
            self._wake.set()
            self._scheduler.modify_job("webhook-delivery", next_run_time=datetime.now(UTC))
        else:
            self.deliver()

    def deliver(self) -> None:
        """Queue new flags and send what is due, until nothing is or the process stops."""
        if self.dispatcher is None:
            return
        try:
            while True:
                self._wake.clear()
                self.dispatcher.run_once(self._stopping.is_set)
                if not self._wake.is_set() or self._stopping.is_set():
                    break
        except StoreUnavailable as exc:
            log.warning("webhook delivery skipped: %s", exc.detail)
        except DBAPIError as exc:
            failure = type(exc.orig).__name__
            log.warning("webhook delivery skipped: the database failed: %s", failure)
        except Exception:
            log.exception("webhook delivery failed")
