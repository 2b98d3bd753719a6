"""Uploaded files and the rows that point to them never disagree (issue 17.7): a disk that refuses a write
answers 507 `storage_unavailable` with nothing stored and no partial file; a file whose row never committed,
or that a newer upload replaced, is swept by the worker once it is past the grace period, while every file a
row points to stays."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import time
from pathlib import Path

import pytest

from app.catalog import images
from app.catalog.tasks import sweep_media
from app.config import get_settings
from app.db import session_scope
from app.errors import StorageUnavailable
from app.kit import storage
from app.users.models import Role
from tests.catalog.factories import create_product
from tests.catalog.test_images import image_count, media_files, picture, upload
from tests.users.factories import auth, create_user
from tests.users.test_router import assert_problem


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name.endswith(storage.TMP_SUFFIX)]


class TestWrite:
    @pytest.mark.parametrize("size", [1, 4096, 300_000])
    def test_a_full_disk_leaves_no_partial_file(self, tmp_path, size):
        # RLIMIT_FSIZE makes the write fail part-way, as a disk that fills up during it would.
        target = tmp_path / "products" / "1" / "photo.jpg"
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, hard))
        try:
            with pytest.raises(StorageUnavailable):
                storage.write(target, b"x" * size)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, previous)
        assert not target.exists()
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []

    @pytest.mark.parametrize("blocker", ["products", "products/1"])
    def test_a_directory_that_cannot_be_made_is_refused_cleanly(self, tmp_path, blocker):
        (tmp_path / blocker).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / blocker).write_bytes(b"not a directory")
        with pytest.raises(StorageUnavailable):
            storage.write(tmp_path / "products" / "1" / "photo.jpg", b"jpeg")
        assert _leftovers(tmp_path) == []

    def test_a_write_replaces_the_whole_file(self, tmp_path):
        target = tmp_path / "a" / "b.jpg"
        storage.write(target, b"first version, longer")
        storage.write(target, b"second")
        assert target.read_bytes() == b"second"
        assert _leftovers(tmp_path) == []


class TestUploadWhenTheDiskRefuses:
    async def test_507_and_no_row_points_to_a_missing_file(self, client):
        headers = auth(await create_user(role=Role.merchant))
        product = await create_product()
        products = get_settings().media_dir / "products"
        products.mkdir(parents=True, exist_ok=True)
        blocker = products / str(product.id)
        shutil.rmtree(blocker, ignore_errors=True)  # another test's files for a product of the same id
        blocker.write_bytes(b"a file where the product's folder should be")
        before = media_files()
        try:
            response = await upload(client, product.id, headers, picture())
        finally:
            blocker.unlink()
        before.discard(str(blocker))

        assert_problem(response, 507, "storage_unavailable")
        assert await image_count() == 0
        assert media_files() == before
        detail = (await client.get(f"/api/products/{product.id}")).json()
        assert detail["images"] == []


class TestSweep:
    async def test_orphans_past_the_grace_period_go_and_every_referenced_file_stays(self, client):
        headers = auth(await create_user(role=Role.merchant))
        product = await create_product()
        kept = (await upload(client, product.id, headers, picture())).json()
        kept_path = images.path_for(kept["url"])
        # A file written for a transaction that then failed: no row names it.
        orphan_url = images.store(product.id, picture())
        orphan_path = images.path_for(orphan_url)
        fresh_orphan_url = images.store(product.id, picture())
        interrupted = orphan_path.with_name(f".x.jpg.0123456789ab{storage.TMP_SUFFIX}")
        interrupted.write_bytes(b"half a jpeg")
        for path in (kept_path, orphan_path, interrupted):
            _age(path, storage.ORPHAN_GRACE_SECONDS + 60)

        async with session_scope() as session:
            deleted = await sweep_media(session)

        assert deleted == 2
        assert kept_path.exists() and not orphan_path.exists() and not interrupted.exists()
        # Younger than the grace period: its transaction may still be about to commit.
        assert images.path_for(fresh_orphan_url).exists()
        served = await client.get(kept["url"])
        assert served.status_code == 200

    async def test_a_deleted_image_file_goes_with_its_row(self, client):
        headers = auth(await create_user(role=Role.merchant))
        product = await create_product()
        image = (await upload(client, product.id, headers, picture())).json()
        response = await client.delete(
            f"/api/admin/products/{product.id}/images/{image['id']}", headers=headers
        )
        assert response.status_code == 204
        assert not images.path_for(image["url"]).exists()

    async def test_trace_files_no_row_names_go_and_the_quarantine_stays(self):
        from app.traceability import files
        from app.traceability.tasks import sweep_files

        orphan = files.root() / "trace" / "photos" / "0123abcd.jpg"
        quarantined = files.root() / "trace" / "quarantine" / "4567ef.bin"
        for path in (orphan, quarantined):
            storage.write(path, b"bytes")
            _age(path, storage.ORPHAN_GRACE_SECONDS + 60)
        async with session_scope() as session:
            assert await sweep_files(session) == 1
        assert not orphan.exists() and quarantined.exists()


class TestRemoveAfterCommit:
    """app.kit.storage.remove_after_commit: the one way a request deletes a file its rows stop naming."""

    def _file(self, tmp_path: Path) -> Path:
        path = tmp_path / "products" / "1" / "old.jpg"
        storage.write(path, b"jpeg")
        return path

    async def test_the_file_goes_only_once_the_unit_of_work_has_committed(self, tmp_path):
        path = self._file(tmp_path)
        async with session_scope() as session:
            storage.remove_after_commit(session, path)
            assert path.exists()
        assert not path.exists()

    async def test_a_unit_of_work_that_fails_keeps_the_file(self, tmp_path):
        path = self._file(tmp_path)
        with pytest.raises(RuntimeError):
            async with session_scope() as session:
                storage.remove_after_commit(session, path)
                raise RuntimeError("the commit never comes")
        assert path.exists()

    async def test_a_refusal_keeps_the_file(self, tmp_path):
        path = self._file(tmp_path)
        with pytest.raises(StorageUnavailable):
            async with session_scope() as session:
                storage.remove_after_commit(session, path)
                raise StorageUnavailable()
        assert path.exists()

    async def test_no_file_asked_twice_or_already_gone_is_no_failure(self, tmp_path):
        path = self._file(tmp_path)
        async with session_scope() as session:
            storage.remove_after_commit(session, None)
            storage.remove_after_commit(session, path)
            storage.remove_after_commit(session, path)
            storage.remove_after_commit(session, tmp_path / "never-written.jpg")
            assert len(session.info["after_commit"]) == 2
        assert not path.exists()

    async def test_a_replaced_certificate_scan_goes_and_the_new_one_stays(self, client):
        from app.traceability import files
        from app.traceability.models import Certificate
        from tests.traceability import factories as trace_factories

        headers = auth(await create_user(role=Role.merchant))
        producer = await trace_factories.create_producer()
        cert = await trace_factories.create_certificate(producer_id=producer.id)
        url = f"/api/admin/certificates/{cert.id}/file"

        async def stored() -> Path:
            async with session_scope() as session:
                relative = (await session.get(Certificate, cert.id)).file_path
            return files.path_of(relative)

        first = b"%PDF-1.4\n%first\n"
        assert (
            await client.put(url, files={"file": ("a.pdf", first, "application/pdf")}, headers=headers)
        ).status_code == 200
        old = await stored()
        second = b"%PDF-1.4\n%second\n"
        assert (
            await client.put(url, files={"file": ("b.pdf", second, "application/pdf")}, headers=headers)
        ).status_code == 200
        new = await stored()
        assert new != old and not old.exists() and new.read_bytes() == second
