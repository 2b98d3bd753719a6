"""Security of traceability (issue 13, items 10, 11, 12 and 15), each attack tried in many variants.

* Lockout as a weapon (13.10): junk codes from a shared network never stop a genuine code from answering, on
  the API or the page; guessing unknown codes is still slowed, per client network (IPv4 /24, IPv6 /48).
* Private files (13.11): event photos are re-encoded (GPS EXIF, appended HTML and text chunks gone); GIF, SVG,
  HTML and other files disguised as images are refused and nothing is stored; client file names (path
  traversal) never reach the disk; nothing of ours is reachable under /media/ (guessed or known paths,
  encoded traversal); certificate scans are served only to staff, or to anyone for a certificate a published
  product shows, always as an attachment with nosniff; files stored before the fix are moved and re-encoded.
* CSP on the trace pages (13.12): every state of the page carries a CSP without 'unsafe-inline' and has no
  inline style or script for it to block.
* Documentation (13.15): the certificate download is documented as the file it answers, not JSON.
"""

from __future__ import annotations

import importlib.util
import io
import re
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from app.config import get_settings
from app.db import get_engine, session_scope
from app.traceability import codes as codebook
from app.traceability.models import BatchEvent, Certificate
from app.users.models import Role
from tests.catalog.factories import create_product
from tests.problems import assert_problem
from tests.traceability import factories as f
from tests.users.factories import auth, create_user

ROOT = Path(__file__).resolve().parents[2]


def client_at(ip: str) -> httpx.AsyncClient:
    """A browser/phone whose TCP peer address is `ip` (its own cookie jar)."""
    from app.main import app

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://testserver"
    )


@pytest.fixture
async def staff():
    return auth(await create_user(role=Role.merchant))


def _junk(kind: str, n: int) -> str:
    if kind == "well_formed":
        return codebook.new_code()
    if kind == "pretty_well_formed":
        return codebook.pretty(codebook.new_code()).lower()
    raise AssertionError(kind)


# --------------------------------------------------------------------------- 13.10 lockouts


class TestJunkCodesNeverBlockAGenuineCode:
    @pytest.mark.parametrize("junk_kind", ["well_formed", "pretty_well_formed"])
    @pytest.mark.parametrize(
        ("attacker", "victim"),
        [
            ("203.0.113.7", "203.0.113.7"),  # the same address (a carrier NAT)
            ("203.0.113.7", "203.0.113.200"),  # a neighbour on the same campus /24
            ("2001:db8:1:1::1", "2001:db8:1:2::99"),  # another /64 of the same IPv6 /48
            ("::ffff:203.0.113.9", "203.0.113.9"),  # IPv4-mapped IPv6 and plain IPv4
        ],
    )
    @pytest.mark.parametrize("surface", ["api", "page"])
    async def test_after_the_limit_a_real_code_still_answers(
        self, monkeypatch, junk_kind, attacker, victim, surface
    ):
        monkeypatch.setattr(get_settings(), "trace_max_misses_per_ip", 5)
        batch = await f.create_batch()
        [code] = await f.create_codes(batch)
        async with client_at(attacker) as bad, client_at(victim) as buyer:
            for i in range(8):
                response = await bad.get(f"/api/trace/{_junk(junk_kind, i)}")
                assert response.status_code in (404, 429)
            # The guesser is slowed down...
            assert_problem(await buyer.get(f"/api/trace/{codebook.new_code()}"), 429, "too_many_attempts")
            # ...but the genuine bag answers for everyone behind that network.
            if surface == "api":
                response = await buyer.get(f"/api/trace/{code}")
                assert response.status_code == 200 and response.json()["verdict"] == "genuine"
            else:
                response = await buyer.get(f"/trace/{code}")
                assert response.status_code == 200 and "正品验证通过" in response.text

    @pytest.mark.parametrize(
        ("guesser", "other"),
        [
            ("203.0.113.7", "198.51.100.7"),
            ("203.0.113.7", "203.0.114.7"),  # the next /24
            ("2001:db8:1::1", "2001:db8:2::1"),  # another /48
        ],
    )
    async def test_guessing_is_throttled_per_network_only(self, monkeypatch, guesser, other):
        monkeypatch.setattr(get_settings(), "trace_max_misses_per_ip", 3)
        async with client_at(guesser) as bad, client_at(other) as elsewhere:
            for _ in range(3):
                assert_problem(await bad.get(f"/api/trace/{codebook.new_code()}"), 404, "unknown_code")
            limited = await bad.get(f"/api/trace/{codebook.new_code()}")
            assert_problem(limited, 429, "too_many_attempts")
            assert int(limited.headers["retry-after"]) >= 1
            page = await bad.get(f"/trace/{codebook.new_code()}")
            assert page.status_code == 429 and "查询过于频繁" in page.text
            assert_problem(await elsewhere.get(f"/api/trace/{codebook.new_code()}"), 404, "unknown_code")

    @pytest.mark.parametrize(
        "typo", ["NOPE", "' OR 1=1--", "A" * 300, "0000-0000-0000-01", "中文", "%00", "../../etc/passwd"]
    )
    async def test_mistyped_codes_do_not_use_up_a_networks_allowance(self, monkeypatch, typo):
        """A code that fails its check symbol costs no lookup and tells a guesser nothing: never counted."""
        monkeypatch.setattr(get_settings(), "trace_max_misses_per_ip", 2)
        async with client_at("203.0.113.50") as phone:
            for _ in range(5):
                assert (await phone.get(f"/api/trace/{typo}")).status_code in (404, 422)
            assert_problem(await phone.get(f"/api/trace/{codebook.new_code()}"), 404, "unknown_code")


# --------------------------------------------------------------------------- 13.11 files


def _image(fmt: str, *, gps: bool = True, size=(48, 32)) -> bytes:
    image = Image.new("RGB", size, (40, 140, 60))
    out = io.BytesIO()
    kwargs = {}
    if gps:
        exif = Image.Exif()
        exif[0x010F] = "SpyCam"
        exif[0x8825] = {1: "N", 2: (45.0, 16.0, 12.0), 3: "E", 4: (127.0, 10.0, 5.0)}
        kwargs["exif"] = exif
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def _png_with_text_chunk(text: bytes) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text.decode())
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(out, "PNG", pnginfo=info)
    return out.getvalue()


HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
GPS_IMAGES = {
    "jpeg_gps": lambda: _image("JPEG"),
    "png_gps": lambda: _image("PNG"),
    "webp_gps": lambda: _image("WEBP"),
}
POLYGLOTS = {
    "png_plus_html": lambda: _image("PNG", gps=False) + HTML,
    "jpeg_plus_html": lambda: _image("JPEG", gps=False) + HTML,
    "webp_plus_js": lambda: _image("WEBP", gps=False) + b"<script>alert(1)</script>",
    "png_text_chunk_script": lambda: _png_with_text_chunk(HTML),
    "jpeg_gps_plus_html": lambda: _image("JPEG") + HTML,
}
DISGUISED = {
    "gif": (lambda: _image("GIF", gps=False), "photo.png", "image/png"),
    "svg_script": (
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "x.png",
        "image/png",
    ),
    "svg_xml_decl": (
        lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        "x.jpg",
        "image/jpeg",
    ),
    "html": (lambda: HTML, "photo.jpg", "image/jpeg"),
    "bmp": (lambda: _image("BMP", gps=False), "photo.jpg", "image/jpeg"),
    "tiff": (lambda: _image("TIFF", gps=False), "photo.jpg", "image/jpeg"),
    "empty": (lambda: b"", "photo.jpg", "image/jpeg"),
    "png_magic_then_html": (lambda: b"\x89PNG\r\n\x1a\n" + HTML, "x.png", "image/png"),
    "jpeg_magic_then_html": (lambda: b"\xff\xd8\xff\xe0" + HTML, "x.jpg", "image/jpeg"),
    "riff_webp_then_html": (lambda: b"RIFF\x00\x00\x00\x00WEBP" + HTML, "x.webp", "image/webp"),
    "exe": (lambda: b"MZ\x90\x00" + b"\x00" * 64, "x.png", "image/png"),
}
TRAVERSAL_NAMES = [
    "../../../../etc/passwd.png",
    "..\\..\\..\\windows\\win.ini.png",
    "/etc/cron.d/evil.png",
    "%2e%2e%2f%2e%2e%2fevil.png",
    "....//....//evil.png",
    "evil.png\x00.html",
    "../media/trace/evil.html",
    "~/.ssh/authorized_keys.png",
]


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _escaped() -> list[Path]:
    """Files a traversing name would have written outside the private directory."""
    return [*ROOT.glob("**/evil.*"), *[p for p in [Path("/etc/cron.d/evil.png")] if p.exists()]]


def _assert_clean_jpeg(data: bytes) -> None:
    assert data.startswith(b"\xff\xd8\xff")
    for marker in (b"<script", b"<html", b"<svg", b"SpyCam", b"alert("):
        assert marker not in data
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        exif = image.getexif()
        assert 0x8825 not in exif and 0x010F not in exif
        assert not exif.get_ifd(0x8825)
    assert data.rstrip(b"\x00").endswith(b"\xff\xd9")  # nothing rides after the end of the image


async def _event_with_photo_url(client, staff, data: bytes, name="photo.jpg", content_type="image/jpeg"):
    batch = await f.create_batch()
    event = await f.create_event(batch)
    response = await client.put(
        f"/api/admin/batches/{batch.id}/events/{event.id}/photo",
        files={"file": (name, data, content_type)},
        headers=staff,
    )
    return batch, event, response


class TestEventPhotosAreReencoded:
    @pytest.mark.parametrize("kind", sorted(GPS_IMAGES))
    async def test_gps_exif_is_gone(self, client, staff, kind):
        original = GPS_IMAGES[kind]()
        with Image.open(io.BytesIO(original)) as check:  # the attack is real: the upload carries GPS
            assert check.getexif().get_ifd(0x8825)
        _, _, response = await _event_with_photo_url(client, staff, original)
        assert response.status_code == 200, response.text
        photo = await client.get(response.json()["photo_url"])
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
        assert photo.headers["x-content-type-options"] == "nosniff"
        _assert_clean_jpeg(photo.content)

    @pytest.mark.parametrize("kind", sorted(POLYGLOTS))
    async def test_polyglots_lose_their_payload(self, client, staff, kind):
        _, _, response = await _event_with_photo_url(
            client, staff, POLYGLOTS[kind](), content_type="text/html"
        )
        assert response.status_code == 200, response.text
        photo = await client.get(response.json()["photo_url"])
        assert photo.headers["content-type"] == "image/jpeg"
        _assert_clean_jpeg(photo.content)

    @pytest.mark.parametrize("kind", sorted(DISGUISED))
    async def test_files_disguised_as_images_are_refused_and_nothing_is_stored(self, client, staff, kind):
        make, name, content_type = DISGUISED[kind]
        settings = get_settings()
        before = _all_files(settings.private_files_dir) | _all_files(settings.media_dir)
        _, event, response = await _event_with_photo_url(client, staff, make(), name, content_type)
        assert response.status_code in (413, 415, 422), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] in {"unsupported_file_type", "invalid_image", "image_too_large"}
        after = _all_files(settings.private_files_dir) | _all_files(settings.media_dir)
        assert after == before
        async with session_scope() as session:
            assert (await session.get(BatchEvent, event.id)).photo_path is None

    @pytest.mark.parametrize("name", TRAVERSAL_NAMES)
    async def test_client_file_names_never_reach_the_disk(self, client, staff, name):
        settings = get_settings()
        _, event, response = await _event_with_photo_url(client, staff, _image("PNG"), name, "image/png")
        assert response.status_code == 200, response.text
        async with session_scope() as session:
            stored = (await session.get(BatchEvent, event.id)).photo_path
        assert re.fullmatch(r"trace/photos/[0-9a-f]{32}\.jpg", stored)
        assert (settings.private_files_dir / stored).is_file()
        assert not _all_files(settings.media_dir / "trace")
        assert not _escaped()


class TestNothingOfOursUnderMedia:
    async def _stored(self, client, staff) -> list[str]:
        _, event, response = await _event_with_photo_url(client, staff, _image("JPEG"))
        assert response.status_code == 200
        cert = await f.create_certificate(product_id=(await create_product()).id)
        upload = await client.put(
            f"/api/admin/certificates/{cert.id}/file",
            files={"file": ("scan.pdf", b"%PDF-1.4\n%secret\n", "application/pdf")},
            headers=staff,
        )
        assert upload.status_code == 200
        async with session_scope() as session:
            photo = (await session.get(BatchEvent, event.id)).photo_path
            document = (await session.get(Certificate, cert.id)).file_path
        return [photo, document]

    @pytest.mark.parametrize(
        "template",
        [
            "/media/{path}",
            "/media/{name}",
            "/media/trace/{name}",
            "/media/../private/{path}",
            "/media/%2e%2e/private/{path}",
            "/media/..%2fprivate%2f{path}",
            "/media/%2e%2e%2f%2e%2e%2fprivate/{path}",
            "/media//{path}",
            "/media/./{path}",
            "/static/../private/{path}",
            "/static/%2e%2e/%2e%2e/var/private/{path}",
        ],
    )
    async def test_known_and_guessed_paths_are_404(self, client, staff, template):
        for path in await self._stored(client, staff):
            url = template.format(path=path, name=path.rsplit("/", 1)[-1])
            response = await client.get(url)
            assert response.status_code in (400, 404), (url, response.status_code)
            assert b"%secret" not in response.content and b"\xff\xd8\xff" not in response.content[:3]

    @pytest.mark.parametrize(
        "uuid_text",
        ["..%2F..%2Fetc%2Fpasswd", "%2e%2e", "'%20OR%20'1'='1", str(uuid.uuid4()), "a" * 500, "%00"],
    )
    async def test_photo_route_knows_only_photo_ids(self, client, uuid_text):
        response = await client.get(f"/api/trace/event-photos/{uuid_text}")
        assert response.status_code == 404 and b"root:" not in response.content


OWNERS = ["product", "batch", "producer"]


async def _certificate(owner: str, *, published: bool) -> Certificate:
    product = await create_product(status="published" if published else "draft")
    producer = await f.create_producer()
    batch = await f.create_batch(product=product, producer=producer)
    target = {"product": {"product_id": product.id}, "batch": {"batch_id": batch.id}}.get(
        owner, {"producer_id": producer.id}
    )
    return await f.create_certificate(**target)


async def _attach(client, staff, cert: Certificate, data: bytes, name="scan.pdf") -> None:
    response = await client.put(
        f"/api/admin/certificates/{cert.id}/file",
        files={"file": (name, data, "application/pdf")},
        headers=staff,
    )
    assert response.status_code == 200, response.text


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n"


class TestCertificateFiles:
    @pytest.mark.parametrize("owner", OWNERS)
    async def test_shown_on_a_published_product_anyone_may_download_it_as_an_attachment(
        self, client, staff, owner
    ):
        cert = await _certificate(owner, published=True)
        await _attach(client, staff, cert, PDF)
        response = await client.get(f"/api/trace/certificates/{cert.id}/file")
        assert response.status_code == 200 and response.content == PDF
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-disposition"] == f'attachment; filename="certificate-{cert.id}.pdf"'
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in response.headers["content-security-policy"]

    @pytest.mark.parametrize("owner", OWNERS)
    @pytest.mark.parametrize("who", ["anonymous", "customer", "bearer_garbage"])
    async def test_not_shown_publicly_it_is_404_for_all_but_staff(self, client, staff, owner, who):
        cert = await _certificate(owner, published=False)
        await _attach(client, staff, cert, PDF)
        headers = {
            "anonymous": {},
            "customer": auth(await create_user()),
            "bearer_garbage": {"Authorization": "Bearer x.y.z"},
        }[who]
        response = await client.get(f"/api/trace/certificates/{cert.id}/file", headers=headers)
        assert_problem(response, 404, "certificate_not_found")
        assert b"%PDF" not in response.content
        staff_copy = await client.get(f"/api/admin/certificates/{cert.id}/file", headers=staff)
        assert staff_copy.status_code == 200 and staff_copy.content == PDF
        assert staff_copy.headers["content-disposition"].startswith("attachment;")
        assert staff_copy.headers["x-content-type-options"] == "nosniff"
        if who != "anonymous":
            denied = await client.get(f"/api/admin/certificates/{cert.id}/file", headers=headers)
            assert denied.status_code in (401, 403)

    async def test_a_certificate_without_a_file_or_of_nothing_is_404(self, client, staff):
        cert = await _certificate("product", published=True)
        assert_problem(
            await client.get(f"/api/trace/certificates/{cert.id}/file"), 404, "certificate_not_found"
        )
        lonely = await f.create_certificate(
            producer_id=(await f.create_producer()).id
        )  # no batch, no product
        await _attach(client, staff, lonely, PDF)
        assert_problem(
            await client.get(f"/api/trace/certificates/{lonely.id}/file"), 404, "certificate_not_found"
        )

    @pytest.mark.parametrize(
        "raw_id", ["0", "-1", "99999999", "1.5", "abc", "１", "²", "9" * 30, "1%2F..%2F2"]
    )
    async def test_odd_ids_never_answer_a_file(self, client, staff, raw_id):
        cert = await _certificate("product", published=True)
        await _attach(client, staff, cert, PDF)
        response = await client.get(f"/api/trace/certificates/{raw_id}/file")
        assert response.status_code in (404, 422)
        assert response.headers["content-type"].startswith("application/problem+json")

    @pytest.mark.parametrize(
        "kind", ["jpeg_gps", "png_gps", "webp_gps", "png_plus_html", "jpeg_gps_plus_html"]
    )
    async def test_image_scans_are_reencoded_too(self, client, staff, kind):
        cert = await _certificate("batch", published=True)
        data = {**GPS_IMAGES, **POLYGLOTS}[kind]()
        await _attach(client, staff, cert, data, name="scan.html")
        response = await client.get(f"/api/trace/certificates/{cert.id}/file")
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert response.headers["content-disposition"].endswith('.jpg"')
        _assert_clean_jpeg(response.content)

    @pytest.mark.parametrize("kind", sorted(DISGUISED))
    async def test_disguised_scans_are_refused(self, client, staff, kind):
        cert = await _certificate("product", published=True)
        make, name, content_type = DISGUISED[kind]
        response = await client.put(
            f"/api/admin/certificates/{cert.id}/file",
            files={"file": (name, make(), content_type)},
            headers=staff,
        )
        assert response.status_code in (413, 415, 422)
        async with session_scope() as session:
            assert (await session.get(Certificate, cert.id)).file_path is None

    async def test_trace_page_links_the_public_scan_only(self, client, staff):
        cert = await _certificate("batch", published=True)
        await _attach(client, staff, cert, PDF)
        [code] = await f.create_codes(await _batch_of(cert))
        body = (await client.get(f"/api/trace/{code}")).json()
        assert [c["file_url"] for c in body["certificates"]] == [f"/api/trace/certificates/{cert.id}/file"]
        assert f"/api/trace/certificates/{cert.id}/file" in (await client.get(f"/trace/{code}")).text
        hidden = await _certificate("batch", published=False)
        await _attach(client, staff, hidden, PDF)
        [other] = await f.create_codes(await _batch_of(hidden))
        assert [c["file_url"] for c in (await client.get(f"/api/trace/{other}")).json()["certificates"]] == [
            None
        ]


async def _batch_of(cert: Certificate):
    from app.traceability.models import Batch

    async with session_scope() as session:
        return await session.get(Batch, cert.batch_id)


def _migration():
    path = next((ROOT / "alembic" / "versions").glob("*_trace_private_files.py"))
    spec = importlib.util.spec_from_file_location("trace_private_files_migration", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


class TestFilesStoredBeforeTheFixAreMoved:
    async def test_migration_moves_reencodes_and_quarantines_and_is_idempotent(self, client, staff):
        settings = get_settings()
        media, private = settings.media_dir, settings.private_files_dir
        old = {
            "photo": ("trace/photos/old-photo.png", _image("PNG") + HTML),
            "scan": ("trace/certificates/old-scan.pdf", PDF),
            "image_scan": ("trace/certificates/old-scan.jpg", _image("JPEG")),
            "junk": ("trace/photos/old-junk.png", b"<svg onload=alert(1)>"),
        }
        for relative, data in old.values():
            (media / relative).parent.mkdir(parents=True, exist_ok=True)
            (media / relative).write_bytes(data)
        cert_pdf = await _certificate("product", published=True)
        cert_img = await _certificate("product", published=True)
        batch = await f.create_batch()
        photo_event = await f.create_event(batch)
        junk_event = await f.create_event(batch)
        async with session_scope() as session:
            (await session.get(BatchEvent, photo_event.id)).photo_path = old["photo"][0]
            (await session.get(BatchEvent, junk_event.id)).photo_path = old["junk"][0]
            pdf_row = await session.get(Certificate, cert_pdf.id)
            pdf_row.file_path, pdf_row.file_content_type = old["scan"][0], "application/pdf"
            img_row = await session.get(Certificate, cert_img.id)
            img_row.file_path, img_row.file_content_type = old["image_scan"][0], "image/jpeg"
        # Before: reachable by anyone who learns the path.
        assert (await client.get(f"/media/{old['scan'][0]}")).status_code == 200

        migration = _migration()
        async with get_engine().begin() as conn:
            moved = await conn.run_sync(lambda c: migration.relocate(c, media, private))
        assert moved == {"photos": 1, "certificates": 2, "quarantined": 1}
        async with get_engine().begin() as conn:
            again = await conn.run_sync(lambda c: migration.relocate(c, media, private))
        assert again == {"photos": 0, "certificates": 0, "quarantined": 0}

        for relative, _ in old.values():
            assert not (media / relative).exists()
            assert (await client.get(f"/media/{relative}")).status_code == 404
        photo = await client.get(f"/api/trace/event-photos/{photo_event.event_uuid}")
        assert photo.status_code == 200
        _assert_clean_jpeg(photo.content)
        assert (await client.get(f"/api/trace/event-photos/{junk_event.event_uuid}")).status_code == 404
        assert (await client.get(f"/api/trace/certificates/{cert_pdf.id}/file")).content == PDF
        image_scan = await client.get(f"/api/trace/certificates/{cert_img.id}/file")
        _assert_clean_jpeg(image_scan.content)
        quarantined = _all_files(private / "trace" / "quarantine")
        assert [p.read_bytes() for p in quarantined] == [b"<svg onload=alert(1)>"]
        async with session_scope() as session:
            paths = (
                (await session.execute(select(BatchEvent.photo_path).order_by(BatchEvent.id))).scalars().all()
            )
        assert paths[1] is None and re.fullmatch(r"trace/photos/[0-9a-f]{32}\.jpg", paths[0])


# --------------------------------------------------------------------------- 13.12 CSP on the trace pages


INLINE = re.compile(r"<style|\sstyle\s*=|<script(?![^>]*\bsrc=)|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


class TestTracePagesCarryTheCsp:
    @pytest.mark.parametrize(
        "state", ["genuine", "suspicious_revoked", "past_best_before", "unknown", "throttled"]
    )
    async def test_every_state_has_a_strict_csp_and_nothing_inline(self, client, staff, monkeypatch, state):
        from datetime import timedelta

        from app.traceability.service import today

        batch = await f.create_batch(
            best_before_on=today() - timedelta(days=1) if state == "past_best_before" else None
        )
        await f.create_event(batch)
        await f.create_certificate(batch_id=batch.id)
        [code] = await f.create_codes(batch)
        if state == "suspicious_revoked":
            await client.post("/api/admin/trace-codes/revoke", json={"codes": [code]}, headers=staff)
        if state in ("unknown", "throttled"):
            if state == "throttled":
                monkeypatch.setattr(get_settings(), "trace_max_misses_per_ip", 1)
                await client.get(f"/trace/{codebook.new_code()}")
            code = codebook.new_code()
        response = await client.get(f"/trace/{code}")
        assert response.status_code == {"unknown": 404, "throttled": 429}.get(state, 200)
        csp = response.headers["content-security-policy"]
        assert "style-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert INLINE.search(response.text) is None, INLINE.search(response.text)
        assert "/static/css/trace.css" in response.text


# --------------------------------------------------------------------------- 13.15 the documented content


class TestCertificateDownloadIsDocumentedAsAFile:
    @pytest.mark.parametrize(
        "path",
        ["/api/admin/certificates/{certificate_id}/file", "/api/trace/certificates/{certificate_id}/file"],
    )
    def test_200_is_a_pdf_or_jpeg_never_json(self, path):
        from app.main import app

        ok = app.openapi()["paths"][path]["get"]["responses"]["200"]
        assert set(ok["content"]) == {"application/pdf", "image/jpeg"}
        assert all(v["schema"] == {"type": "string", "format": "binary"} for v in ok["content"].values())
