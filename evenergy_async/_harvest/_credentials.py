"""Many credentials for one harvest: labelled entries, read lazily.

:class:`CredentialEntry` is a credential with an optional label. The harvester takes a mapping
label -> credential, or an iterable or async iterable of credentials, ``(label, credential)``
pairs or entries, and reads it only as its workers need more tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import TypeAlias

import attrs

from .._auth import BearerToken, ClientCredentials, Credential, RefreshToken

__all__ = ["CredentialEntry", "Credentials"]


@attrs.frozen
class CredentialEntry:
    """One credential of a fleet, with an optional label (reports, progress, rotations).

    ``credential``: a token string, ``BearerToken``, ``ClientCredentials`` or ``RefreshToken``.
    Without a label the harvester names it ``token<i>`` (``i``: its position in the input).
    """

    credential: Credential | str = attrs.field(repr=False)
    label: str | None = None


CredentialItem: TypeAlias = Credential | str | tuple[str, Credential | str] | CredentialEntry
Credentials: TypeAlias = (
    Mapping[str, Credential | str] | Iterable[CredentialItem] | AsyncIterable[CredentialItem]
)
"""What ``Harvester(client, credentials=...)`` takes."""

_CREDENTIAL_TYPES = (BearerToken, ClientCredentials, RefreshToken, str)


def _labelled(item: object, index: int) -> tuple[str, Credential | str]:
    if isinstance(item, CredentialEntry):
        return (item.label if item.label is not None else f"token{index}", item.credential)
    if isinstance(item, tuple):
        if len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], _CREDENTIAL_TYPES):
            return item[0], item[1]
        raise TypeError(f"credential #{index}: a pair must be (label, credential)")
    if isinstance(item, _CREDENTIAL_TYPES):
        return f"token{index}", item
    raise TypeError(f"credential #{index}: not a credential ({type(item).__name__})")


def check_credentials(credentials: object) -> None:
    """Refuse what cannot be a credentials input (a string is not a list of tokens)."""
    if isinstance(credentials, (str, bytes, *_CREDENTIAL_TYPES)):
        raise TypeError("credentials must be a mapping label -> credential or an (async) iterable of credentials")
    if not isinstance(credentials, Mapping | Iterable | AsyncIterable):
        raise TypeError(f"credentials must be a mapping or an (async) iterable, not {type(credentials).__name__}")


async def labelled(credentials: Credentials) -> AsyncIterator[tuple[str, Credential | str]]:
    """``(label, credential)`` pairs of ``credentials``, read lazily."""
    if isinstance(credentials, Mapping):
        for label, credential in credentials.items():
            if not isinstance(label, str):
                raise TypeError("credential labels must be strings")
            yield _labelled((label, credential), 0)
    elif isinstance(credentials, AsyncIterable):
        index = 0
        async for item in credentials:
            yield _labelled(item, index)
            index += 1
    else:
        for index, item in enumerate(credentials):
            yield _labelled(item, index)
