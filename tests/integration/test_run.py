"""``run`` end to end: the real local MediaWiki, real Pywikibot, and the platform simulator.

Every test uses its own page (``title``) and state file, and confirmations = 1 over 0 days so
that one run acts at once.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from wmsocial_bot.config import Config, PolicyConfig, StateConfig, WikiConfig
from wmsocial_bot.notices import reported_markers
from wmsocial_bot.run import PageReport, RunOptions, run_bot
from wmsocial_bot.state import SqliteStore
from wmsocial_bot.wiki import Wiki
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession, LocalWiki

pytestmark = [pytest.mark.wiki, pytest.mark.simulator]

PAGE = """== Mastodon ==
{| class="wikitable"
! Owner !! Account
|-
| Alice's chapter || [https://social.example/@alice @alice@social.example]
|-
| Bob's group || [https://social.example/@bob @bob@social.example]
|-
| Nobody || [https://social.example/@nobody Nobody]
|-
| Carol || https://social.example/@carol
|}
== Bluesky ==
* [https://bsky.app/profile/dan.bsky.social Dan] <!-- a comment that must survive -->
* Alice again: https://social.example/@alice"""  # MediaWiki drops a final newline


def make_config(tmp_path: Path, sim: Simulator, title: str, **wiki: object) -> Config:
    return Config(
        wiki=WikiConfig(pages=(title,), **wiki),  # type: ignore[arg-type]
        # Act at once; and a host needs 10 accounts before it can look like an outage (the
        # outage test lowers that again).
        policy=PolicyConfig(confirmations=1, confirm_days=0, outage_min_accounts=10),
        state=StateConfig(path=str(tmp_path / "state.sqlite3")),
        endpoints=sim.overrides(),
    )


def run_once(
    wiki: Wiki, config: Config, *, dry_run: bool = False, out: list[str] | None = None
) -> PageReport:
    store = SqliteStore(config.state.path)
    try:
        (report,) = run_bot(
            wiki,
            config,
            store,
            pages=config.wiki.pages,
            options=RunOptions(
                dry_run=dry_run, echo=(out.append if out is not None else lambda _line: None)
            ),
        )
    finally:
        store.close()
    return report


def talk_of(title: str) -> str:
    return "Talk:" + title


def test_run_fixes_moves_in_place_and_posts_one_notice(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    human.edit(title, PAGE)
    config = make_config(tmp_path, sim, title)
    report = run_once(bot_wiki, config)
    new_text, page_rev = human.revision(title)
    # The fix changed exactly the link target and the label that showed the old handle.
    changed = [
        line for line in difflib.ndiff(PAGE.splitlines(), new_text.splitlines()) if line[:1] in "+-"
    ]
    assert changed == [
        "- | Bob's group || [https://social.example/@bob @bob@social.example]",
        "+ | Bob's group || [https://new.example/@bob @bob@new.example]",
    ]
    assert report.edit_revid == page_rev
    summary = human.get(action="query", prop="revisions", titles=title, rvprop="comment|user")
    (page,) = summary["query"]["pages"]
    assert "@bob@social.example -> @bob@new.example (moved)" in page["revisions"][0]["comment"]
    talk, _ = human.revision(talk_of(title))
    markers = reported_markers(talk)
    assert {
        "deleted:mastodon:nobody@social.example",
        "suspended:mastodon:carol@social.example",
        "suspended:bluesky:dan.bsky.social",
        "duplicate:mastodon:alice@social.example",
    } <= markers
    assert talk.count("~~~~") == 0 and "(UTC)" in talk, "the section is signed"
    assert talk.count("\n== ") + talk.startswith("== ") == 1, "one section"

    # Idempotence: a second run with nothing changed makes no edit at all.
    again = run_once(bot_wiki, config)
    assert human.revision(title)[1] == page_rev
    assert again.edit_revid is None and again.notice_revid is None and not again.new_findings
    # Each run recorded each account's activity and followers once, for the dashboard.
    store = SqliteStore(config.state.path)
    try:
        alice = store.reach_history()["mastodon:alice@social.example"]
    finally:
        store.close()
    assert [(r.reach.posts_total, r.reach.followers) for r in alice] == [(42, 10), (42, 10)]


def test_no_repeat_even_after_losing_the_state_file(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    human.edit(title, PAGE)
    config = make_config(tmp_path, sim, title)
    run_once(bot_wiki, config)
    talk_rev = human.revision(talk_of(title))[1]
    Path(config.state.path).unlink()
    run_once(bot_wiki, config)
    assert human.revision(talk_of(title))[1] == talk_rev, "the talk markers prevent a repeat"


def test_outage_is_reported_and_never_acted_on(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    human.edit(title, PAGE)
    sim.update_host("social.example", behaviour="error503")
    config = make_config(tmp_path, sim, title)
    config = replace(config, policy=replace(config.policy, outage_min_accounts=4))
    report = run_once(bot_wiki, config)
    assert report.decision is not None
    assert [o.scope for o in report.decision.outages] == ["host:social.example"]
    assert human.revision(title)[0] == PAGE
    assert not any(f.kind != "duplicate" and "social.example" in f.key for f in report.new_findings)


def test_a_new_dead_account_is_not_silenced_by_accounts_known_dead(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    """Issue 18: two accounts reported dead earlier and one new 404 are no outage."""
    human.edit(title, PAGE)
    config = make_config(tmp_path, sim, title)
    first = run_once(bot_wiki, config)
    assert {
        "deleted:mastodon:nobody@social.example",
        "suspended:mastodon:carol@social.example",
    } <= {f.marker for f in first.new_findings}
    text, _ = human.revision(title)
    human.edit(title, text + "\n* New: https://social.example/@newcomer", "add an account")
    # social.example now lists alice (ok), nobody and carol (reported), newcomer (404 + WebFinger
    # 404): 3 of 4 "bad" under the old count, while the server answers alice fine.
    config = replace(config, policy=replace(config.policy, outage_min_accounts=4))
    report = run_once(bot_wiki, config)
    assert report.decision is not None and report.decision.outages == ()
    assert [f.marker for f in report.new_findings] == ["deleted:mastodon:newcomer@social.example"]
    talk, _ = human.revision(talk_of(title))
    assert "deleted:mastodon:newcomer@social.example" in reported_markers(talk)


def test_nobots_page_is_not_edited(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    human.edit(title, "{{nobots}}\n" + PAGE)
    report = run_once(bot_wiki, make_config(tmp_path, sim, title))
    assert human.revision(title)[0] == "{{nobots}}\n" + PAGE
    assert any("nobots" in why for why in report.skipped_writes)


def test_run_page_off_means_no_writes_at_all(
    bot_wiki: Wiki,
    human: ApiSession,
    local_wiki: LocalWiki,
    sim: Simulator,
    title: str,
    tmp_path: Path,
) -> None:
    human.edit(f"User:{local_wiki.bot.name}/Run", "no")
    human.edit(title, PAGE)
    report = run_once(bot_wiki, make_config(tmp_path, sim, title))
    assert human.revision(title)[0] == PAGE
    assert human.page(talk_of(title)) is None
    assert report.skipped_writes and all("run page" in why for why in report.skipped_writes)


def test_ignore_list_and_inline_marker_silence_findings(
    bot_wiki: Wiki,
    human: ApiSession,
    local_wiki: LocalWiki,
    sim: Simulator,
    writes_on: str,
    title: str,
    tmp_path: Path,
) -> None:
    config_page = f"User:{local_wiki.bot.name}/{title.replace('/', ' ')}.json"
    human.edit(config_page, json.dumps({"ignore": ["https://social.example/@nobody"]}))
    text = PAGE.replace(
        "https://social.example/@carol",
        "https://social.example/@carol <!-- wmsocial-bot: ignore -->",
    )
    human.edit(title, text)
    report = run_once(bot_wiki, make_config(tmp_path, sim, title, config_page=config_page))
    kinds = {f.marker for f in report.new_findings}
    assert "deleted:mastodon:nobody@social.example" not in kinds
    assert "suspended:mastodon:carol@social.example" not in kinds
    assert "suspended:bluesky:dan.bsky.social" in kinds


def test_broken_onwiki_config_means_no_edits(
    bot_wiki: Wiki,
    human: ApiSession,
    local_wiki: LocalWiki,
    sim: Simulator,
    writes_on: str,
    title: str,
    tmp_path: Path,
) -> None:
    config_page = f"User:{local_wiki.bot.name}/{title.replace('/', ' ')}-broken.txt"
    human.edit(config_page, '{"policy": {"inactive_days": "soon"}}')
    human.edit(title, PAGE)
    report = run_once(bot_wiki, make_config(tmp_path, sim, title, config_page=config_page))
    assert human.revision(title)[0] == PAGE and human.page(talk_of(title)) is None
    assert any("policy.inactive_days" in why for why in report.skipped_writes)


def test_a_reverted_fix_is_reported_not_repeated(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    human.edit(title, PAGE)
    config = make_config(tmp_path, sim, title)
    run_once(bot_wiki, config)
    human.edit(title, PAGE, "revert the bot")
    report = run_once(bot_wiki, config)
    assert human.revision(title)[0] == PAGE, "the bot does not fix it again"
    assert "reverted:mastodon:bob@social.example" in {f.marker for f in report.new_findings}


def test_the_old_link_added_again_elsewhere_is_fixed_not_called_a_revert(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    """Issue 18: the bot's fix stands; a human adds the old link as a new item elsewhere."""
    human.edit(title, PAGE)
    config = make_config(tmp_path, sim, title)
    run_once(bot_wiki, config)
    fixed, _ = human.revision(title)
    assert "[https://new.example/@bob @bob@new.example]" in fixed
    human.edit(title, fixed + "\n* Bob's group, again: https://social.example/@bob", "add a link")
    report = run_once(bot_wiki, config)
    markers = {f.marker for f in report.new_findings}
    assert not any(m.startswith("reverted:") for m in markers), markers
    text, _ = human.revision(title)
    assert text == fixed + "\n* Bob's group, again: https://new.example/@bob", (
        "the new stale link is fixed; the bot's earlier fix is untouched"
    )
    talk, _ = human.revision(talk_of(title))
    assert "changed it back" not in talk


def test_a_revert_after_other_edits_is_still_a_revert(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    """The bot's line changed back by hand, with unrelated edits before and after it."""
    human.edit(title, PAGE)
    config = make_config(tmp_path, sim, title)
    run_once(bot_wiki, config)
    fixed, _ = human.revision(title)
    human.edit(title, "Intro added later.\n" + fixed + "\n* Someone else: https://x.com/z")
    reverted = (
        "Intro added later.\n"
        + fixed.replace(
            "[https://new.example/@bob @bob@new.example]", "[https://social.example/@bob Bob]"
        )
        + "\n* Someone else: https://x.com/z"
    )
    human.edit(title, reverted, "the old link was right")
    report = run_once(bot_wiki, config)
    assert human.revision(title)[0] == reverted, "the bot does not fix it again"
    assert "reverted:mastodon:bob@social.example" in {f.marker for f in report.new_findings}


def test_page_text_in_notices_is_inert(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    hostile = PAGE.replace(
        # nowiki, so that the human's own save keeps these characters literally on the page
        "| Nobody ||",
        "| <nowiki>}}{{subst:FULLPAGENAME}}[[Category:Spam]] ~~~~</nowiki> '''x''' ||",
    )
    hostile = hostile.replace(
        "[https://social.example/@nobody Nobody]",
        "[https://social.example/@nobody <nowiki>]] [[Category:Spam2]]</nowiki>]",
    )
    human.edit(title, hostile)
    run_once(bot_wiki, make_config(tmp_path, sim, title))
    talk = human.get(action="parse", page=talk_of(title), prop="categories|text")["parse"]
    assert talk["categories"] == []
    assert "Category:Spam" in talk["text"] or "Category&#58;Spam" in talk["text"]
    wikitext, _ = human.revision(talk_of(title))
    assert wikitext.count("(UTC)") == 1, "only the bot's own signature was expanded"


def test_dry_run_prints_and_writes_nothing(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    human.edit(title, PAGE)
    out: list[str] = []
    config = make_config(tmp_path, sim, title, status_page=title + "/Status")
    run_once(bot_wiki, config, dry_run=True, out=out)
    printed = "\n".join(out)
    assert "+| Bob's group || [https://new.example/@bob @bob@new.example]" in printed
    assert "deleted" in printed and "new section" in printed
    assert human.revision(title)[0] == PAGE and human.page(talk_of(title)) is None
    assert human.page(title + "/Status") is None
    store = SqliteStore(config.state.path)
    assert store.notice_state() == {}
    store.close()


def test_status_page_is_written_once_and_rewritten_only_on_change(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    human.edit(title, PAGE)
    config = make_config(tmp_path, sim, title, status_page=title + "/Status")
    run_once(bot_wiki, config)
    status, rev = human.revision(title + "/Status")
    assert "wikitable sortable" in status and "alice@social.example" in status
    assert "| yes" in status, "alice's rel=me link is verified"
    assert "bob@new.example" in status and "link updated by the bot" in status, (
        "the row shows the page as the fix left it"
    )
    run_once(bot_wiki, config)  # bob's row now comes from checking the new link
    run_once(bot_wiki, config)  # ... and his figures have an earlier run to compare with
    rev = human.revision(title + "/Status")[1]
    run_once(bot_wiki, config)
    assert human.revision(title + "/Status")[1] == rev, "nothing changed: no edit"
    sim.update_account("social.example", "alice", state="suspended", permanent=True)
    run_once(bot_wiki, config)
    assert human.revision(title + "/Status")[1] != rev


def test_edits_per_run_are_capped(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    page = PAGE + "* https://social.example/@hop\n"
    human.edit(title, page)
    config = make_config(tmp_path, sim, title)
    config = replace(config, policy=replace(config.policy, max_fixes_per_run=1))
    report = run_once(bot_wiki, config)
    assert report.fix_result is not None and len(report.fix_result.applied) == 1
    assert report.decision is not None and report.decision.capped == 1


def test_edit_conflict_during_a_run_keeps_both_edits(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    human.edit(title, PAGE)

    class Interfering:
        """The bot's wiki, but a human saves the page between the bot's read and its save."""

        def __init__(self) -> None:
            self.meddled = False

        def __getattr__(self, name: str) -> object:
            return getattr(bot_wiki, name)

        def save(
            self, page: str, change: Callable[[str], str | None], summary: object, **kw: object
        ) -> object:
            def meddle(text: str) -> str | None:
                if not self.meddled and page == title:
                    self.meddled = True
                    human.edit(title, text + "\n* Added by a human meanwhile")
                return change(text)

            return bot_wiki.save(page, meddle, summary, **kw)  # type: ignore[arg-type]

    report = run_once(Interfering(), make_config(tmp_path, sim, title))  # type: ignore[arg-type]
    final = human.revision(title)[0]
    assert "Added by a human meanwhile" in final, "the other edit survives"
    assert "[https://new.example/@bob @bob@new.example]" in final, "and so does the fix"
    assert report.edit_revid == human.revision(title)[1]


def test_cli_run_with_simulate_prints_and_writes_nothing(
    local_wiki: LocalWiki,
    human: ApiSession,
    sim: Simulator,
    writes_on: str,
    title: str,
    tmp_path: Path,
) -> None:
    human.edit(title, PAGE)
    config = tmp_path / "config.toml"
    lines = [
        '[bot]\ncontact = "User:Tester"',
        f'[wiki]\npage = "{title}"',
        f'[state]\npath = "{tmp_path / "state.sqlite3"}"',
        "[policy]\nconfirmations = 1\nconfirm_days = 0\noutage_min_accounts = 10",
        "[endpoints]",
        *[f'"{host}" = "{url}"' for host, url in sim.overrides().items()],
    ]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "wmsocial_bot", "run", "--config", str(config), "-simulate"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **local_wiki.env()},
    )
    assert done.returncode == 0, done.stderr
    assert "+| Bob's group || [https://new.example/@bob @bob@new.example]" in done.stdout
    assert "new section on [[Talk:" in done.stdout
    assert human.revision(title)[0] == PAGE and human.page(talk_of(title)) is None
