"""Crawl a phone line as a caller would: every key and silence at every menu, breadth-first.

The crawl places simulated calls (in-process or over HTTP) and replays the shortest known input
sequence to a state before trying each input there, so it needs nothing but TwiML from the app.
A state is the app's X-IVR-State when it reports one, else a fingerprint of the prompt heard.

Example:
    report = crawl(WsgiTransport(app), "+18002372765", flow=flow)
    print(report.render()); write_scenarios(report, Path("crawl-scenarios/main"))
"""

from ivr.qa.crawl.crawler import crawl
from ivr.qa.crawl.prompts import mentioned_keys
from ivr.qa.crawl.report import (
    DEFAULT_ENTRY_INPUTS,
    KEYS,
    SILENCE,
    CrawlError,
    CrawlFailure,
    CrawlOptions,
    CrawlPath,
    CrawlReport,
    DeadKey,
    Inputs,
    Move,
)
from ivr.qa.crawl.scenarios import scenario_for, write_scenarios

__all__ = [
    "DEFAULT_ENTRY_INPUTS",
    "KEYS",
    "SILENCE",
    "CrawlError",
    "CrawlFailure",
    "CrawlOptions",
    "CrawlPath",
    "CrawlReport",
    "DeadKey",
    "Inputs",
    "Move",
    "crawl",
    "mentioned_keys",
    "scenario_for",
    "write_scenarios",
]
