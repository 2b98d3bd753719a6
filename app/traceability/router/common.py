"""What the trace routers share: tags, the staff error responses, the certificate file answer."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from app.errors import Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.traceability import certificates, files

STAFF = ["traceability"]
PUBLIC = ["trace"]
AUTH_ERRORS = (NotAuthenticated, Forbidden)
MAX_LABELS = 5000


def staff_errors(*errors: Any, validation: bool = True) -> dict:
    return problem_responses(*AUTH_ERRORS, *errors, validation=validation)


CERTIFICATE_FILE_RESPONSE = {
    200: {
        "description": "The scan as an attachment: a PDF, or a JPEG (images are re-encoded when uploaded)",
        "content": {
            files.PDF: {"schema": {"type": "string", "format": "binary"}},
            files.JPEG: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def file_response(found: certificates.CertificateFile, cache_control: str) -> Response:
    return Response(
        found.data,
        media_type=found.content_type,
        headers={
            **files.FILE_HEADERS,
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Cache-Control": cache_control,
        },
    )
