"""The served OpenAPI schema says every answer an operation can give, errors included, so that a client (or a
fuzzer) never meets an undocumented status code.

Every error answers the same JSON (``{"error": "…", "fields": {…}}``, see ``jobs.api.api_exception_handler``).
Every operation needs a login (401 without one) and can be refused (403: what the user may not do, a session's
CSRF check, a locked-out client); one that names a record in its path answers 404 for an unknown one; one that
takes a body or query parameters answers 400 when they are wrong. The job stream (Server-Sent Events) is an async
Django view that DRF does not see: it is added by hand.
"""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.openapi import AutoSchema

ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "what is wrong, in one line of words"},
        "fields": {"type": "object", "description": "for a refused request: the messages of each field"},
    },
    "required": ["error"],
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERRORS = {
    "400": "the request is refused: `error` says why, `fields` which part",
    "401": "no login: send `Authorization: Token …` or the session cookie",
    "403": "not allowed: the user may not do this (see the rule of shared catalogs), the session's CSRF check "
    "failed, or the client is locked out after failed logins",
    "404": "no such record, or not one this user may see",
    "429": "too many requests or failed logins from this client: `error` says when to try again",
}


def error_response(code: str) -> dict[str, Any]:
    return {"description": ERRORS[code], "content": {"application/json": {"schema": ERROR_REF}}}


class VamAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: Literal["request", "response"] = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        codes = ["401", "403", "429"]
        if "{" in self.path or self._get_paginator() is not None:  # (a page past the last is 404 too)
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH") or self._get_parameters_in("query"):
            codes.append("400")
        for code in sorted(codes):
            responses.setdefault(code, error_response(code))
        return responses

    def _get_parameters_in(self, place: str) -> list[dict[str, Any]]:
        return [parameter for parameter in self._get_parameters() if parameter.get("in") == place]


JOB_STREAM = {
    "get": {
        "operationId": "api_jobs_stream",
        "summary": "Follow a job as Server-Sent Events",
        "description": "One `progress` event (its data: the job's status, as `GET /api/jobs/{job_id}` answers it) "
        "at once and then at every change, a `: keepalive` comment every 15 seconds, and the end of the stream "
        "once the job is SUCCESS, FAILURE or CANCELLED.",
        "parameters": [
            {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}, "description": "a job id"}
        ],
        "tags": ["jobs"],
        "security": [{"tokenAuth": []}, {"cookieAuth": []}],
        "responses": {
            "200": {
                "description": "the stream of the job's progress",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **{code: error_response(code) for code in ("401", "403", "404", "429")},
        },
    }
}


def add_error_and_stream(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: the Error component the responses name, and the job stream's path."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    paths = result.setdefault("paths", {})
    paths["/api/jobs/{job_id}/stream"] = JOB_STREAM
    result["paths"] = dict(sorted(paths.items()))
    return result
