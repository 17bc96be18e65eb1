"""The two backends of the Bluesky contract: the reference stack and the simulator."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from reference_bluesky import ReferenceStack

from wmsocial_testkit.sim_scenario import DEFAULT_PDS
from wmsocial_testkit.simulator import Simulator

DID_WEB_DOMAIN = "nobody.example.com"  # the did:web case's domain: serves no DID document
PDS_HOST = DEFAULT_PDS.split("://", 1)[1]  # the simulated accounts' PDS


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"Not Found"
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _not_found_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class ReferenceBackend:
    """``stack.mjs`` on dev-env; the bot's public hosts point at its loopback servers."""

    def __init__(self, stack: ReferenceStack, web: str) -> None:
        self.stack = stack
        self.overrides = {
            "public.api.bsky.app": stack.urls["appview"],
            "plc.directory": stack.urls["plc"],
            # The PDS named in the DID documents: reachable because it is an override target.
            "pds.reference.test": stack.urls["pdsPublicUrl"],
            DID_WEB_DOMAIN: web,
        }
        self.urls = {key: stack.urls[key] for key in ("appview", "plc", "pds")}

    def setup(self, states: list[str]) -> dict[str, dict[str, Any]]:
        accounts: dict[str, dict[str, Any]] = self.stack.command("setup", states=states)["accounts"]
        return accounts

    def advance(self) -> None:
        self.stack.command("advance")


@contextlib.contextmanager
def reference(request: pytest.FixtureRequest) -> Iterator[ReferenceBackend]:
    stack: ReferenceStack = request.getfixturevalue("bluesky_stack")
    with _not_found_server() as web:
        yield ReferenceBackend(stack, web)


# --------------------------------------------------------------------------- the simulator


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class SimulatorBackend:
    """The same states as ``stack.mjs``, written as simulator scenario data.

    Each state is its account data before the first check, and the changes made before the
    second; dates are relative to the real clock, as on the reference stack.
    """

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.overrides = sim.overrides()
        self.urls = {
            "appview": sim.url_for("public.api.bsky.app"),
            "plc": sim.url_for("plc.directory"),
            "pds": sim.url_for(PDS_HOST),
        }
        self.later: list[Callable[[], None]] = []
        now = datetime.now(UTC)
        self.today = _stamp(now - timedelta(minutes=1))
        self.long_ago = _stamp(now - timedelta(days=3 * 365))

    def setup(self, states: list[str]) -> dict[str, dict[str, Any]]:
        accounts = {}
        for index, state in enumerate(states):
            name = f"case{index}"
            did = f"did:plc:{('case' + chr(97 + index)).ljust(24, 'x')}"
            facts = {"handle": f"{name}.test", "did": did}
            facts.update(getattr(self, f"state_{state}")(name, did) or {})
            facts.setdefault("link", f"https://bsky.app/profile/{facts['handle']}")
            accounts[state] = facts
        return accounts

    def advance(self) -> None:
        for step in self.later:
            step()
        self.later.clear()

    # -- helpers ------------------------------------------------------------------------

    def account(self, did: str, name: str, posts: list[dict[str, Any]], **more: Any) -> None:
        count = sum(1 for post in posts if post.get("kind", "post") != "repost")
        self.sim.update_bluesky(did, handle=f"{name}.test", posts=posts, posts_count=count, **more)

    def then(self, did: str, **changes: Any) -> None:
        self.later.append(lambda: self.sim.update_bluesky(did, **changes))

    def hello(self, did: str, name: str, **more: Any) -> None:
        self.account(did, name, [{"indexed_at": self.today}], **more)

    # -- the states (the same as stack.mjs) -----------------------------------------------

    def state_alive(self, name: str, did: str) -> None:
        self.hello(did, name)

    def state_quiet(self, name: str, did: str) -> None:
        self.account(did, name, [{"indexed_at": self.long_ago}])

    def state_backdated(self, name: str, did: str) -> None:
        self.account(did, name, [{"indexed_at": self.today, "created_at": self.long_ago}])

    def state_replying(self, name: str, did: str) -> None:
        posts = [{"indexed_at": self.long_ago}, {"indexed_at": self.today, "kind": "reply"}]
        self.account(did, name, posts)

    def state_reposting(self, name: str, did: str) -> None:
        # Reposts today of an old post of someone else's and of its own old post.
        repost = {"indexed_at": self.today, "kind": "repost", "subject_at": self.long_ago}
        self.account(did, name, [{"indexed_at": self.long_ago}, repost, repost])

    def state_never_posted(self, name: str, did: str) -> None:
        self.account(did, name, [])

    def state_renamed(self, name: str, did: str) -> dict[str, Any]:
        self.hello(did, name)
        self.then(did, handle=f"{name}-new.test")
        return {"new_handle": f"{name}-new.test"}

    def state_taken_over(self, name: str, did: str) -> dict[str, Any]:
        self.hello(did, name)
        self.then(did, handle=f"{name}-moved.test")
        thief = "did:plc:" + "thief".ljust(24, "z")
        self.later.append(lambda: self.hello(thief, name))
        return {"new_handle": f"{name}-moved.test"}

    def state_deactivated(self, name: str, did: str) -> None:
        self.hello(did, name)
        self.then(did, state="deactivated")

    def state_takendown(self, name: str, did: str) -> None:
        self.hello(did, name)
        self.then(did, state="takendown")

    def state_takendown_pds_only(self, name: str, did: str) -> None:
        # The AppView learns of a PDS takedown from the PDS's #account event: the same answers.
        self.state_takendown(name, did)

    def state_deleted_unknown(self, name: str, did: str) -> None:
        self.hello(did, name, state="deleted")

    def state_deleted_known(self, name: str, did: str) -> None:
        self.hello(did, name)
        self.then(did, state="deleted")

    def state_deleted_by_did(self, name: str, did: str) -> dict[str, Any]:
        self.hello(did, name, state="deleted")
        return {"link": f"https://bsky.app/profile/{did}"}

    def state_tombstoned(self, name: str, did: str) -> None:
        self.hello(did, name)
        self.then(did, state="deleted", tombstoned=True)

    def state_unregistered_did(self, name: str, did: str) -> dict[str, Any]:
        did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
        return {"handle": None, "did": did, "link": f"https://bsky.app/profile/{did}"}

    def state_did_web(self, name: str, did: str) -> dict[str, Any]:
        did = f"did:web:{DID_WEB_DOMAIN}"
        return {"handle": None, "did": did, "link": f"https://bsky.app/profile/{did}"}

    def state_handle_invalid(self, name: str, did: str) -> None:
        self.hello(did, name)
        self.then(did, handle_invalid=True)

    def state_post_swapped(self, name: str, did: str) -> None:
        self.account(did, name, [{"indexed_at": self.long_ago}, {"indexed_at": self.long_ago}])
        self.then(did, posts=[{"indexed_at": self.long_ago}, {"indexed_at": self.today}])


@contextlib.contextmanager
def simulator(request: pytest.FixtureRequest) -> Iterator[SimulatorBackend]:
    scenario = {
        "hosts": {
            "public.api.bsky.app": {"software": "bluesky-appview"},
            "plc.directory": {"software": "plc"},
            PDS_HOST: {"software": "bluesky-pds"},
            DID_WEB_DOMAIN: {"software": "web"},
        }
    }
    with Simulator(scenario) as sim:
        yield SimulatorBackend(sim)
        assert sim.errors == [], "\n".join(sim.errors)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], contextlib.AbstractContextManager[Any]]] = {
    "reference": reference,
    "simulator": simulator,
}
