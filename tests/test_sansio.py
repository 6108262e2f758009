"""Pure protocol functions: no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from multidict import CIMultiDict
from yarl import URL

from evenergy_async import (
    BadRequestError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnauthorizedError,
)
from evenergy_async._errors import ConnectError, ResponseLostError
from evenergy_async._sansio import (
    build_headers,
    check_base_url,
    error_from_response,
    format_path_timestamp,
    next_link,
    normalize_user,
    parse_link_header,
    parse_rate_limit,
    parse_retry_after,
    redact_url,
    validate_id,
    validate_path_segment,
)

VID = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"


class TestLinkHeader:
    def test_next_and_previous(self) -> None:
        links = parse_link_header(
            '<https://api.ev.energy/v2/vehicles?page_after=vhcl1&page_size=100>; rel="next", '
            '<about:blank>; rel="previous"'
        )
        assert links["next"] == "https://api.ev.energy/v2/vehicles?page_after=vhcl1&page_size=100"
        assert next_link(links) is not None
        assert links["previous"] == "about:blank"

    def test_about_blank_and_missing_mean_no_page(self) -> None:
        assert next_link(parse_link_header('<about:blank>; rel="next"')) is None
        assert next_link(parse_link_header(None)) is None
        assert next_link(parse_link_header('<https://x/a>; rel="previous"')) is None

    def test_commas_inside_url_and_unquoted_rel(self) -> None:
        links = parse_link_header("<https://x/v2/l?a=1,2&b=3>; rel=next; title=\"a, b\"")
        assert links == {"next": "https://x/v2/l?a=1,2&b=3"}

    def test_multiple_rels_in_one_param(self) -> None:
        assert parse_link_header('<https://x/1>; rel="next last"') == {
            "next": "https://x/1",
            "last": "https://x/1",
        }

    @pytest.mark.parametrize("bad", ["https://x/1; rel=next", "<https://x/1", "<a>; rel=\"next\" junk <b>"])
    def test_malformed_is_an_error_not_an_end(self, bad: str) -> None:
        with pytest.raises(ValueError, match="malformed"):
            parse_link_header(bad)


class TestRateLimit:
    def test_parse(self) -> None:
        state = parse_rate_limit(CIMultiDict({"x-ratelimit-limit": "1000", "X-RateLimit-Remaining": "7"}), 5.0)
        assert state is not None
        assert (state.limit, state.remaining, state.seen_at) == (1000, 7, 5.0)

    def test_absent(self) -> None:
        assert parse_rate_limit(CIMultiDict(), 1.0) is None

    def test_retry_after_forms(self) -> None:
        assert parse_retry_after(CIMultiDict({"Retry-After": "120"})) == 120.0
        assert parse_retry_after(CIMultiDict({"RetryAfter": "3"})) == 3.0
        now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
        date = "Tue, 24 Nov 2026 12:01:00 GMT"
        assert parse_retry_after(CIMultiDict({"Retry-After": date}), now) == 60.0
        assert parse_retry_after(CIMultiDict({"Retry-After": "soon"})) is None
        assert parse_retry_after(CIMultiDict({"Retry-After": "-5"})) == 0.0


class TestProblemDetails:
    URL = URL("https://api.ev.energy/v2/vehicles")

    def test_validation_error_carries_field_errors(self) -> None:
        body = (
            b'{"type":"https://api.ev.energy/problems/validation","title":"Invalid","status":400,'
            b'"detail":"Bad page size","instance":"/v2/vehicles","field_errors":{"page_size":["too big"]}}'
        )
        err = error_from_response("GET", self.URL, 400, CIMultiDict(), body)
        assert isinstance(err, BadRequestError)
        assert err.field_errors == {"page_size": ["too big"]}
        assert (err.method, err.url, err.status, err.title, err.detail) == (
            "GET", str(self.URL), 400, "Invalid", "Bad page size",
        )
        assert err.type == "https://api.ev.energy/problems/validation"
        assert "page_size: too big" in str(err)

    def test_missing_type_and_non_json_body(self) -> None:
        err = error_from_response("GET", self.URL, 404, CIMultiDict(), b"<html>nope</html>")
        assert isinstance(err, NotFoundError)
        assert err.type is None and err.title is None
        assert "HTTP 404" in str(err)

    def test_rate_limit_fields(self) -> None:
        headers = CIMultiDict({"Retry-After": "3600", "X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0"})
        err = error_from_response("GET", self.URL, 429, headers, b'{"title":"Slow down","detail":"spent"}')
        assert isinstance(err, RateLimitError)
        assert (err.retry_after, err.limit, err.remaining) == (3600.0, 1000, 0)

    @pytest.mark.parametrize(("status", "cls"), [(401, UnauthorizedError), (503, ServerError), (500, ServerError)])
    def test_status_mapping(self, status: int, cls: type[Exception]) -> None:
        assert isinstance(error_from_response("GET", self.URL, status, CIMultiDict(), b""), cls)

    def test_wrongly_typed_problem_fields_are_ignored(self) -> None:
        err = error_from_response("GET", self.URL, 400, CIMultiDict(), b'{"title":5,"field_errors":["x"]}')
        assert err.title is None and err.field_errors == {}


class TestIds:
    def test_valid(self) -> None:
        assert validate_id("vehicle", VID) == VID

    @pytest.mark.parametrize(
        "bad",
        [
            "vhcl01HRFF3SEVSCRAV9B3CHVDFN0",  # short
            "xvhcl01HRFF3SEVSCRAV9B3CHVDFN0H",  # unanchored
            VID + "/../x",
            "vhcl01HRFF3SEVSCRAV9B3CHVD%2F0H",
            "vhcl01HRFF3SEVSCRAV9B3CHVDFN0\u0661",  # Arabic-Indic digit: \d would accept it
            "vhcl01hrff3sevscrav9b3chvdfn0h",
            "vmak01HRFF3SEVSCRAV9B3CHVDFN0H",
            "",
        ],
    )
    def test_invalid(self, bad: str) -> None:
        with pytest.raises(ValueError):
            validate_id("vehicle", bad)

    def test_non_string(self) -> None:
        with pytest.raises(ValueError):
            validate_id("vehicle", 42)

    @pytest.mark.parametrize("bad", ["a/b", "..", "a?b", "a#b", "%2F", "é"])
    def test_path_segment_guard(self, bad: str) -> None:
        with pytest.raises(ValueError):
            validate_path_segment(bad)

    def test_user_header_accepts_url_or_id(self) -> None:
        uid = "user01HN2NJ9NMRZBXT1H6FT9N7735"
        assert normalize_user(uid) == uid
        assert normalize_user(f"https://api.ev.energy/v2/users/{uid}/") == uid
        with pytest.raises(ValueError):
            normalize_user("https://api.ev.energy/v2/users/../x")


class TestTimestamps:
    def test_path_format_is_utc_z_micro(self) -> None:
        dt = datetime(2026, 11, 1, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
        assert format_path_timestamp(dt) == "2026-11-01T08:00:00.000005Z"

    def test_naive_refused(self) -> None:
        with pytest.raises(ValueError):
            format_path_timestamp(datetime(2026, 11, 1))


class TestUrls:
    def test_http_refused_unless_loopback(self) -> None:
        with pytest.raises(ValueError, match="https"):
            check_base_url(URL("http://api.ev.energy/v2"))
        for host in ("127.0.0.1", "localhost", "[::1]", "127.3.4.5"):
            check_base_url(URL(f"http://{host}:8080/v2"))

    def test_credentials_in_base_url_refused(self) -> None:
        with pytest.raises(ValueError):
            check_base_url(URL("https://user:pw@api.ev.energy/v2"))

    def test_redaction(self) -> None:
        text = redact_url("https://x/o/token/?code=SECRET&state=1&access_token=T0K")
        assert "SECRET" not in text and "T0K" not in text and "state=1" in text


class TestHeaders:
    def test_build(self) -> None:
        h = build_headers(api_version=2, token="t", user="user01HN2NJ9NMRZBXT1H6FT9N7735", has_body=True)
        assert h["EvEnergy-Version"] == "2"
        assert h["Authorization"] == "Bearer t"
        assert h["EvEnergy-User"] == "user01HN2NJ9NMRZBXT1H6FT9N7735"
        assert h["Content-Type"] == "application/json"
        assert "Authorization" not in build_headers(api_version=2, token=None, user=None, has_body=False)


class TestRetryPolicy:
    def test_methods(self) -> None:
        p = RetryPolicy()
        assert p.retry_status("GET", 503) and p.retry_status("PATCH", 502) and p.retry_status("DELETE", 504)
        assert not p.retry_status("POST", 503)
        assert p.retry_status("POST", 429)
        assert not p.retry_status("GET", 500)
        assert p.retry_transport("POST", ConnectError("x", method="POST"))
        assert not p.retry_transport("POST", ResponseLostError("x", method="POST"))
        assert p.retry_transport("GET", ResponseLostError("x", method="GET"))

    def test_backoff_grows_and_is_capped(self) -> None:
        p = RetryPolicy(backoff_base=1.0, backoff_max=5.0, jitter=lambda ceiling: ceiling)
        assert [p.backoff(a) for a in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]

    def test_invalid(self) -> None:
        with pytest.raises(ValueError):
            RetryPolicy(max_attempts=0)
