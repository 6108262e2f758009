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
from ._models import *  # noqa: F403
from ._models import __all__ as _models_all
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

__all__ = sorted(
    {
        *_auth_all,
        *_client_all,
        *_converter_all,
        *_errors_all,
        *_harvest_all,
        *_models_all,
        *_pagination_all,
        *_services_all,
        *_transport_all,
        "DEFAULT_BASE_URL",
        "RateLimitState",
        "RetryPolicy",
        "__version__",
    }
)
