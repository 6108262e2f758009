"""The OAuth endpoints at the origin root: token, authorize, revoke (not part of the 38)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from aiohttp import web
from yarl import URL

from .._auth import DEFAULT_SCOPES, KNOWN_SCOPES, TokenInfo, pkce_matches
from .._http import JSON, json_response
from .._problems import ProblemError
from .._state import STATE, State
from .._wire import loads

__all__: list[str] = []  # private module

routes = web.RouteTableDef()


def token_body(st: State, info: TokenInfo) -> dict[str, Any]:
    """The token endpoint's answer for ``info``."""
    body: dict[str, Any] = {
        "access_token": info.token,
        "token_type": "Bearer",
        "expires_in": st.config.token_ttl,
        "scope": " ".join(sorted(info.scopes)),
    }
    if info.refresh_token is not None:
        body["refresh_token"] = info.refresh_token
    return body


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return json_response({"error": error, "error_description": description}, status=status,
                         headers=headers)


async def _form(request: web.Request) -> dict[str, str]:
    raw = await request.read()
    ctype = request.content_type
    if ctype == JSON:
        try:
            data = loads(raw) if raw else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return {}
        return {str(k): str(v) for k, v in data.items() if v is not None}
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}
    return dict(pairs)


def _client_auth(request: web.Request, form: Mapping[str, str]) -> tuple[str | None, bool]:
    """Return ``(client_id, authenticated_with_secret)``; ``(None, False)`` on bad auth."""
    st = request.app[STATE]
    auth = request.headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, False
        raw_id, sep, raw_secret = decoded.partition(":")
        basic_id, basic_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if sep and basic_id == st.client_id and basic_secret == st.client_secret:
            return basic_id, True
        return None, False
    cid = form.get("client_id")
    secret = form.get("client_secret")
    if cid is None or cid != st.client_id:
        return None, False
    if secret is not None:
        return (cid, True) if secret == st.client_secret else (None, False)
    return cid, False


def _scopes(form: Mapping[str, str], allowed: frozenset[str]) -> frozenset[str] | None:
    raw = form.get("scope")
    if raw is None or not raw.strip():
        return allowed
    scopes = frozenset(raw.split())
    if not scopes <= allowed:
        return None
    return scopes


@routes.post("/o/token/")
async def oauth_token(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    tokens = st.tokens
    form = await _form(request)
    grant = form.get("grant_type")
    client_id, with_secret = _client_auth(request, form)
    no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if grant == "client_credentials":
        if client_id is None or not with_secret:
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        scopes = _scopes(form, KNOWN_SCOPES if form.get("scope") else DEFAULT_SCOPES)
        if scopes is None:
            return _oauth_error("invalid_scope", "Unknown scope requested.")
        info = tokens.issue(client_id, None, scopes, False)
        return json_response(token_body(st, info), headers=no_store)
    if grant == "authorization_code":
        if client_id is None:
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        code = tokens.codes.get(form.get("code", ""))
        if code is None or code.used or st.config.clock() >= code.expires_at \
                or code.client_id != client_id:
            return _oauth_error("invalid_grant", "Invalid or expired code.")
        if code.redirect_uri is not None and form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri does not match.")
        if code.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier or not pkce_matches(code.challenge, code.challenge_method, verifier):
                return _oauth_error("invalid_grant", "PKCE verification failed.")
        elif not with_secret:
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        code.used = True
        info = tokens.issue(client_id, code.user_id, code.scopes, True)
        return json_response(token_body(st, info), headers=no_store)
    if grant == "refresh_token":
        if client_id is None:
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        rinfo = tokens.refresh.get(form.get("refresh_token", ""))
        if rinfo is None or rinfo.client_id != client_id:
            return _oauth_error("invalid_grant", "Invalid refresh token.")
        scopes = _scopes(form, rinfo.scopes)
        if scopes is None:
            return _oauth_error("invalid_scope", "Scope exceeds the original grant.")
        del tokens.refresh[rinfo.token]
        info = tokens.issue(client_id, rinfo.user_id, scopes, True)
        return json_response(token_body(st, info), headers=no_store)
    if grant is None:
        return _oauth_error("invalid_request", "Missing grant_type.")
    return _oauth_error("unsupported_grant_type", f"Unsupported grant_type {grant!r}.")


@routes.get("/o/authorize/")
async def oauth_authorize(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    q = request.query
    if q.get("client_id") != st.client_id:
        return _oauth_error("invalid_client", "Unknown client_id.")
    redirect = q.get("redirect_uri")
    if not redirect:
        return _oauth_error("invalid_request", "Missing redirect_uri.")
    try:
        target = URL(redirect)
    except ValueError:
        target = None
    if target is None or not target.is_absolute():
        return _oauth_error("invalid_request", "redirect_uri must be an absolute URL.")
    state = q.get("state")
    extra = {"state": state} if state is not None else {}
    if q.get("response_type") != "code":
        return web.Response(status=302, headers={"Location": str(target.update_query(
            {"error": "unsupported_response_type", **extra}))})
    method = q.get("code_challenge_method")
    challenge = q.get("code_challenge")
    if challenge is not None and method not in (None, "plain", "S256"):
        return web.Response(status=302, headers={"Location": str(target.update_query(
            {"error": "invalid_request",
             "error_description": "unsupported code_challenge_method", **extra}))})
    scopes = _scopes(dict(q), KNOWN_SCOPES if q.get("scope") else DEFAULT_SCOPES)
    if scopes is None:
        return web.Response(status=302, headers={"Location": str(target.update_query(
            {"error": "invalid_scope", **extra}))})
    user_id = q.get("user_id") or next(iter(st.data.users_by_id))
    if user_id not in st.data.users_by_id:
        return web.Response(status=302, headers={"Location": str(target.update_query(
            {"error": "access_denied", **extra}))})
    code = st.tokens.new_code(
        st.client_id, user_id, redirect, scopes, challenge,
        method if challenge is not None else None, st.config.auth_code_ttl,
    )
    return web.Response(status=302, headers={"Location": str(target.update_query(
        {"code": code.code, **extra}))})


@routes.post("/o/revoke_token/")
async def oauth_revoke(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    form = await _form(request)
    client_id, _with_secret = _client_auth(request, form)
    if client_id is None:
        return _oauth_error("invalid_client", "Client authentication failed.", 401)
    token = form.get("token")
    if not token:
        return _oauth_error("invalid_request", "Missing token.")
    st.tokens.revoke(token, client_id)
    return web.Response(status=200)


async def no_trailing_slash(request: web.Request) -> web.StreamResponse:
    raise ProblemError(
        405, f"Method {request.method} is not allowed on {request.path}: the OAuth "
        "endpoints need their trailing slash.", title="Method Not Allowed",
    )


for _path in ("/o/token", "/o/authorize", "/o/revoke_token"):
    routes.route("*", _path)(no_trailing_slash)
