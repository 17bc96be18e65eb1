"""The wiki adapter against a real MediaWiki with real Pywikibot; no mocks.

The fixtures (tests/integration/conftest.py) start a throwaway MediaWiki 1.39 once per session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from wmsocial_bot.errors import WikiError, WritesDisabled
from wmsocial_bot.wiki import PageRevision, SectionMissing, Wiki
from wmsocial_testkit.testwiki import CHANGE_TAG, ApiSession, LocalWiki

pytestmark = pytest.mark.wiki

TWO_PARTS = "== Top ==\nalpha line\n\n== Bottom ==\nomega line\n"


def latest_change(human: ApiSession, title: str) -> dict[str, object]:
    """The newest recent-changes entry for a page, with flags, tags and comment."""
    data = human.get(
        action="query",
        list="recentchanges",
        rctitle=title,
        rcprop="ids|flags|tags|comment|user",
        rclimit=1,
    )
    changes = data["query"]["recentchanges"]
    assert changes, f"no recent change for {title}"
    return dict(changes[0])


# ---- reading -----------------------------------------------------------------------------


def test_read_returns_plain_revision(bot_wiki: Wiki, human: ApiSession, title: str) -> None:
    revid = human.edit(title, "Hello [[world]]\n")
    rev = bot_wiki.read(title)
    assert isinstance(rev, PageRevision)
    assert rev == PageRevision(
        title=title, text="Hello [[world]]", revid=revid, timestamp=rev.timestamp
    )
    assert rev.timestamp.endswith("Z") and "T" in rev.timestamp


def test_read_follows_redirects(bot_wiki: Wiki, human: ApiSession, title: str) -> None:
    human.edit(title + " target", "the target")
    human.edit(title, f"#REDIRECT [[{title} target]]")
    rev = bot_wiki.read(title)
    assert rev.title == title + " target"
    assert rev.text == "the target"


def test_read_missing_page_is_a_wiki_error(bot_wiki: Wiki, title: str) -> None:
    with pytest.raises(WikiError, match="does not exist"):
        bot_wiki.read(title)
    assert not bot_wiki.exists(title)


def test_edit_texts_gives_the_text_before_and_at_a_revision(
    bot_wiki: Wiki, human: ApiSession, title: str
) -> None:
    first = human.edit(title, "one")
    second = human.edit(title, "two")
    human.edit(title, "three")
    assert bot_wiki.edit_texts(second) == ("one", "two")
    assert bot_wiki.edit_texts(first) == ("", "one"), "a page's first revision has no parent"
    with pytest.raises(WikiError, match="revision"):
        bot_wiki.edit_texts(10**9)


def test_read_refuses_non_wikitext(bot_wiki: Wiki, human: ApiSession) -> None:
    human.edit("User:Admin/settings.json", '{"a": 1}')
    with pytest.raises(WikiError, match="content model 'json'"):
        bot_wiki.read("User:Admin/settings.json")


def test_read_invalid_title(bot_wiki: Wiki) -> None:
    with pytest.raises(WikiError, match="invalid page title"):
        bot_wiki.read("Bad [[title]]")


# ---- saving ------------------------------------------------------------------------------


def test_save_makes_a_tagged_bot_edit(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    base = human.edit(title, TWO_PARTS)
    outcome = bot_wiki.save(
        title, lambda text: text.replace("alpha", "ALPHA"), "uppercase alpha", tags=[CHANGE_TAG]
    )
    assert outcome.changed and not outcome.simulated
    assert (outcome.attempts, outcome.conflicts, outcome.base_revid) == (1, 0, base)
    text, revid = human.revision(title)
    assert revid == outcome.revid
    assert text == TWO_PARTS.replace("alpha", "ALPHA").rstrip("\n")
    change = latest_change(human, title)
    assert change["user"] == "WmsocialBot"
    assert change["bot"] is True and change["minor"] is True
    assert change["tags"] == [CHANGE_TAG]
    assert change["comment"] == "uppercase alpha"


def test_no_change_means_no_edit(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    base = human.edit(title, "unchanged")
    calls: list[str] = []

    def same(text: str) -> str:
        calls.append(text)
        return text

    for change in (lambda text: None, same):
        outcome = bot_wiki.save(title, change, "nothing")
        assert not outcome.changed and outcome.revid is None and outcome.base_revid == base
    assert calls == ["unchanged"]
    assert human.revision(title)[1] == base


def test_save_refuses_missing_page_unless_create(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    with pytest.raises(WikiError, match="does not exist"):
        bot_wiki.save(title, lambda text: "new", "create")
    outcome = bot_wiki.save(title, lambda text: text + "created", "create", create=True)
    assert outcome.changed and outcome.base_revid is None
    assert human.revision(title) == ("created", outcome.revid)


def test_save_follows_redirect(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    human.edit(title + " target", "one")
    human.edit(title, f"#REDIRECT [[{title} target]]")
    outcome = bot_wiki.save(title, lambda text: text + " two", "append")
    assert outcome.title == title + " target"
    assert human.revision(title + " target")[0] == "one two"
    assert human.revision(title)[0].startswith("#REDIRECT")


def test_edit_conflict_is_retried_on_the_new_text(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    human.edit(title, TWO_PARTS)
    seen: list[str] = []

    def change(text: str) -> str:
        seen.append(text)
        if len(seen) == 1:  # someone else saves while the bot is working
            human.edit(title, text.replace("omega", "OMEGA"), "human edit")
        return text.replace("alpha", "ALPHA")

    outcome = bot_wiki.save(title, change, "uppercase alpha")
    assert (outcome.attempts, outcome.conflicts, outcome.changed) == (2, 1, True)
    assert "OMEGA" in seen[1]  # the retry started from the human's text
    final, revid = human.revision(title)
    assert revid == outcome.revid
    assert "ALPHA line" in final and "OMEGA line" in final


def test_edit_conflicts_are_bounded(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    human.edit(title, "counter 0")
    calls = 0

    def change(text: str) -> str:
        nonlocal calls
        calls += 1
        human.edit(title, f"counter {calls}", "human keeps editing")
        return text + " (bot)"

    bot_wiki.max_attempts = 2
    with pytest.raises(WikiError, match="2 edit conflict"):
        bot_wiki.save(title, change, "never lands")
    assert calls == 2
    assert human.revision(title)[0] == "counter 2"  # the human's edit was never overwritten


def test_page_deleted_while_editing_is_not_recreated(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    human.edit(title, "alpha")

    def change(text: str) -> str:
        human.delete(title)
        return "ALPHA"

    with pytest.raises(WikiError, match="was deleted while the bot was editing it"):
        bot_wiki.save(title, change, "x")
    assert human.page(title) is None


# ---- guards ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "marker", ["{{nobots}}", "{{bots|deny=WmsocialBot}}", "{{bots|allow=SomeoneElse}}"]
)
def test_bot_exclusion_templates_are_respected(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str, marker: str
) -> None:
    base = human.edit(title, f"{marker}\nalpha")
    with pytest.raises(WritesDisabled, match="nobots"):
        bot_wiki.save(title, lambda text: text.replace("alpha", "ALPHA"), "x")
    with pytest.raises(WritesDisabled):
        bot_wiki.add_section(title, "Heading", "text", "x")
    assert human.revision(title)[1] == base


def test_bots_allow_list_permits_the_bot(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    human.edit(title, "{{bots|allow=WmsocialBot}}\nalpha")
    assert bot_wiki.save(title, lambda text: text.replace("alpha", "ALPHA"), "x").changed


def test_missing_run_page_disables_writes(bot_wiki: Wiki, human: ApiSession, title: str) -> None:
    wiki = bot_wiki.with_run_page(f"User:WmsocialBot/No such run page {title}")
    allowed, reason = wiki.writes_allowed()
    assert not allowed and "does not exist" in reason
    base = human.edit(title, "alpha")
    with pytest.raises(WritesDisabled, match="does not exist"):
        wiki.save(title, lambda text: "ALPHA", "x")
    with pytest.raises(WritesDisabled):
        wiki.add_section(title, "Heading", "text", "x")
    assert human.revision(title)[1] == base


def test_run_page_must_say_yes(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    assert bot_wiki.run_page == writes_on
    assert bot_wiki.writes_allowed()[0]
    base = human.edit(title, "alpha")
    try:
        for value in ("no", "Yes", "yes please", "#REDIRECT [[User:WmsocialBot/Other]]"):
            human.edit(writes_on, value, "stop the bot")
            allowed, reason = bot_wiki.writes_allowed()
            assert not allowed and "not 'yes'" in reason
            with pytest.raises(WritesDisabled, match="run page"):
                bot_wiki.save(title, lambda text: "ALPHA", "x")
        human.edit(writes_on, "  yes\n", "whitespace is fine")
        assert bot_wiki.writes_allowed()[0]
    finally:
        human.edit(writes_on, "yes")
    assert human.revision(title)[1] == base


def test_run_page_is_checked_before_every_attempt(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    human.edit(title, "alpha")

    def change(text: str) -> str:
        human.edit(writes_on, "no", "stop now")  # switched off while the bot works
        return "ALPHA"

    try:
        with pytest.raises(WritesDisabled):
            bot_wiki.save(title, change, "x")
    finally:
        human.edit(writes_on, "yes")
    assert human.revision(title)[0] == "alpha"


# ---- wiki refusals -----------------------------------------------------------------------


def test_protected_page(bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str) -> None:
    human.edit(title, "alpha")
    human.protect(title, "sysop")
    with pytest.raises(WikiError, match="is protected") as info:
        bot_wiki.save(title, lambda text: "ALPHA", "x")
    assert not isinstance(info.value, WritesDisabled)
    assert "\n" not in str(info.value)


def test_blocked_account(
    local_wiki: LocalWiki, bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    human.edit(title, "alpha")
    human.block(local_wiki.bot.name)
    try:
        with pytest.raises(WikiError, match="is blocked") as info:
            bot_wiki.save(title, lambda text: "ALPHA", "x")
        assert "\n" not in str(info.value)
    finally:
        human.unblock(local_wiki.bot.name)
    assert human.revision(title)[0] == "alpha"


def test_spam_blacklist(bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str) -> None:
    human.edit(title, "alpha")
    human.edit("MediaWiki:Spam-blacklist", r"spam\.example\.org")
    try:
        with pytest.raises(WikiError, match="spam blacklist blocks") as info:
            bot_wiki.save(title, lambda text: text + " https://spam.example.org/x", "x")
        assert "spam.example.org" in str(info.value)
    finally:
        human.edit("MediaWiki:Spam-blacklist", "# empty")
    assert human.revision(title)[0] == "alpha"


# ---- sections ----------------------------------------------------------------------------


def test_add_section_creates_a_talk_section(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    talk = f"Talk:{title}"
    outcome = bot_wiki.add_section(
        talk, "Dead link", "The link is dead. ~~~~", "report", tags=[CHANGE_TAG]
    )
    assert outcome.changed and outcome.revid is not None and outcome.base_revid is None
    text, revid = human.revision(talk)
    assert revid == outcome.revid
    assert text.startswith("== Dead link ==\n\nThe link is dead. [[User:WmsocialBot|")
    second = bot_wiki.add_section(talk, "Another", "More.", "report")
    text = human.revision(talk)[0]
    assert second.base_revid == revid
    assert text.index("== Dead link ==") < text.index("== Another ==\n\nMore.")
    change = latest_change(human, talk)
    assert change["comment"] == "/* Another */ report"
    assert change["minor"] is False and change["bot"] is True


def test_edit_own_section(bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str) -> None:
    talk = f"Talk:{title}"
    human.edit(talk, "== Earlier ==\nhuman text\n")
    bot_wiki.add_section(talk, "Status", "Checked: 3 accounts.", "status")
    text = human.revision(talk)[0]
    human.edit(talk, text + "\n\n== Later ==\nanother human topic\n", "new topic")
    assert bot_wiki.bot_started_section(talk, "Status")

    bodies: list[str] = []

    def change(body: str) -> str:
        bodies.append(body)
        return body.replace("3 accounts", "4 accounts")

    outcome = bot_wiki.edit_own_section(talk, "Status", change, "update")
    assert outcome.changed
    assert bodies[0].strip() == "Checked: 3 accounts."
    final = human.revision(talk)[0]
    assert "== Earlier ==\nhuman text" in final
    assert "== Status ==\n\nChecked: 4 accounts." in final
    assert final.endswith("== Later ==\nanother human topic")
    assert latest_change(human, talk)["comment"] == "/* Status */ update"


def test_edit_own_section_refuses_other_peoples_sections(
    bot_wiki: Wiki, human: ApiSession, writes_on: str, title: str
) -> None:
    talk = f"Talk:{title}"
    base = human.edit(talk, "== Status ==\nwritten by a human\n")
    with pytest.raises(WikiError, match="not started by WmsocialBot"):
        bot_wiki.edit_own_section(talk, "Status", lambda body: "mine now", "x")
    with pytest.raises(SectionMissing):
        bot_wiki.edit_own_section(talk, "No such heading", lambda body: "x", "x")
    assert human.revision(talk)[1] == base


# ---- -simulate and global options, in a fresh process ---------------------------------------

SIMULATE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from dataclasses import asdict
    from wmsocial_bot.wiki import Wiki

    wiki, rest = Wiki.from_args(sys.argv[2:])
    title = sys.argv[1]
    result = {"rest": rest, "simulate": wiki.simulate, "user": wiki.username,
              "site": wiki.site_name}
    result["save"] = asdict(wiki.save(title, lambda t: t + " changed", "simulated"))
    result["section"] = asdict(wiki.add_section("Talk:" + title, "H", "body", "simulated"))
    print("RESULT " + json.dumps(result))
    """
)


def run_bot_process(
    local_wiki: LocalWiki, *args: str, script: str = SIMULATE_SCRIPT, **env_vars: str
) -> dict[str, Any]:
    env = {**os.environ, **local_wiki.env(), **env_vars}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        stdin=subprocess.DEVNULL,  # Pywikibot may ask for a password: never wait for one
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


def test_simulate_writes_nothing(
    local_wiki: LocalWiki, human: ApiSession, writes_on: str, title: str
) -> None:
    base = human.edit(title, "alpha")
    result = run_bot_process(local_wiki, title, "-simulate", "-maxlag:3", "-myoption", "x")
    assert result["rest"] == ["-myoption", "x"]
    assert result["simulate"] is True
    assert result["user"] == "WmsocialBot"
    assert result["site"] == "wmsocialtest:wmsocialtest"
    for key in ("save", "section"):
        outcome = result[key]
        assert isinstance(outcome, dict)
        assert outcome["simulated"] is True and outcome["changed"] is True
        assert outcome["revid"] is None
    assert human.revision(title) == ("alpha", base)
    assert human.page(f"Talk:{title}") is None


def test_importing_the_adapter_does_not_import_pywikibot() -> None:
    code = "import sys, wmsocial_bot.wiki; sys.exit('pywikibot' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


ANONYMOUS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from wmsocial_bot.errors import WritesDisabled
    from wmsocial_bot.wiki import Wiki

    wiki, rest = Wiki.from_args([])
    title = sys.argv[1]
    result = {"user": wiki.username, "run_page": wiki.run_page,
              "allowed": wiki.writes_allowed(), "text": wiki.read(title).text}
    try:
        wiki.save(title, lambda t: t + " anonymous", "x")
    except WritesDisabled as exc:
        result["refused"] = str(exc)
    print("RESULT " + json.dumps(result))
    """
)


def test_without_an_account_reads_work_and_writes_are_refused(
    local_wiki: LocalWiki, human: ApiSession, title: str, tmp_path: Path
) -> None:
    # the test wiki's Pywikibot configuration minus the account: no usernames, no passwords
    config_dir = tmp_path / "anonymous"
    shutil.copytree(local_wiki.pywikibot_dir / "families", config_dir / "families")
    lines = (local_wiki.pywikibot_dir / "user-config.py").read_text().splitlines()
    kept = [
        ln.replace(str(local_wiki.pywikibot_dir), str(config_dir))
        for ln in lines
        if not ln.startswith(("usernames", "password_file"))
    ]
    (config_dir / "user-config.py").write_text("\n".join(kept) + "\n")
    base = human.edit(title, "public text")
    result = run_bot_process(
        local_wiki, title, script=ANONYMOUS_SCRIPT, PYWIKIBOT_DIR=str(config_dir)
    )
    assert result["user"] is None and result["run_page"] is None
    allowed, reason = result["allowed"]
    assert allowed is False and "not logged in" in reason
    assert result["text"] == "public text"
    assert "not logged in" in str(result["refused"])
    assert human.revision(title)[1] == base


def test_testwiki_cli_run_starts_and_stops(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "testwiki.py"
    probe = (
        "import json, os, requests; s = json.load(open(os.environ['WMSOCIAL_TESTWIKI'])); "
        "r = requests.get(s['api'], params={'action': 'query', 'format': 'json'}); "
        "print('PORT', s['port'], r.status_code, os.environ['PYWIKIBOT_DIR'])"
    )
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "run",
            "--dir",
            str(tmp_path / "w"),
            "--",
            sys.executable,
            "-c",
            probe,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0 and "php" in done.stderr and os.environ.get("CI") != "true":
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    port, status, pwb_dir = done.stdout.split("PORT ")[1].split()
    assert status == "200"
    assert pwb_dir == str(tmp_path / "w" / "pywikibot")
    assert (tmp_path / "w" / "pywikibot" / "user-password.py").stat().st_mode & 0o077 == 0
    state = json.loads((tmp_path / "w" / "testwiki.json").read_text())
    assert state["pid"] is None
    running = subprocess.run(
        ["pgrep", "-f", f"php -S 127.0.0.1:{port}"], check=False, capture_output=True
    )
    assert running.returncode == 1, running.stdout


LOGIN_SCRIPT = textwrap.dedent(
    """
    import json
    from wmsocial_bot.errors import WikiError
    from wmsocial_bot.wiki import Wiki

    try:
        Wiki.from_args([])
        result = {"error": None}
    except WikiError as exc:
        result = {"error": str(exc)}
    print("RESULT " + json.dumps(result))
    """
)


def test_wrong_bot_password_is_a_clear_error(local_wiki: LocalWiki, tmp_path: Path) -> None:
    config_dir = tmp_path / "badpassword"
    shutil.copytree(local_wiki.pywikibot_dir / "families", config_dir / "families")
    config = (local_wiki.pywikibot_dir / "user-config.py").read_text()
    (config_dir / "user-config.py").write_text(
        config.replace(str(local_wiki.pywikibot_dir), str(config_dir))
    )
    password_file = config_dir / "user-password.py"
    password_file.write_text(f"('{local_wiki.bot.name}', BotPassword('wmsocial', '{'0' * 32}'))\n")
    password_file.chmod(0o600)
    result = run_bot_process(local_wiki, script=LOGIN_SCRIPT, PYWIKIBOT_DIR=str(config_dir))
    assert result["error"].startswith("login to wmsocialtest:wmsocialtest as WmsocialBot failed")
    assert "\n" not in result["error"]
