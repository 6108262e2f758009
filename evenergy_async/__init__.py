"""evenergy_async: an asyncio client for the ev.energy v2 API (vehicles), with a simulator and a harvester.

Everything public is importable from here; the submodules are private.
"""

from ._auth import *  # noqa: F403
from ._auth import __all__ as _auth_all
from ._client import *  # noqa: F403
from ._client import __all__ as _client_all
from ._converter import *  # noqa: F403
from ._converter import __all__ as _converter_all
from ._errors import *  # noqa: F403
from ._errors import __all__ as _errors_all
from ._harvest import *  # noqa: F403
from ._harvest import __all__ as _harvest_all
from ._metrics import *  # noqa: F403
from ._metrics import __all__ as _metrics_all
from ._models import *  # noqa: F403
from ._models import __all__ as _models_all
from ._observe import *  # noqa: F403
from ._observe import __all__ as _observe_all
from ._pagination import *  # noqa: F403
from ._pagination import __all__ as _pagination_all
from ._sansio import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from ._sansio import RateLimitState as RateLimitState
from ._sansio import RetryPolicy as RetryPolicy
from ._services import *  # noqa: F403
from ._services import __all__ as _services_all
from ._transport import *  # noqa: F403
from ._transport import __all__ as _transport_all

__version__ = "0.1.0"


def _name_the_public_module() -> None:
    """Public classes and functions say ``evenergy_async.X`` (reprs, tracebacks, ``help``), not
    the private module that defines them; type aliases (unions) keep theirs.

    A class's string annotations are resolved first, in the module that wrote them, and
    stored resolved: ``typing.get_type_hints`` and attrs/cattrs keep working after the move.
    """
    import inspect
    import typing

    import attrs

    for name in __all__:
        obj = globals().get(name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not getattr(obj, "__module__", "").startswith(f"{__name__}._"):
            continue
        if inspect.isclass(obj):
            own = inspect.get_annotations(obj)
            try:
                hints = typing.get_type_hints(obj, include_extras=True)
            except (NameError, TypeError):  # an annotation only a type checker sees: leave it
                continue  # (tests/test_exports.py names it)
            if own:
                obj.__annotations__ = {key: hints[key] for key in own}
            if attrs.has(obj):
                attrs.resolve_types(obj)
        obj.__module__ = __name__


__all__ = sorted(
    {
        *_auth_all,
        *_client_all,
        *_converter_all,
        *_errors_all,
        *_harvest_all,
        *_metrics_all,
        *_models_all,
        *_observe_all,
        *_pagination_all,
        *_services_all,
        *_transport_all,
        "DEFAULT_BASE_URL",
        "RateLimitState",
        "RetryPolicy",
        "__version__",
    }
)

_name_the_public_module()
