"""The simulated Twilio caller: runs TwiML as Twilio does, in-process or over HTTP."""

from .caller import SimulatedCall, SimulationError
from .transcript import Heard, Leg, Outcome, Step, Transcript, main_language
from .transport import HttpReply, HttpTransport, Transport
from .wsgi import WsgiTransport

__all__ = [
    "Heard",
    "HttpReply",
    "HttpTransport",
    "Leg",
    "Outcome",
    "SimulatedCall",
    "SimulationError",
    "Step",
    "Transcript",
    "Transport",
    "WsgiTransport",
    "main_language",
]
