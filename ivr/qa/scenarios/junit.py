"""JUnit XML for CI: a testsuite per scenario file or folder, a testcase per scenario."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePath
from xml.etree import ElementTree

from ivr.qa.scenarios.loader import SUFFIXES
from ivr.qa.scenarios.model import Suite
from ivr.qa.scenarios.report import step_lines
from ivr.qa.scenarios.runner import ScenarioResult

# Characters XML 1.0 cannot hold even escaped; a transcript of a broken app may contain them.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def junit_xml(suites: Sequence[Suite], results: Sequence[ScenarioResult], name: str = "ivr test") -> str:
    """Render results as <testsuites>; a suite none of whose scenarios ran is left out.

    A failing scenario's <failure message> is its first failing step; the body holds every
    step and the readable transcript. An exception in the run itself is an <error>.
    """
    by_scenario = {r.scenario: r for r in results}
    root = ElementTree.Element("testsuites", name=name)
    totals = [0, 0, 0, 0.0]
    for suite in suites:
        ran = [by_scenario[s] for s in suite.scenarios if s in by_scenario]
        if not ran:
            continue
        counts = _counts(ran)
        element = ElementTree.SubElement(root, "testsuite", {"name": suite.name, **_attributes(counts)})
        for result in ran:
            _testcase(element, suite, result)
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
    root.attrib.update(_attributes(totals))
    ElementTree.indent(root)
    body = ElementTree.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def classname(suite: Suite) -> str:
    """A dotted class name for CI tools: 'scenarios/main' -> 'scenarios.main'."""
    path = PurePath(suite.name)
    if path.suffix in SUFFIXES:
        path = path.with_suffix("")
    parts = [p for p in path.parts if p.strip("./\\")]
    return ".".join(parts) or "scenarios"


def _testcase(parent: ElementTree.Element, suite: Suite, result: ScenarioResult) -> None:
    case = ElementTree.SubElement(
        parent,
        "testcase",
        classname=classname(suite),
        name=result.scenario.name,
        time=f"{result.seconds:.3f}",
    )
    if result.passed:
        return
    tag = "error" if result.error else "failure"
    detail = ElementTree.SubElement(
        case, tag, message=_clean(result.message), type="ScenarioError" if result.error else "ScenarioFailure"
    )
    text = "\n".join(
        [
            f"{result.scenario.file}: {result.message}",
            "",
            "steps:",
            *("  " + line for line in step_lines(result)),
            "",
            "transcript:",
            result.transcript.render(),
        ]
    )
    detail.text = _clean(text)


def _counts(results: Sequence[ScenarioResult]) -> list[float]:
    errors = sum(1 for r in results if r.error)
    failures = sum(1 for r in results if not r.passed and not r.error)
    return [len(results), failures, errors, sum(r.seconds for r in results)]


def _attributes(counts: Sequence[float]) -> dict[str, str]:
    tests, failures, errors, seconds = counts
    return {
        "tests": str(int(tests)),
        "failures": str(int(failures)),
        "errors": str(int(errors)),
        "time": f"{seconds:.3f}",
    }


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
