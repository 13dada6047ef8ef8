"""The profile API's OpenAPI 3.1 document, generated from the field ownership map.

``python -m api.profile.openapi`` (``make openapi``) rewrites ``docs/openapi.json``; a test keeps
the committed document equal to what this produces. The deployed API serves no copy of it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from api.profile.requests import MAX_BODY_BYTES, PATCH_TYPES
from shared.fields import FIELDS, FieldSpec, Kind, Owner

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
_ERRORS = {
    "400": "Malformed JSON, an unknown field, or a value of the wrong type or format (`fields` names each).",
    "401": "No valid access token (answered by the API's JWT authorizer).",
    "403": "A field the caller may not write, or an admin route without the admin group.",
    "404": "No such user or profile.",
    "412": "The profile changed since the ETag sent in If-Match; the response's ETag is the current one.",
    "413": f"The body is over {MAX_BODY_BYTES} bytes.",
    "415": f"The body is not {' or '.join(PATCH_TYPES)}.",
    "428": "If-Match is missing.",
    "503": "The profile store did not answer; retry.",
}


def _schema(spec: FieldSpec) -> dict[str, Any]:
    schema: dict[str, Any]
    if spec.kind is Kind.BOOLEAN:
        schema = {"type": "boolean"}
    elif spec.kind is Kind.STRING_LIST:
        item: dict[str, Any] = {"type": "string", "maxLength": spec.max_length}
        schema = {"type": "array", "items": item, "maxItems": spec.max_items, "uniqueItems": True}
    elif spec.kind is Kind.OBJECT:
        schema = {"type": "object", "description": f"Free-form JSON, at most {spec.max_length} bytes."}
    else:
        schema = {"type": "string", "maxLength": spec.max_length}
        if spec.pattern:
            schema["pattern"] = f"^(?:{spec.pattern})$"
    schema["description"] = (schema.get("description", "") + f" Owner: {spec.owner.value}.").strip()
    return schema


def _profile(writable: set[Owner]) -> dict[str, Any]:
    properties: dict[str, Any] = {"user_id": {"type": "string", "readOnly": True, "description": "The Cognito sub."}}
    for spec in FIELDS:
        schema = _schema(spec)
        if spec.owner not in writable:
            schema["readOnly"] = True
        properties[spec.name] = schema
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _patch(writable: set[Owner]) -> dict[str, Any]:
    properties = {
        spec.name: {"oneOf": [_schema(spec), {"type": "null", "description": "Removes the field."}]}
        for spec in FIELDS
        if spec.owner in writable
    }
    return {
        "type": "object",
        "description": "A JSON merge patch (RFC 7396): null removes a field; an object merges into an object field.",
        "properties": properties,
        "additionalProperties": False,
    }


def _responses(*codes: str, ok: str) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "The profile.",
            "headers": {"ETag": {"schema": {"type": "string"}, "description": "Send it back in If-Match to edit."}},
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ok}"}}},
        }
    }
    for code in codes:
        responses[code] = {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return responses


def _plain(schema: str, description: str, *codes: str) -> dict[str, Any]:
    """Responses whose 200 is ``schema`` without an ETag (deletion, export)."""
    responses = _responses(*codes, ok=schema)
    responses["200"] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    return responses


_DELETION = {
    "type": "object",
    "description": "What the deletion did; false where that store no longer held the account (a retry).",
    "required": ["sub", "cognito_user_deleted", "profile_deleted", "redelete_scheduled"],
    "properties": {
        "sub": {"type": "string"},
        "cognito_user_deleted": {"type": "boolean"},
        "profile_deleted": {"type": "boolean"},
        "redelete_scheduled": {"type": "boolean", "description": "The profile is deleted once more 30 s later."},
    },
}
_DATED = {"type": ["string", "null"], "format": "date-time"}
_EXPORT = {
    "type": "object",
    "description": "Everything both stores hold about the caller. Nothing secret.",
    "required": ["user_id", "exported_at", "profile", "cognito"],
    "properties": {
        "user_id": {"type": "string"},
        "exported_at": {"type": "string", "format": "date-time"},
        "profile": {
            "type": ["object", "null"],
            "properties": {
                "fields": {"type": "object"},
                "created_at": _DATED,
                "updated_at": _DATED,
                "version": {"type": "integer"},
            },
        },
        "cognito": {
            "type": ["object", "null"],
            "properties": {
                "username": {"type": "string"},
                "status": {"type": "string"},
                "enabled": {"type": "boolean"},
                "created_at": _DATED,
                "last_modified_at": _DATED,
                "attributes": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the profile API."""
    if_match = {"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"}}
    sub = {"name": "sub", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 128}}
    user, admin = {Owner.USER}, {Owner.USER, Owner.ADMIN}

    def body(schema: str) -> dict[str, Any]:
        return {
            "required": True,
            "content": {media: {"schema": {"$ref": f"#/components/schemas/{schema}"}} for media in PATCH_TYPES},
        }

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "profile-sync profile API",
            "version": "1",
            "description": "Users read and edit their own profile, export and delete their account; "
            "admins edit admin-owned fields and delete accounts. "
            "Every route takes a Cognito access token with the stack's ApiScope.",
        },
        "security": [{"cognito": []}],
        "paths": {
            "/me/profile": {
                "get": {"summary": "The caller's profile", "responses": _responses("401", "503", ok="Profile")},
                "patch": {
                    "summary": "Edit the caller's user-owned fields",
                    "parameters": [if_match],
                    "requestBody": body("UserPatch"),
                    "responses": _responses(
                        "400", "401", "403", "404", "412", "413", "415", "428", "503", ok="Profile"
                    ),
                },
            },
            "/me": {
                "delete": {
                    "summary": "Delete the caller's account: the Cognito user, then the profile (idempotent)",
                    "responses": _plain("Deletion", "The account is deleted (or already was).", "401", "503"),
                },
            },
            "/me/export": {
                "get": {
                    "summary": "The caller's profile, Cognito attributes and account dates as one document",
                    "responses": _plain("Export", "The export.", "401", "404", "503"),
                },
            },
            "/users/{sub}": {
                "delete": {
                    "summary": "Delete a user's account (admin group only; idempotent)",
                    "parameters": [sub],
                    "responses": _plain(
                        "Deletion", "The account is deleted (or already was).", "400", "401", "403", "503"
                    ),
                },
            },
            "/users/{sub}/profile": {
                "get": {
                    "summary": "A user's profile (admin group only)",
                    "parameters": [sub],
                    "responses": _responses("401", "403", "404", "503", ok="AdminProfile"),
                },
                "patch": {
                    "summary": "Edit a user's user- and admin-owned fields (admin group only)",
                    "parameters": [sub, if_match],
                    "requestBody": body("AdminPatch"),
                    "responses": _responses(
                        "400", "401", "403", "404", "412", "413", "415", "428", "503", ok="AdminProfile"
                    ),
                },
            },
        },
        "components": {
            "securitySchemes": {
                "cognito": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (Cognito access token)"}
            },
            "schemas": {
                "Profile": _profile(user),
                "AdminProfile": _profile(admin),
                "UserPatch": _patch(user),
                "AdminPatch": _patch(admin),
                "Deletion": _DELETION,
                "Export": _EXPORT,
                "Error": {
                    "type": "object",
                    "required": ["error", "message", "fields"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
            },
        },
    }


def text() -> str:
    """The document as committed."""
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    DOCUMENT.write_text(text())
    print(DOCUMENT, file=sys.stderr)  # noqa: T201
