"""The floor of the benchmark: a Flask app answering every POST with one fixed TwiML document.

Served by the same gunicorn settings as our app (`gunicorn -c gunicorn.conf.py
--pythonpath bench 'static_app:create_app()'`), it measures what the server, Flask and the load
generator cost before any menu, store or signature work. The document is the size of a real
menu prompt and keeps a simulated caller at a Gather, so the same call scripts run against it.
"""

from __future__ import annotations

from flask import Flask, Response

PROMPT = (
    "For refill requests or delivery status, press 1. For billing or insurance questions, press 2. "
    "For Medicare Part D support, press 3. To speak with a licensed clinical pharmacist, press 4. "
    "For international inquiries, press 5. To speak with a representative, press 0. To hear these "
    "options again, press star. You can also say what you need, such as refill, billing or "
    "representative. Para español, oprima 9."
)
TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Gather action="/voice/input?step=1" actionOnEmptyResult="true" finishOnKey="#" '
    'input="dtmf speech" language="en-US" method="POST" speechTimeout="auto" timeout="5">'
    f'<Say language="en-US" voice="Polly.Joanna">{PROMPT}</Say></Gather>'
    '<Redirect method="POST">/voice/input?step=1</Redirect></Response>'
)


def create_app() -> Flask:
    """Every POST, to any path, gets the same document."""
    app = Flask(__name__)
    body = TWIML.encode()

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def answer(path: str) -> Response:
        return Response(body, mimetype="text/xml")

    return app
