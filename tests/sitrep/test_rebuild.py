"""`sitrep rebuild`: the read models come back the same from the events alone."""

from __future__ import annotations

from datetime import date

from typer.testing import CliRunner

from projections import force_strength
from projections.runner import Projector
from sitrep.cli import app
from sitrep.database import open_store
from tests.conftest import append, arrived, corrected, departed, make_settings, registered


def test_rebuild_gives_the_same_answers(database_url: str) -> None:
    store = open_store(make_settings(database_url))
    append(store, registered())
    (first,) = append(store, arrived(400))
    append(store, departed(50, on="2024-08-01"), arrived(24, country="JAM"))
    append(store, corrected(first.id, {"country": "KEN", "personnel": 200, "category": "police"}))
    projector = Projector(store)

    def answer() -> object:
        return projector.query(
            lambda conn, g: force_strength.as_of(
                conn, g, "mss-haiti", date(2025, 1, 3), store.clock()
            )["by_country"]
        )

    before = answer()
    result = CliRunner().invoke(app, ["rebuild"], env={"SITREP_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert "rebuilt from 5 events" in result.output
    assert answer() == before
    assert before == [
        {"country": "KEN", "deployed": 150, "pledged": 0, "female": 0,
         "by_category": {"police": 150, "military": 0, "civilian": 0},
         "reported_on": None, "unreconciled": 0},
        {"country": "JAM", "deployed": 24, "pledged": 0, "female": 0,
         "by_category": {"police": 24, "military": 0, "civilian": 0},
         "reported_on": None, "unreconciled": 0},
    ]  # fmt: skip
    store.engine.dispose()


def test_a_rebuild_on_postgresql_leaves_the_planner_fresh_statistics(postgres_url: str) -> None:
    """Every read-model row moves to a new generation; the tables are analyzed after it, so a
    report's seeks by id stay seeks (with stale statistics one became a scan of them all)."""
    from sqlalchemy import text

    from projections.runner import TABLES

    store = open_store(make_settings(postgres_url))
    append(store, registered())
    append(store, arrived(400))
    Projector(store).rebuild()
    with store.engine.connect() as conn:
        analyzed = dict(conn.execute(text(
            "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema()"
        )).all())  # fmt: skip
    assert {t.name: analyzed.get(t.name) for t in TABLES} == dict.fromkeys(
        (t.name for t in TABLES), True
    )
    store.close()
