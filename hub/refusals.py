"""Refusals: what the platform declines, as a code and its numbers, said in any language.

A :class:`Refusal` carries a stable ``code`` (the API's ``error`` field), its ``params``
(the numbers and names it is about, JSON-ready) and its HTTP ``status``. Each code has one
English template here (:data:`MESSAGES`); its Simplified Chinese template is the
translation of that template in the hub's catalog (``hub/locale/zh_CN/.../npuhub.po``,
``msgctxt`` = the code). Every language is rendered from the code and params: nothing
parses an English sentence back. ``str(refusal)`` is the English sentence (CLI, logs).

Templates use ``str.format`` fields of ``params`` and of a few phrases derived from them
(:func:`_derived`): ``{X_npus}`` for any whole number X ("1 NPU", "3 NPUs"), ``{who}``
and ``{whose}`` (the account: "Group lab" or "Your account"), ``{what}`` (the kind of
NPU), ``{queue}`` (how many people wait), ``{this}`` and ``{reset}`` (the budget period).
A template may be a ``(singular, plural, count_param)`` triple.

Older callers pass a sentence instead of a code (course files and dataset specs are
validated field by field with English details): such a refusal gets its class's
``fallback`` code and the sentence as ``detail``, behind a translated lead.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from . import i18n

Template = str | tuple[str, str, str]

# code -> (HTTP status, English template)
MESSAGES: dict[str, tuple[int, Template]] = {
    # --- quota (policy): 403
    "account_not_yours": (403, "{account} is not one of your accounts: {accounts}"),
    "account_ambiguous": (
        403,
        "You are in several groups; choose the account to charge: {accounts}",
    ),
    "npus_not_whole": (400, "The number of NPUs must be a whole number, 0 or more, not {value}"),
    "profile_not_allowed": (
        403,
        "Profile {profile} is not available to {whose}; allowed: {allowed}",
    ),
    "quota_per_server": (
        403,
        (
            "You asked for {npus_npus}; at most {per_server} per server is allowed for {whose}",
            "You asked for {npus_npus}; at most {per_server} per server are allowed for {whose}",
            "per_server",
        ),
    ),
    "quota_user_full": (403, "You already hold {held} of your {cap_npus}"),
    "quota_user_more": (
        403,
        "You hold {held} of your {cap_npus} and asked for {npus}: at most {more} more",
    ),
    "quota_account_full": (403, "{who} holds {held} of its {cap_npus}"),
    "quota_account_more": (
        403,
        (
            "{who} holds {held} of its {cap_npus}; you asked for {npus}, {left} is left",
            "{who} holds {held} of its {cap_npus}; you asked for {npus}, {left} are left",
            "left",
        ),
    ),
    "budget_account": (403, "{who} has used {used} of {budget} NPU-hours {this}{reset}"),
    "budget_member": (
        403,
        "You have used {used} of your {budget} NPU-hours in {account} {this}{reset}",
    ),
    "budget_user": (403, "You have used {used} of your {budget} NPU-hours {this}{reset}"),
    # --- capacity: 503
    "capacity_none": (503, "There are no {what} in service on this platform"),
    "capacity_too_many": (
        503,
        "You asked for {npus} {what}, but the platform has only {total} in service",
    ),
    "capacity_all_busy": (503, "All {total} {what} are in use{queue}"),
    "capacity_few_free": (
        503,
        "Only {free} of {total} {what} are free; you asked for {npus}{queue}",
    ),
    "capacity_not_in_ring": (
        503,
        "{free} of {total} {what} are free, but not {npus} together inside one HCCS ring "
        "(the most free on one node is {largest}); ask for fewer or try again later{queue}",
    ),
    "capacity_not_on_node": (
        503,
        "{free} of {total} {what} are free, but not {npus} together on one node "
        "(the most free on one node is {largest}); ask for fewer or try again later{queue}",
    ),
    # cluster mode, wait: false (spawners/slurm_room.py): room, but Slurm waits
    "slurm_not_now": (
        503,
        "{free} of {total} {what} are free, but Slurm cannot start {npus} now "
        "(its reason: {reason}); try again later{queue}",
    ),
    # --- the line (hub/line): a server request that waited for NPUs
    "line_max_wait": (
        503,
        "No {npus_npus} came free within the longest wait in the line ({max_wait_hms}); "
        "try again later or ask for fewer",
    ),
    "line_dropped": (503, "Your place in the line was lost; start your server again"),
    # --- devices (operators)
    "no_device": (404, "There is no device {device} (see `npuhub devices`)"),
    "device_gone": (409, "{device} is no longer present on its node, so it stays drained"),
    "no_node": (404, "There is no node {node} (see `npuhub devices`)"),
    "slurm_node_refused": (502, "Slurm refused the change of node {node}: {detail}"),
    # --- what people type (hub/parsing.py)
    "bad_time_limit": (
        400,
        "{field} {value} is not a duration: give seconds (90), H:MM:SS (1:30:00) "
        "or hours and minutes (2h, 45m, 1h30m)",
    ),
    "time_limit_range": (400, "{field} must be from 1 second to {max_hms}, got {value_hms}"),
    "bad_parameter_line": (
        400,
        "{field}: line {line} is not name=value (one per line, e.g. lr=0.01): {text}",
    ),
    "bad_parameters_json": (400, "{field} is not a JSON object: {reason}"),
    "bad_parameters": (
        400,
        '{field} must be a JSON object (e.g. {{"lr": 0.01}}) or name=value lines',
    ),
    "too_many_parameters": (400, "{field}: at most {max} parameters"),
    "bad_parameter_name": (
        400,
        "{field}: the name {name} must be a Python identifier (letters, digits, _)",
    ),
    "bad_parameter_value": (
        400,
        "{field}: {name} must be a string, number, true, false or null",
    ),
    "parameter_too_long": (400, "{field}: {name} is longer than {max} characters"),
    "parameter_not_finite": (400, "{field}: {name} must be a finite number"),
    "bad_whole_number": (400, "{field} must be a whole number from {low} to {high}, got {value}"),
    # --- the service's doors (hub/service/base.py)
    "no_token": (401, "Missing token: send 'Authorization: token <your token>'"),
    "bad_token": (403, "Invalid or expired token"),
    "token_scope": (403, "This token may not use the npuhub service"),
    "admin_only": (403, "Only administrators may do this"),
    # --- job requests (hub/jobs/common.py, hub/service/jobs.py)
    "unknown_fields": (400, "Unknown field(s) {fields}; allowed: {allowed}"),
    "bad_source_path": (
        400,
        "{field} must be a path relative to your home, without '..', got {value}",
    ),
    "bad_source_kind": (
        400,
        "{field} must be a notebook (.ipynb) or a script (.py), got {value}",
    ),
    "bad_job_name": (
        400,
        "{field} must be 1-64 letters, digits or _.-, starting with a letter or digit, "
        "got {value}",
    ),
    "bad_account": (400, "{field} must be the name of one of your groups (or your own name)"),
    "bad_image": (400, "{field} must be an image name, like npuhub/base:latest"),
    "bad_dataset_list": (400, "{field} must be a list of dataset names"),
    "dataset_twice": (400, "{field} lists a name twice"),
    "priority_admin_only": (403, "only administrators may set a job's priority"),
    "jobs_by_users": (403, "Jobs are submitted by users, with their own token"),
    "too_many_jobs": (
        429,
        "You have {active} jobs queued or running, the most allowed; "
        "wait for one to finish or cancel one",
    ),
    "cpu_hours_spent": (
        429,
        "{name} has used {used} of {limit} CPU-hours of jobs without NPUs {this}",
    ),
    "too_many_cpu_jobs": (
        429,
        "You have {active} jobs without NPUs queued or running, the most allowed; "
        "wait for one to finish or cancel one",
    ),
    "no_dataset_for_you": (400, "There is no dataset {name} you may use"),
    "no_job": (404, "No job {id} of yours"),
    "job_ended": (409, "Job {id} has already ended: {state}"),
    "no_session": (404, "No running session of yours has a record (server: {server})"),
    "bad_offset": (400, "offset must be a whole number"),
    # --- datasets
    "no_dataset": (404, "there is no dataset {name}"),
    "dataset_exists": (409, "dataset {name} exists already"),
    "dataset_forbidden": (403, "you may not use dataset {name}"),
    "mount_by_users": (400, "only users mount datasets (use a user's token)"),
    "dataset_invalid": (400, "{detail}"),
    "mount_failed": (409, "{detail}"),
    # --- courses
    "no_course": (404, "No course {course}"),
    "no_course_of_yours": (404, "No course {course} of yours"),
    "instructors_only": (403, "Only the instructors of {course} may do this"),
    "instructors_only_change": (403, "Only the instructors of {course} may change it"),
    "no_assignment": (404, "No assignment {assignment} in course {course}"),
    "not_released": (403, "Assignment {assignment} is not released yet"),
    "not_released_until": (403, "Assignment {assignment} is not released yet (it opens {when})"),
    "too_many_attempts": (
        429,
        "You have submitted {assignment} {limit} times, the most a student may",
    ),
    "submit_too_soon": (
        429,
        "You submitted {assignment} a moment ago: submit again in {seconds} s",
    ),
    "release_first": (409, "Assignment {assignment} is not released yet: release it first"),
    "no_feedback_yet": (
        404,
        "No feedback yet for {assignment}: it comes once your submission is graded",
    ),
    "feedback_after_due": (
        403,
        "Feedback of {assignment} will be available after its due date, {when}",
    ),
    "feedback_held": (403, "Feedback of {assignment} is held until the instructor returns it"),
    "course_invalid": (400, "{detail}"),
    "not_graded_yet": (409, "{student} has no graded submission of {assignment} yet"),
    "no_graded_cell": (400, "{notebook} has no graded cell {grade_id} in this submission"),
    "points_above_max": (400, "{grade_id}: {points} points is outside 0 to {max_points}"),
    "not_a_student": (404, "{student} is not a student of {course}"),
    # --- anything else a module declines with a sentence
    "refused": (400, "{detail}"),
}

# phrases the templates' derived fields are made of (context "phrase" in the catalog)
PHRASES: dict[str, Template] = {
    "npus": ("{n} NPU", "{n} NPUs", "n"),
    "queue": (" ({n} user waiting)", " ({n} users waiting)", "n"),
    "your account": "your account",
    "Your account": "Your account",
    "Group": "Group {account}",
    "group": "{account}",
    "NPUs": "NPUs",
    "typed NPUs": "{device_type} NPUs",
    "today": "today",
    "this week": "this week",
    "this month": "this month",
    "this period": "this period",
    "reset day": "; the budget resets at 00:00 UTC",
    "reset week": "; the budget resets Monday 00:00 UTC",
    "reset month": "; the budget resets on {day} {month} 00:00 UTC",
    "none": "none",
}
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


class Refusal(Exception):
    """A request the platform declines. ``Refusal("quota_user_full", held=4, cap=4)``;
    ``status`` overrides the code's own. Subclasses name the concern (QuotaError,
    CapacityError, ...) and the ``fallback`` code of a bare sentence."""

    fallback = "refused"

    def __init__(self, code: str, status: int | None = None, /, **params: Any):
        if code not in MESSAGES:
            code, params = self.fallback, {**params, "detail": code}
        self.code = code
        self.params = {k: _jsonable(v) for k, v in params.items()}
        self.status = status if status is not None else MESSAGES[code][0]
        super().__init__(render(code, self.params, i18n.DEFAULT))

    def message(self, lang: str = i18n.DEFAULT) -> str:
        return render(self.code, self.params, lang)

    def as_json(self, lang: str = i18n.DEFAULT) -> dict[str, Any]:
        return {"error": self.code, "message": self.message(lang), "params": self.params}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# ------------------------------------------------------------------ rendering


def _say(context: str, template: Template, params: dict, lang: str, raw: dict | None = None) -> str:
    """`template` in `lang` (pgettext with `context`), formatted with `params` (the
    plural form chosen by the number in `raw`, the params before formatting)."""
    t = i18n.translation(lang)
    if isinstance(template, tuple):
        singular, plural, count = template
        n = (params if raw is None else raw).get(count)
        n = n if isinstance(n, int) else 2
        text = t.npgettext(context, singular, plural, n)
    else:
        text = t.pgettext(context, template)
    return text.format_map(_Fields(params))


def _phrase(name: str, lang: str, **params) -> str:
    return _say("phrase", PHRASES[name], params, lang)


class _Fields(dict):
    def __missing__(self, key):  # a template naming a field its refusal lacks
        return "{" + key + "}"


def _show(value: Any, lang: str) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return format(round(value, 1), "g") if math.isfinite(value) else str(value)
    if isinstance(value, list):
        if not value:
            return _phrase("none", lang)
        return ", ".join(_show(v, lang) for v in value)
    return str(value)


def _hms(seconds: Any) -> str:
    if not isinstance(seconds, int):
        return str(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"


def _derived(params: dict, lang: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in params.items():
        if isinstance(v, int) and not isinstance(v, bool):
            out[f"{k}_npus"] = _phrase("npus", lang, n=v)
            out[f"{k}_hms"] = _hms(v)
    account = params.get("account")
    if params.get("personal"):
        out["who"] = _phrase("Your account", lang)
        out["whose"] = _phrase("your account", lang)
    elif account is not None:
        out["who"] = _phrase("Group", lang, account=account)
        out["whose"] = _phrase("group", lang, account=account)
    kind = params.get("device_type")
    out["what"] = _phrase("typed NPUs", lang, device_type=kind) if kind else _phrase("NPUs", lang)
    waiting = params.get("waiting")
    out["queue"] = _phrase("queue", lang, n=waiting) if isinstance(waiting, int) and waiting else ""
    period = params.get("period")
    this = {"day": "today", "week": "this week", "month": "this month"}.get(period, "this period")
    out["this"] = _phrase(this, lang)
    out["reset"] = _reset(period, params.get("resets"), lang)
    return out


def _reset(period: Any, resets: Any, lang: str) -> str:
    if not isinstance(resets, str):
        return ""
    if period in ("day", "week"):
        return _phrase(f"reset {period}", lang)
    try:
        end = datetime.fromisoformat(resets)
    except ValueError:
        return ""
    return _phrase("reset month", lang, day=end.day, month=MONTHS[end.month - 1], m=end.month)


def render(code: str, params: dict, lang: str = i18n.DEFAULT) -> str:
    """The refusal `code` with `params` in `lang` (English where a language lacks it)."""
    lang = lang if lang in i18n.SUPPORTED else i18n.DEFAULT
    fields = {k: _show(v, lang) for k, v in params.items()}
    fields = {**_derived(params, lang), **fields}
    return _say(code, MESSAGES[code][1], fields, lang, raw=params).strip()


def message(error: BaseException, lang: str = i18n.DEFAULT) -> str:
    """Any exception's text for a person: a refusal in `lang`, else its own text."""
    return error.message(lang) if isinstance(error, Refusal) else str(error)
