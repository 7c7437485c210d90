"""Stage replicas named by a list of URLs (`OCR_URL=http://a:8082,http://b:8082`): which one gets the next call.

Why a list besides one DNS name: on Kubernetes the Service is the answer (kube-proxy spreads each new connection
over the ready pods and follows the autoscaler), and with compose `--scale` Docker's DNS rotates the replicas'
addresses. Where nothing balances, for instance instances on several hosts without a load balancer, the
orchestrator spreads the calls itself: the replica with the fewest calls in flight, in turn among equals, and
one that could not be reached is passed over for a while (1, 2, 4... up to PASS_OVER_MAX_S), so a dead replica
costs one probe, not a call per job.
"""

from __future__ import annotations

from services.common.errors import ConfigError

# The longest a replica that refused a connection is passed over before it is tried again.
PASS_OVER_MAX_S = 15.0


def parse_urls(raw: str, variable: str) -> tuple[str, ...]:
    """The URLs of a comma-separated list; ConfigError for an empty entry list, a non-HTTP URL or a repeat."""
    urls = tuple(url.strip().rstrip("/") for url in raw.split(",") if url.strip())
    if not urls:
        raise ConfigError(f"{variable} names no URL")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{variable}: {url!r} is not an http:// or https:// URL")
    if len(set(urls)) != len(urls):
        raise ConfigError(f"{variable} names a URL twice: {raw!r}")
    return urls


class Replicas:
    """The replicas of one stage: calls in flight per URL, and which ones are passed over (monotonic seconds)."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        self.urls = urls
        self.in_flight = dict.fromkeys(urls, 0)
        self._passed_over_until = dict.fromkeys(urls, 0.0)
        self._refusals = dict.fromkeys(urls, 0)
        self._turn = 0

    def reachable(self, now: float) -> list[str]:
        return [url for url in self.urls if self._passed_over_until[url] <= now]

    def pick(self, now: float) -> str:
        """The URL for the next call (counted in flight until `done`); when all are passed over, the next in turn."""
        candidates = self.reachable(now) or list(self.urls)
        ordered = sorted(candidates, key=lambda url: (self.urls.index(url) - self._turn) % len(self.urls))
        url = min(ordered, key=lambda u: self.in_flight[u])
        self._turn = (self.urls.index(url) + 1) % len(self.urls)
        self.in_flight[url] += 1
        return url

    def done(self, url: str, reached: bool, now: float) -> None:
        """A call to `url` ended; `reached` is False when nothing answered there (connection refused, no host)."""
        self.in_flight[url] -= 1
        if reached:
            self._refusals[url], self._passed_over_until[url] = 0, 0.0
            return
        self._refusals[url] += 1
        self._passed_over_until[url] = now + min(PASS_OVER_MAX_S, 2.0 ** (self._refusals[url] - 1))
