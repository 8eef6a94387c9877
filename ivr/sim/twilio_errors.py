"""Twilio's error codes for a webhook that fails (twilio.com/docs/api/errors/<code>), by name."""

from __future__ import annotations

HTTP_RETRIEVAL_FAILURE = "11200"
HTTP_CONNECTION_FAILURE = "11205"
HTTP_BAD_HOST_NAME = "11210"
HTTP_TOO_MANY_REDIRECTS = "11215"
HTTP_INVALID_REDIRECT = "11216"
DOCUMENT_PARSE_FAILURE = "12100"
INVALID_CONTENT_TYPE = "12300"
SAY_INVALID_LOOP = "13510"
SAY_INVALID_TEXT = "13520"
GATHER_SAY_INVALID_LOOP = "13322"
REDIRECT_INVALID_METHOD = "13710"

#: The name Twilio's error dictionary gives each code the simulator reports.
NAMES: dict[str, str] = {
    HTTP_RETRIEVAL_FAILURE: "HTTP retrieval failure",
    HTTP_CONNECTION_FAILURE: "HTTP connection failure",
    HTTP_BAD_HOST_NAME: "HTTP bad host name",
    HTTP_TOO_MANY_REDIRECTS: "HTTP too many redirects",
    HTTP_INVALID_REDIRECT: "HTTP invalid redirect",
    DOCUMENT_PARSE_FAILURE: "Document parse failure",
    INVALID_CONTENT_TYPE: "Invalid Content-Type",
    SAY_INVALID_LOOP: "Say: Invalid loop value",
    SAY_INVALID_TEXT: "Say: Invalid text",
    GATHER_SAY_INVALID_LOOP: "Gather->Say: Invalid loop value",
    REDIRECT_INVALID_METHOD: "Redirect: Invalid method value",
}

#: What Twilio plays when a voice URL fails and no fallback URL takes over (the docs say "a
#: pre-recorded message is played back to the caller explaining that an error has occurred";
#: its words are not published, these are the simulator's).
APPLICATION_ERROR_MESSAGE = "We are sorry, an application error has occurred. Goodbye."


def describe(code: str) -> str:
    """'11200 HTTP retrieval failure': a code with its name, as reports show it."""
    name = NAMES.get(code)
    return f"{code} {name}" if name else code


def verb_error(problem: str) -> str:
    """The 13xxx code of one TwiML problem (ivr.sim.twiml_rules), else Document parse failure."""
    location = problem.split(":", 1)[0]
    parts = [p.split("[")[0] for p in location.split("/")]
    if parts[-1] == "@loop" and len(parts) >= 2 and parts[-2] == "Say":
        return GATHER_SAY_INVALID_LOOP if "Gather" in parts else SAY_INVALID_LOOP
    if parts[-1] == "Say" and "needs" in problem:
        return SAY_INVALID_TEXT
    if parts[-1] == "@method" and len(parts) >= 2 and parts[-2] == "Redirect":
        return REDIRECT_INVALID_METHOD
    return DOCUMENT_PARSE_FAILURE
