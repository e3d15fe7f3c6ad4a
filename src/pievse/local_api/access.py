"""Who may use the local API, and for what.

The API drives the station (a simulated car, a card, a fault input), and its status names the id
tags of the sessions in progress. Three rules keep that to the people meant to have it:

* **No cross-origin requests.** A web page on another site that a person visits can send
  requests to the station from their browser. A request whose ``Origin`` is not the API's own,
  or whose ``Sec-Fetch-Site`` says it comes from another site, is refused (403); a change must
  come with ``Content-Type: application/json``, which a cross-site form cannot send (415).
* **Changes need the token.** With ``[api] token`` set, a change needs it as
  ``Authorization: Bearer <token>`` (401 otherwise). Without one, the API must listen on
  loopback (the config refuses anything else), and a change is taken from a loopback client
  only: one whose ``Host`` names a loopback address too, so that a web page whose name has been
  re-pointed at 127.0.0.1 (DNS rebinding) still cannot make one.
* **Id tags for the trusted only.** The status shows them to a client that may make changes.

The token is compared in constant time and never repeated in an answer or a log.
"""

from __future__ import annotations

import hmac
from http import HTTPStatus

from pievse.local_api.addresses import host_of_header, is_loopback
from pievse.local_api.wire import Refused, Request

__all__ = ["Access"]

_SAME_ORIGIN = ("same-origin", "none")  # "none": typed in the address bar, a bookmark
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pievse"'}


class Access:
    """The rules above for an API listening on ``host``, with the config's ``token``
    (None or "" = no token)."""

    def __init__(self, host: str, token: str | None) -> None:
        self.loopback = is_loopback(host)
        self._token = token.encode() if token else None

    def check_origin(self, request: Request) -> None:
        """Refuse (403) a request a browser sent for a page of another origin."""
        site = request.headers.get("sec-fetch-site")
        if site is not None and site.lower() not in _SAME_ORIGIN:
            raise Refused(f"cross-origin requests are refused (Sec-Fetch-Site: {site[:30]})",
                          HTTPStatus.FORBIDDEN)
        origin = request.headers.get("origin")
        if origin is None:
            return
        host = request.headers.get("host", "").lower()
        # https: the API served through a TLS reverse proxy that keeps the Host.
        if not host or origin.lower() not in (f"http://{host}", f"https://{host}"):
            raise Refused(f"cross-origin requests are refused (Origin: {origin[:60]})",
                          HTTPStatus.FORBIDDEN)

    def check_change(self, request: Request) -> None:
        """Refuse a request to change the station's state that is not declared JSON (415), or
        that comes from a client that may not make changes: 401 where the token would do, 403
        where nothing would."""
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        # A DELETE without a body has nothing to declare (no form can send a DELETE).
        bodiless_delete = request.method == "DELETE" and not request.body
        if media_type != "application/json" and not bodiless_delete:
            raise Refused("send the body as JSON, with Content-Type: application/json",
                          HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        if self.trusted(request):
            return
        if self._token is None and self.loopback:
            raise Refused("changes are taken from this machine only, addressed by a loopback "
                          f"name or address (not Host: {request.headers.get('host', '')[:60]})",
                          HTTPStatus.FORBIDDEN)
        if self._token is None:
            raise Refused("this API listens beyond loopback without an [api] token: "
                          "it makes no changes", HTTPStatus.FORBIDDEN)
        raise Refused("changing the station's state needs the [api] token, sent as "
                      '"Authorization: Bearer <token>" (pievse status and pievse sim send the '
                      "one of --config FILE)", HTTPStatus.UNAUTHORIZED, _CHALLENGE)

    def trusted(self, request: Request) -> bool:
        """Whether the client may make changes and see id tags; Refused (401) if it sends a
        token that is not the one configured."""
        sent = request.headers.get("authorization")
        if self._token is None:
            return self.loopback and _from_loopback_name(request)
        if sent is None:
            return False
        scheme, _, credentials = sent.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            credentials.strip().encode(), self._token
        ):
            raise Refused("the token sent is not this station's [api] token",
                          HTTPStatus.UNAUTHORIZED, _CHALLENGE)
        return True


def _from_loopback_name(request: Request) -> bool:
    # Browsers always send Host; a client without one is not a web page.
    host = request.headers.get("host")
    return host is None or is_loopback(host_of_header(host))
