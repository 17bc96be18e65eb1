# ruff: noqa: F821  (usernames, authenticate and base_dir are provided by Pywikibot)
# Pywikibot configuration for wmsocial-bot on Meta-Wiki (meta.wikimedia.org).
#
# Copy this file to user-config.py in the Pywikibot directory the bot runs with (the directory
# given by -dir:, or $PYWIKIBOT_DIR, or the current directory, or ~/.pywikibot), then
#     chmod 600 user-config.py
# Pywikibot ignores a user-config.py that others may write to.
#
# No secret is written in this file: they come from environment variables, so that on
# Toolforge they are set once with
#     toolforge envvars create WMSOCIAL_BOT_USER          # e.g. WmsocialBot
#     toolforge envvars create WMSOCIAL_BOT_PASSWORD      # the BotPassword variant, or
#     toolforge envvars create WMSOCIAL_OAUTH_CONSUMER_KEY   # ... and the three other
#                                                        # WMSOCIAL_OAUTH_* (OAuth variant)
# and locally with `export ...` (or a 0600 file you `source`).  See docs/wiki.md for how to get
# a bot password or an owner-only OAuth consumer on Meta, and which grants to pick.
#
# Without any user-config.py the bot still reads Meta anonymously (read-only).
#
# Names that start with an underscore are private to this file: Pywikibot ignores them.

import os as _os
from pathlib import Path as _Path

# ---- the site ----------------------------------------------------------------------------
family = 'meta'
mylang = 'meta'

# The bot account, e.g. 'WmsocialBot' (a separate account with "bot" in its name and the bot
# flag on Meta).  -user:NAME on the command line overrides it for one run.
_user = _os.environ.get('WMSOCIAL_BOT_USER', 'WmsocialBot')
usernames['meta']['meta'] = _user

# ---- variant 1: BotPassword (Special:BotPasswords on Meta) ------------------------------
# WMSOCIAL_BOT_PASSWORD is the password Special:BotPasswords shows once; WMSOCIAL_BOT_APP is
# the bot password's name ("app id"), the part after the @ in "WmsocialBot@wmsocial".
# Pywikibot only reads passwords from a password file, one literal line per account:
#     ('WmsocialBot', BotPassword('wmsocial', '<32 characters>'))
# so the file is (re)written here, readable by the owner only, from the environment.
_bot_password = _os.environ.get('WMSOCIAL_BOT_PASSWORD')
if _bot_password:
    _password_path = _Path(base_dir) / 'wmsocial-password.py'
    _app = _os.environ.get('WMSOCIAL_BOT_APP', 'wmsocial')
    _fd = _os.open(_password_path, _os.O_WRONLY | _os.O_CREAT | _os.O_TRUNC, 0o600)
    with _os.fdopen(_fd, 'w', encoding='utf-8') as _fh:
        _fh.write(f'({_user!r}, BotPassword({_app!r}, {_bot_password!r}))\n')
    _os.chmod(_password_path, 0o600)
    password_file = str(_password_path)
# Or keep a hand-written password file instead (chmod 600):
# password_file = 'user-password.py'

# ---- variant 2: OAuth (an owner-only consumer; needs `pip install pywikibot[mwoauth]`) -----
# Special:OAuthConsumerRegistration/propose/oauth1a on Meta, "This consumer is for use only by
# <you>", same grants as below; it shows four tokens once.
_oauth = tuple(
    _os.environ.get(f'WMSOCIAL_OAUTH_{_name}', '')
    for _name in ('CONSUMER_KEY', 'CONSUMER_SECRET', 'ACCESS_KEY', 'ACCESS_SECRET')
)
if all(_oauth):
    authenticate['meta.wikimedia.org'] = _oauth

# ---- manners -----------------------------------------------------------------------------
# Seconds between two edits (Pywikibot's default is 10).  The bot edits a handful of pages
# per run, so there is no reason to be faster.
put_throttle = 10
# Back off while the database replicas lag more than 5 s (Wikimedia's rule for bots).
write_maxlag = 5
# Give up after a few retries instead of Pywikibot's 15 (about half an hour of waiting).
max_retries = 6
retry_wait = 10
retry_max = 120
# Never let Pywikibot "tidy" pages: the bot's edits must stay byte-minimal.
cosmetic_changes = False
# Identify the bot: Pywikibot sends "<username>/<script> (<description>) Pywikibot/..."
# Put a way to reach the operator here (Wikimedia's User-Agent policy).
user_agent_description = 'wmsocial-bot (https://meta.wikimedia.org/wiki/User:' + _user + ')'
