"""`ivr lint`'s report for people: one compact table per line, its languages side by side."""

from __future__ import annotations

from .lint import LineReport

_MEASURES = {"espeak": "espeak-ng durations", "words": "words"}


def render(report: LineReport) -> str:
    """Options, levels and seconds per menu; first choice and destinations per language."""
    langs = list(report.languages)
    b = report.budgets
    depth = max(report.depth.values(), default=0)
    levels = f"{depth} level" + "s" * (depth != 1)
    lines = [
        f"line {report.name} ({report.file}): {_MEASURES[report.measure]} at "
        f"{report.words_per_minute:g} words a minute; menus {levels} deep"
    ]
    rows: list[list[str]] = [["menu", "options", "level", *(f"{lang} s" for lang in langs)]]
    for state, keys in report.options.items():
        level = report.depth.get(state)
        rows.append(
            [
                state,
                _over(len(keys), b.max_options),
                _over(level, b.max_depth),
                *(_over(report.languages[lang].documents.get(state), b.max_menu_seconds) for lang in langs),
            ]
        )
    lines += _table(rows)
    first = report.languages[langs[0]].reach
    rows = [["", *langs]]
    rows.append(
        [
            "words before the first choice",
            *(
                _over(report.languages[lang].words_before_first_choice, b.max_words_before_first_choice)
                for lang in langs
            ),
        ]
    )
    rows.append(
        [
            "seconds before the first choice",
            *(f"{report.languages[lang].seconds_before_first_choice:.1f}" for lang in langs),
        ]
    )
    if len(langs) > 1:
        rows.append(
            [
                f"seconds in {langs[0]} before switching",
                *(
                    f"{report.languages[lang].switch_seconds:.1f}" if lang != langs[0] else "-"
                    for lang in langs
                ),
            ]
        )
    for state in report.destinations:
        if state not in first:
            continue
        reach = first[state]
        label = f"to {state} ({' '.join(reach.inputs) or 'at once'})"
        rows.append([label, *(_seconds(report, lang, state) for lang in langs)])
    lines += _table(rows)
    return "\n".join(lines)


def _seconds(report: LineReport, lang: str, state: str) -> str:
    reach = report.languages[lang].reach.get(state)
    return "-" if reach is None else f"{reach.seconds:.1f}"


def _over(value: float | None, budget: float) -> str:
    """A figure, marked with ! when it is over its budget."""
    if value is None:
        return "-"
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    return text + ("!" if value > budget else "")


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        out.append("  " + "  ".join(cells).rstrip())
    return out
