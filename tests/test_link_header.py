"""``parse_link_header``: every legal RFC 8288 spelling, several header lines, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evenergy_async._sansio import next_link, parse_link_header

NEXT = "https://api.ev.energy/v2/vehicles?page_after=vhcl1&page_size=100"
PREV = "https://api.ev.energy/v2/vehicles?page_before=vhcl0&page_size=100"


@pytest.mark.parametrize(
    "header",
    [
        f'<{NEXT}>; rel="next", <{PREV}>; rel="previous"',
        f'<{PREV}>; rel="previous", <{NEXT}>; rel="next"',
        f"<{PREV}>; rel=previous, <{NEXT}>; rel=next",
        f'<{NEXT}>; rel="next last", <{PREV}>; rel="previous first"',
        f'<{PREV}>; rel="previous", <{NEXT}>; rel="Next"',
        f'<{PREV}>; REL="previous", <{NEXT}>; Rel="NEXT"',
        f'<{NEXT}>; title="a, b; c"; rel="next"; type="application/json", <{PREV}>; rel="previous"',
        f'<{NEXT}> ;rel = "next" ,<{PREV}>\t;\trel=previous',
        f'  <{NEXT}>;rel="next",,  , <{PREV}>;rel="previous"  ',
        f'<{NEXT}>; rel="next"; rel="previous", <{PREV}>; rel="previous"',
        f'<{NEXT}>; title="say \\"hi\\", then; go"; rel="next", <{PREV}>; rel="previous"',
        f"<{NEXT}>; title*=UTF-8'de'n%c3%a4chste; rel=next; crossorigin, <{PREV}>; rel=previous",
        f'<{NEXT}>;;rel="next", <{PREV}>; rel="previous"',
    ],
)
def test_every_spelling_reads_next_and_previous(header: str) -> None:
    links = parse_link_header(header)
    assert links["next"] == NEXT
    assert links["previous"] == PREV


@pytest.mark.parametrize(
    "lines",
    [
        [f'<{PREV}>; rel="previous"', f'<{NEXT}>; rel="next"'],
        [f'<{NEXT}>; rel="next"', f'<{PREV}>; rel="previous"'],
        [f"<{PREV}>; rel=previous", f'<{NEXT}>; REL="last next"'],
        ["", f'<{PREV}>; rel="previous"', "", f'<{NEXT}>; rel="next"'],
    ],
)
def test_several_header_lines_mean_their_comma_join(lines: list[str]) -> None:
    links = parse_link_header(lines)
    assert links == parse_link_header(", ".join(lines))
    assert links["next"] == NEXT and links["previous"] == PREV


def test_previous_before_next_on_separate_lines_is_not_the_end() -> None:
    """The bug of issue 8 item 1: reading only the first line lost the next link."""
    assert next_link(parse_link_header([f'<{PREV}>; rel="previous"', f'<{NEXT}>; rel="next"'])) == NEXT


def test_first_link_of_a_relation_wins() -> None:
    assert parse_link_header('<https://x/1>; rel="next", <https://x/2>; rel=next') == {"next": "https://x/1"}


@pytest.mark.parametrize(
    "header",
    [
        '<https://x/1>; title="t"',
        '<https://x/2>; rel=""',
        "<https://x/2>; rel=",
        "<https://x/2>; rel",
        '<https://x/0>; rel="previous", <https://x/2>; rel',  # the simulator's malformed_link
        "<https://x/2>",
    ],
)
def test_a_link_without_a_relation_type_is_malformed(header: str) -> None:
    """RFC 8288 §3.3: rel MUST be present. Ignoring such a link could silently end a list."""
    with pytest.raises(ValueError, match="malformed"):
        parse_link_header(header)


def test_nothing_gives_nothing() -> None:
    assert parse_link_header([]) == {}
    assert parse_link_header(["", "  "]) == {}


@pytest.mark.parametrize(
    "bad",
    [
        "https://x/1; rel=next",
        "<https://x/1",
        '<a>; rel="next" junk <b>',
        '<a>; rel="next',
        "<a>; =next",
        "<a> rel=next",
        '<a>; rel=ne"xt"',
        # the simulator's malformed_link fault: a lost ">" must not make a link of the rest
        '<https://x/1; rel="previous", <about:blank>; rel="next"',
        '<<about:blank>>;;; rel="next, <https://x/1',
        "<https://x/a b>; rel=next",
    ],
)
def test_malformed_is_an_error_not_an_end(bad: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        parse_link_header(bad)


# -- generated spellings ---------------------------------------------------------------

_URL_CHARS = st.sampled_from("abcxyz0189-._~:/?#[]@!$&'()*+,;=%")
targets = st.builds(lambda tail: "https://api.example/v2/" + tail, st.text(_URL_CHARS, max_size=30))
rel_names = st.sampled_from(["next", "previous", "prev", "last", "first", "self", "alternate"])
ows = st.sampled_from(["", " ", "  ", "\t", " \t "])
quoted_text = st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=12)


def _case(draw: st.DrawFn, word: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c for c in word)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def link_values(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """One link-value in a random legal spelling: (text, target, relation types as meant)."""
    target = draw(targets)
    rels = draw(st.lists(rel_names, min_size=1, max_size=3, unique=True))
    spelled = [_case(draw, r) for r in rels]
    if len(spelled) == 1 and draw(st.booleans()):
        rel_value = spelled[0]
    else:
        sep = draw(st.sampled_from([" ", "  ", "\t"]))
        rel_value = _quote(sep.join(spelled))
    params = [(_case(draw, "rel"), rel_value)]
    for name in draw(st.lists(st.sampled_from(["title", "type", "hreflang", "media"]), max_size=3)):
        value = draw(st.one_of(st.just("token-x"), quoted_text.map(_quote)))
        params.append((_case(draw, name), value))
    params = draw(st.permutations(params))
    text = f"<{target}>"
    for name, value in params:
        text += f"{draw(ows)};{draw(ows)}{name}{draw(st.sampled_from(['', ' ']))}={draw(st.sampled_from(['', ' ']))}{value}"
    return text, target, [r.lower() for r in rels]


@settings(max_examples=150, deadline=None)
@given(st.lists(link_values(), max_size=5), st.data())
def test_generated_spellings_parse_as_meant(values: list[tuple[str, str, list[str]]], data: st.DataObject) -> None:
    expected: dict[str, str] = {}
    for _, target, rels in values:
        for rel in rels:
            expected.setdefault(rel, target)
    texts = [text for text, _, _ in values]
    # split the values over header lines at random; within a line join them with "," and odd space
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(texts) - 1)), max_size=len(texts))))
    lines: list[str] = []
    start = 0
    for cut in [*cuts, len(texts)]:
        if cut > start:
            sep = data.draw(st.sampled_from([",", ", ", " , ", ",\t"]))
            lines.append(sep.join(texts[start:cut]))
            start = cut
    assert parse_link_header(lines) == expected
    assert parse_link_header(", ".join(lines)) == expected


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(st.text(max_size=30), max_size=3)))
def test_any_text_parses_or_raises_value_error(value: str | list[str]) -> None:
    try:
        links = parse_link_header(value)
    except ValueError as exc:
        assert "malformed" in str(exc)
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in links.items())
