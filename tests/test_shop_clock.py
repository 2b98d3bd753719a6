"""The shop's one clock (app.db.utcnow): tests move it instead of sleeping, and the move reaches every
module that reads it, including those that imported the function by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.db import utcnow
from app.flash_sales import service as flash_service


def test_moving_the_clock_moves_every_reader(shop_clock):
    before = datetime.now(UTC)
    moved = shop_clock.advance(timedelta(days=3))
    assert moved - before >= timedelta(days=3)
    assert utcnow() - before >= timedelta(days=3)
    assert flash_service.now() - before >= timedelta(days=3)


def test_setting_the_clock_reads_that_time(shop_clock):
    shop_clock.set(datetime(2027, 1, 31, 12, 0, tzinfo=UTC))
    assert abs(utcnow() - datetime(2027, 1, 31, 12, 0, tzinfo=UTC)) < timedelta(seconds=5)


def test_the_clock_is_back_after_the_test():
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)
