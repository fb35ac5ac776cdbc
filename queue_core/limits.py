"""Upper limits on times and counts, checked where each value enters.

They keep every stored time inside what ``datetime`` and the backends can
hold, so one bad argument cannot strand a job or break listing a topic.
"""

from __future__ import annotations

#: Maximum ``delay`` of a push and longest automatic-retry wait: 10 years.
MAX_DELAY_SECONDS = 10 * 365 * 86400

#: Maximum lease: ``TINA4_QUEUE_VISIBILITY_TIMEOUT`` and ``extend_lease()``,
#: 7 days. A job that runs longer extends its lease as it goes.
MAX_LEASE_SECONDS = 7 * 86400

#: Largest ``max_retries``.
MAX_RETRIES_LIMIT = 1000

#: Longest error text stored by ``fail()``; longer reasons are cut.
MAX_ERROR_CHARACTERS = 65536
