"""The one password rule, for every way a password is set (registration, password change, create-admin,
the pages) and every way it is typed (login, the OAuth2 form, the pages):

- A password is taken exactly as typed: no stripping, no normalisation, 8–128 characters (the `Password`
  type in app.users.schemas, used by every schema that carries one). "Pass-word-2026 " with its space
  registers, and logs in only with its space.
- A new password may not contain the account's phone number, and must not be easy to guess: zxcvbn (Dropbox's
  estimator, its frequency lists of leaked passwords, names, words, keyboard patterns, dates and repeats),
  told the phone number and nickname, must put it at 10^6 guesses or more (its score 2, "somewhat
  guessable", and up). That refuses `password`, `12345678`, `qwertyuiop`, `P@ssw0rd`, `abc12345`.

zxcvbn's time grows steeply with length (128 random characters take over a second of CPU, a gift to anyone
posting registrations), so a long password is estimated in chunks of ESTIMATE_CHUNK characters whose guess
counts multiply: each chunk costs a few milliseconds, and a password made of strong chunks is strong.
"""

from __future__ import annotations

import math

from zxcvbn import zxcvbn

MIN_LENGTH = 8
MAX_LENGTH = 128
# Guesses an attacker needs, as log10: 6 is zxcvbn's score 2 (its scores step at 10^3, 10^6, 10^8, 10^10).
MIN_GUESSES_LOG10 = 6.0
ESTIMATE_CHUNK = 40
# Words anyone attacking this shop would try first, besides the user's own phone number and nickname.
SITE_WORDS = ("daoxiang", "wuchang", "稻香", "五常")


def problem(password: str, *, phone: str | None = None, nickname: str | None = None) -> str | None:
    """Why `password` may not be used (a short Chinese sentence for the pages and the API), or None."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"密码长度为 {MIN_LENGTH}–{MAX_LENGTH} 个字符"
    if phone and phone in password:
        return "密码不能包含手机号"
    inputs = [word for word in (phone, nickname, *SITE_WORDS) if word]
    if guesses_log10(password, inputs) < MIN_GUESSES_LOG10:
        return "密码太常见或太容易猜到，请换一个更长、更不规律的密码"
    return None


def guesses_log10(password: str, user_inputs: list[str]) -> float:
    """zxcvbn's estimate of the guesses needed, as log10, chunk by chunk for long passwords."""
    total = 0.0
    for start in range(0, len(password), ESTIMATE_CHUNK):
        chunk = password[start : start + ESTIMATE_CHUNK]
        result = zxcvbn(chunk, user_inputs=user_inputs, max_length=ESTIMATE_CHUNK)
        total += float(result["guesses_log10"])
        if not math.isfinite(total):
            break
    return total
