"""GitLab's merge-request notes API (REST v4) on loopback, refusing what GitLab refuses.

No registry publishes a machine-readable GitLab API description (ENVIRONMENT.md §11), so the
contract is written here from GitLab's API documentation ("Notes API", "REST API
authentication"): ``POST /projects/:id/merge_requests/:merge_request_iid/notes`` with a
required non-empty ``body`` (at most 1,000,000 characters) answers 201 with the note;
``PUT …/notes/:note_id`` with ``body`` answers 200, 404 for a note that does not exist;
``PRIVATE-TOKEN`` or ``JOB-TOKEN`` must carry a valid token (401 ``{"message": "401
Unauthorized"}``); an unknown project or merge request is 404 ``{"message": "404 Project Not
Found"}`` / ``"404 Not found"``. Unknown parameters are ignored, as GitLab does.
"""

from __future__ import annotations

import copy
import re
from http import HTTPStatus
from typing import Any

from tests.notify.receivers import Answer, Fault, Receiver, Request, json_answer

BODY_MAX = 1_000_000
_NOTES = re.compile(r"^/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes(?:/(\d+))?$")


class GitLabReceiver(Receiver):
    """One project with one merge request; ``api_url`` is what ``CI_API_V4_URL`` should be."""

    service = "gitlab"

    def __init__(
        self, *, token: str = "glpat-" + "x" * 20, project: str = "42", mr_iid: str = "7"
    ) -> None:
        super().__init__()
        self.token, self.project, self.mr_iid = token, project, mr_iid
        self._notes: dict[int, dict[str, Any]] = {}
        self.edits: dict[int, int] = {}

    @property
    def api_url(self) -> str:
        return self.origin + "/api/v4"

    @property
    def notes(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._notes.values()))

    def fault_answer(self, request: Request, fault: Fault) -> Answer:
        phrase = HTTPStatus(fault.code).phrase
        return json_answer(fault.code, fault.body or {"message": f"{fault.code} {phrase}"})

    def answer(self, request: Request) -> Answer:
        token = request.headers.get("private-token") or request.headers.get("job-token")
        if token != self.token:
            return json_answer(401, {"message": "401 Unauthorized"}, "refused: bad token")
        match = _NOTES.match(request.path)
        if match is None:
            return json_answer(404, {"error": "404 Not Found"}, "refused: no such route")
        project, iid, note_id = match.groups()
        if project != self.project:
            return json_answer(404, {"message": "404 Project Not Found"}, "refused: project")
        if iid != self.mr_iid:
            return json_answer(404, {"message": "404 Not found"}, "refused: merge request")
        doc = request.json
        body = doc.get("body") if isinstance(doc, dict) else None
        if not isinstance(body, str) or not body.strip():
            return json_answer(400, {"error": "body is missing"}, "refused: no body")
        if len(body) > BODY_MAX:
            return json_answer(
                400,
                {"message": {"note": ["is too long (maximum is 1000000 characters)"]}},
                "refused: body too long",
            )
        if request.method == "POST" and note_id is None:
            note = self._note(len(self._notes) + 1, body)
            self._notes[note["id"]] = note
            return json_answer(201, note)
        if request.method == "PUT" and note_id is not None:
            number = int(note_id)
            if number not in self._notes:
                return json_answer(404, {"message": "404 Not found"}, "refused: no such note")
            self._notes[number]["body"] = body
            self.edits[number] = self.edits.get(number, 0) + 1
            return json_answer(200, self._notes[number])
        return json_answer(405, {"error": "405 Method Not Allowed"}, "refused: method")

    def _note(self, number: int, body: str) -> dict[str, Any]:
        return {
            "id": number,
            "type": None,
            "body": body,
            "author": {"id": 1, "username": "project_42_bot", "name": "ci-deploy bot"},
            "created_at": "2026-12-03T09:00:00.000Z",
            "updated_at": "2026-12-03T09:00:00.000Z",
            "system": False,
            "noteable_id": 700,
            "noteable_type": "MergeRequest",
            "noteable_iid": int(self.mr_iid),
            "resolvable": False,
            "confidential": False,
            "internal": False,
        }
