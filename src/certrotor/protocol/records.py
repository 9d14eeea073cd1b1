"""Certificate records (seed 004): script IDs, the records RESTlet's URL and JSON shapes, the placeholder.

NetSuite has no REST resource for certificate records (Setup > Company > Certificates); SuiteScript's
``N/certificateControl`` manages them. certrotor talks to a small RESTlet that wraps it, deployed as
``customscript_certrotor_certificates`` (deployment ``customdeploy_certrotor_certificates``, which
NetSuite also takes by its number; both are settings of a record credential), at NetSuite's RESTlet URL::

    GET    /app/site/hosting/restlet.nl?script=...&deploy=...[&record=SCRIPT_ID]  metadata (or all)
    POST   /app/site/hosting/restlet.nl?script=...&deploy=...   create  (RecordFileUpload + id, name)
    PUT    /app/site/hosting/restlet.nl?script=...&deploy=...   replace the file (RecordFileUpload)
    DELETE /app/site/hosting/restlet.nl?script=...&deploy=...&record=SCRIPT_ID  delete

The emulator serves exactly this; answers are :class:`CertificateRecordInfo` (never the key).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from certrotor.errors import InputError

SCRIPT_ID_PREFIX = "custcertificate"
"""NetSuite prefixes each record's ID: ``_oa_realtime`` becomes ``custcertificate_oa_realtime``."""
DEFAULT_RECORD_ID = "_oa_realtime"
DEFAULT_RECORD_NAME = "OpenAir real-time"
MAX_SCRIPT_ID_LENGTH = 40
MAX_RESTLET_ID_LENGTH = 40

RESTLET_PATH = "/app/site/hosting/restlet.nl"
RECORDS_RESTLET_SCRIPT = "customscript_certrotor_certificates"
RECORDS_RESTLET_DEPLOY = "1"
RECORDS_RESTLET_DEPLOYMENT_ID = "customdeploy_certrotor_certificates"
"""The deployment's script ID in the SuiteCloud project (``netsuite/``); NetSuite accepts it as ``deploy``."""
RECORD_QUERY_PARAM = "record"
OPENAIR_RECORD_SCRIPT_ID = SCRIPT_ID_PREFIX + DEFAULT_RECORD_ID
"""OpenAir's own record: its connector rotates it, so certrotor only watches it unless told otherwise."""

PLACEHOLDER_FILE_NAME = "openair-certificate.pem"
"""The bundled certificate file of the OpenAir bundle (369630): deliberately not valid (seed 004)."""

FileFormat = Literal["pem", "pkcs12"]

_SCRIPT_ID = re.compile(rf"^{SCRIPT_ID_PREFIX}[a-z0-9_]+$")


def record_script_id(record_id: str) -> str:
    """The script ID NetSuite gives a record created with ID ``record_id`` (lower case, prefixed).

    ``_oa_realtime`` and ``custcertificate_oa_realtime`` both give ``custcertificate_oa_realtime``.
    """
    value = record_id.strip().lower()
    if value and not value.startswith(SCRIPT_ID_PREFIX):
        value = SCRIPT_ID_PREFIX + value
    if not _SCRIPT_ID.fullmatch(value) or len(value) > MAX_SCRIPT_ID_LENGTH:
        raise InputError(
            f"Invalid certificate record ID {record_id!r}.",
            hint=f"use letters, digits and '_' (e.g. {DEFAULT_RECORD_ID}); NetSuite adds the "
            f"prefix {SCRIPT_ID_PREFIX!r}, and the whole ID has at most {MAX_SCRIPT_ID_LENGTH} characters.",
        )
    return value


_RESTLET_SCRIPT_ID = re.compile(r"^customscript[a-z0-9_]+$")
_RESTLET_DEPLOY_ID = re.compile(r"^(?:[1-9][0-9]*|customdeploy[a-z0-9_]+)$")


def restlet_script_param(value: str) -> str:
    """A RESTlet's ``script`` parameter: its script ID (``customscript_...``), lower case."""
    script = value.strip().lower()
    if not _RESTLET_SCRIPT_ID.fullmatch(script) or len(script) > MAX_RESTLET_ID_LENGTH:
        raise InputError(
            f"Invalid RESTlet script ID {value!r}.",
            hint=f"give the script record's ID, e.g. --script-id {RECORDS_RESTLET_SCRIPT}.",
        )
    return script


def restlet_deploy_param(value: str) -> str:
    """A RESTlet's ``deploy`` parameter: the deployment's number or its script ID (``customdeploy_...``)."""
    deploy = value.strip().lower()
    if not _RESTLET_DEPLOY_ID.fullmatch(deploy) or len(deploy) > MAX_RESTLET_ID_LENGTH:
        raise InputError(
            f"Invalid RESTlet deployment {value!r}.",
            hint=f"give its ID or number, e.g. --deploy-id {RECORDS_RESTLET_DEPLOYMENT_ID}.",
        )
    return deploy


def record_exists_message(script_id: str) -> str:
    """What the RESTlet (and the emulator) say when a record to create already exists."""
    return f'Certificate "{script_id}" already exists.'


def record_not_found_message(script_id: str) -> str:
    """Seed 004's own error text for a deleted certificate record."""
    return f'Certificate "{script_id}" not found'


@functools.cache
def placeholder_pem() -> str:
    """The bundled placeholder ``openair-certificate.pem`` (an expired certificate and its key)."""
    return resources.files("certrotor.protocol").joinpath("data", PLACEHOLDER_FILE_NAME).read_text("ascii")


@functools.cache
def placeholder_fingerprint() -> str:
    """SHA-256 fingerprint (lower-case hex) of the placeholder's certificate."""
    from certrotor.crypto import fingerprint_sha256, load_certificate_pem

    return fingerprint_sha256(load_certificate_pem(placeholder_pem()))


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CertificateRecordInfo(_Model):
    """What the RESTlet tells about one record: its certificate's public facts, never the key."""

    script_id: str
    name: str
    internal_id: int
    file_name: str
    file_format: FileFormat
    certificate: str
    """The record's certificate (PEM, public)."""
    fingerprint_sha256: str
    subject: str
    issuer: str
    key_type: str
    key_size: int
    not_before: dt.datetime
    not_after: dt.datetime
    is_placeholder: bool
    """The record holds the bundled placeholder, which is not valid."""
    valid: bool
    """The certificate is within its validity period."""
    date_created: dt.datetime
    last_modified: dt.datetime


class CertificateRecordList(_Model):
    records: list[CertificateRecordInfo]


class RecordFileUpload(BaseModel):
    """Body of a create (POST, with ``name``) or a file replacement (PUT).

    ``file_content`` is PEM text (key and certificate) for ``pem``, base64 of the DER file for
    ``pkcs12``. The private key travels here by design: NetSuite signs with it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    script_id: str = Field(min_length=1, max_length=100)
    """For a create: the ID as typed in NetSuite (``_oa_realtime``) or the full script ID."""
    name: str | None = Field(default=None, max_length=200)
    file_name: str = Field(default=PLACEHOLDER_FILE_NAME, min_length=1, max_length=200)
    file_format: FileFormat = "pem"
    file_content: str = Field(min_length=1, repr=False)
    password: str | None = Field(default=None, repr=False)
    certificate: str | None = Field(default=None, max_length=20_000)
    """The file's certificate alone (PEM, public). NetSuite's RESTlet cannot open a PKCS#12 file to
    describe the record, so a ``pkcs12`` upload to it carries this; the emulator reads the file itself."""


class RecordDeleted(_Model):
    deleted: str


class RestletErrorDetail(_Model):
    code: str
    message: str


class RestletErrorBody(_Model):
    """What NetSuite answers when a RESTlet throws (``N/error``): HTTP 400 and ``{"error": {...}}``.

    A RESTlet cannot choose its status code: the deployed RESTlet carries the emulator's error codes
    (``NONEXISTENT_ID``, ``INVALID_CONTENT``, ...) and texts in ``code`` and ``message``.
    """

    error: RestletErrorDetail


__all__ = [
    "DEFAULT_RECORD_ID",
    "DEFAULT_RECORD_NAME",
    "OPENAIR_RECORD_SCRIPT_ID",
    "PLACEHOLDER_FILE_NAME",
    "RECORDS_RESTLET_DEPLOY",
    "RECORDS_RESTLET_DEPLOYMENT_ID",
    "RECORDS_RESTLET_SCRIPT",
    "RECORD_QUERY_PARAM",
    "RESTLET_PATH",
    "SCRIPT_ID_PREFIX",
    "CertificateRecordInfo",
    "CertificateRecordList",
    "FileFormat",
    "RecordDeleted",
    "RecordFileUpload",
    "RestletErrorBody",
    "RestletErrorDetail",
    "placeholder_fingerprint",
    "placeholder_pem",
    "record_exists_message",
    "record_not_found_message",
    "record_script_id",
    "restlet_deploy_param",
    "restlet_script_param",
]
