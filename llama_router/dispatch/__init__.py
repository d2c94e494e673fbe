"""The request path: from a ranked list of deployments to one answer, within one deadline.

- :mod:`~llama_router.dispatch.dispatcher`: the entry, one :class:`Dispatcher` per router;
- :mod:`~llama_router.dispatch.snapshot`: the policy's snapshot and the ranking;
- :mod:`~llama_router.dispatch.walk`: the walk over the candidates (try, retry, fail over);
- :mod:`~llama_router.dispatch.attempt`: one try (health re-check, probe, limit slot);
- :mod:`~llama_router.dispatch.retries`, :mod:`~llama_router.dispatch.hedging`;
- :mod:`~llama_router.dispatch.chat`, :mod:`~llama_router.dispatch.streaming` (idle watch
  in :mod:`~llama_router.dispatch.idle`, continuation);
- :mod:`~llama_router.dispatch.recording`: what each outcome writes to the store and route.

Every decision (retry? fail over, where? cooldown? health? cost?) is a pure rule in
:mod:`llama_router.routing.outcomes`; these modules only ask.
"""

from llama_router.dispatch.dispatcher import Dispatcher

__all__ = ["Dispatcher"]
