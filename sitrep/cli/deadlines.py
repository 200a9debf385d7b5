"""``sitrep deadlines check``: one pass of the deadline scheduler, for cron and tests."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sitrep.cli.common import day_option, plural, store_session


def deadlines_check(
    today: Annotated[
        str | None,
        typer.Option(
            "--today", metavar="YYYY-MM-DD", help="The day to check as; default today (UTC)."
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            max=3600,
            help="Seconds at most to spend delivering webhooks before exiting.",
        ),
    ] = 30.0,
) -> None:
    """One scheduler pass (for cron): flag the deadlines due, print each flag, queue the weekly
    reports due (with SITREP_REPORT_WEEKDAY and webhooks), deliver them."""
    from projections.runner import Projector
    from sitrep.deadlines import check_deadlines
    from sitrep.webhooks import Dispatcher
    from sitrep.weekly import WeeklyReports

    day = day_option(today, "--today")
    with store_session() as (settings, store):
        projector = Projector(store)
        on = day or store.clock().date()
        flags = check_deadlines(store, projector, on, settings.alert_thresholds)
        for flag in flags:
            typer.echo(_flag_line(flag.mission, flag.data, flag.id))
        dispatcher = Dispatcher.from_settings(store, settings)
        if dispatcher is None:
            delivery = "no webhooks configured"
        else:
            try:
                if settings.report_weekday is not None:
                    weekly = WeeklyReports(store, projector, dispatcher,
                                           settings.report_weekday)  # fmt: skip
                    for msg_id in weekly.run(on):
                        typer.echo(f"queued a weekly report [{msg_id}]")
                attempts = dispatcher.drain(wait)
                pending = dispatcher.pending()
            finally:
                dispatcher.close()
            delivered = sum(1 for a in attempts if a.state == "delivered")
            failed = sum(1 for a in attempts if a.state == "failed")
            delivery = f"{plural(delivered, 'webhook')} delivered"
            if pending:
                delivery += f", {pending} pending (retried by the next run or sitrep serve)"
            if failed:
                delivery += f", {failed} failed for good"
    typer.echo(f"{plural(len(flags), 'new flag')}; {delivery}", err=True)




def _flag_line(mission: str, data: dict[str, Any], event_id: str) -> str:
    ref = data.get("resolution") or data.get("review_id")
    days = data["days_remaining"]
    if days >= 0:
        when = f"{plural(days, 'day')} remaining"
    elif data["deadline"] == "mandate_expiry":  # what is known is the record, not the world
        when = f"expired {plural(-days, 'day')} ago, no renewal recorded"
    else:
        when = f"{plural(-days, 'day')} overdue"
    return (
        f"flagged {mission} {data['deadline']} {ref} due {data['due_on']}: {when} "
        f"(threshold {data['threshold_days']}) [{event_id}]"
    )
