"""Credentials out of everything a run records about how it was launched (pure).

:func:`scrub_secrets` is the one function every writer of options, input patterns and messages
calls — the manifest, the OpenLineage events, the reports (they are built from the manifest), the
CLI's own messages, and, through :func:`install_log_scrubbing`, every log line (Beam's too: it echoes
patterns and options in its warnings and errors). Inside any string it replaces with ``<redacted>``:

- URL userinfo: ``https://user:password@host/...`` → ``https://<redacted>@host/...``;
- every URL query value and fragment: ``gs://b/tmp?X-Goog-Signature=...`` →
  ``gs://b/tmp?X-Goog-Signature=<redacted>`` (parameter names are kept, they say what was there);
- the value of any ``name=value`` / ``name: value`` whose name says secret (token, secret, password,
  key, credential, signature, auth, session, cookie ...): ``deploy_token=<redacted>``;
- ``Bearer`` / ``Basic`` authorisation values;
- values shaped like a known kind of token (GitHub ``ghp_``, AWS ``AKIA``, Google ``AIza`` / ``ya29.``,
  Slack ``xox?-``, ``sk-``, GitLab ``glpat-``, JWTs) and any other run of 32+ characters of a token
  alphabet mixing upper case, lower case and digits (hex digests and ids, all lower case, are kept).

:func:`scrub_options` also redacts whole option values whose key names a secret
(``--service_account_email``, ``--impersonate_service_account``, ``--dataflow_kms_key`` ...).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

REDACTED = "<redacted>"
# Option keys whose whole value is a secret or an identity.
SECRET_OPTION_WORDS = ("token", "secret", "password", "passwd", "credential", "key", "service_account",
                       "impersonate")
# Words that make the name of a name=value pair (or a query parameter) secret.
_SECRET_NAME_WORDS = ("token", "secret", "passw", "pwd", "credential", "key", "signature", "auth", "session",
                      "cookie", "bearer", "private")

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
# The value is looked ahead, not consumed: in "experiments=api_key=x" the name "api_key" is found too.
_NAMED = re.compile(r"(?P<name>[A-Za-z_][\w.\-]*)\s*[=:]\s*(?=(?P<value>[^\s,;&'\"<>=]+))")
_AUTH = re.compile(r"(?i)\b(?P<name>bearer|basic)(?P<sep>\s+)(?P<value>[A-Za-z0-9._~+/=\-]{8,})")
_TOKEN_SHAPES = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{30,}"
    r"|ya29\.[0-9A-Za-z_\-]{10,}|xox[abprs]-[0-9A-Za-z\-]{10,}|sk-[A-Za-z0-9_\-]{20,}|glpat-[0-9A-Za-z_\-]{20,}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})")
_LONG_RUN = re.compile(r"(?<![A-Za-z0-9_\-+=])[A-Za-z0-9_\-+=]{32,}(?![A-Za-z0-9_\-+=])")


def _secret_name(name: str) -> bool:
    n = name.lower()
    if n.endswith(("error", "exception", "warning")):  # "KeyError: ..." names an exception, not a key
        return False
    return n in ("sig", "pw") or any(w in n for w in _SECRET_NAME_WORDS)


def _url(m: re.Match) -> str:
    url = m.group()
    try:
        parts = urlsplit(url)
    except ValueError:  # not parseable as a URL (e.g. a bad IPv6 literal): every value goes
        return url.split("://", 1)[0] + "://" + REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{k}={REDACTED}" for k, _v in pairs) if pairs else REDACTED
    fragment = REDACTED if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _named(s: str) -> str:
    cuts = [m.span("value") for m in _NAMED.finditer(s)
            if _secret_name(m.group("name")) and m.group("value") != REDACTED
            # an "Authorization: Bearer ..." value is left to the Bearer rule
            and m.group("value").lower() not in ("bearer", "basic")]
    for start, end in reversed(cuts):
        s = s[:start] + REDACTED + s[end:]
    return s


def _long_run(m: re.Match) -> str:
    s = m.group()
    mixed = any(c.isupper() for c in s) and any(c.islower() for c in s) and any(c.isdigit() for c in s)
    return REDACTED if mixed else s


def scrub_string(s: str) -> str:
    """``s`` with URL userinfo, URL query values, named secrets and token-like values redacted."""
    if "://" in s:
        s = _URL.sub(_url, s)
    s = _AUTH.sub(lambda m: m.group("name") + m.group("sep") + REDACTED, s)
    if "=" in s or ":" in s:
        s = _named(s)
    s = _TOKEN_SHAPES.sub(REDACTED, s)
    return _LONG_RUN.sub(_long_run, s)


def scrub_secrets(value):
    """Any JSON-like value (str, list, tuple, dict — keys too) with every string scrubbed."""
    if isinstance(value, str):
        return scrub_string(value)
    if isinstance(value, dict):
        return {scrub_secrets(k): scrub_secrets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_secrets(v) for v in value]
    return value


def scrub_options(options: dict) -> dict:
    """Pipeline options as recorded: values of secret-named keys redacted whole, every other value
    scrubbed (:func:`scrub_secrets`)."""
    out = {}
    for k, v in options.items():
        if any(w in k.lower() for w in SECRET_OPTION_WORDS) and v not in (None, False, [], ""):
            out[k] = REDACTED
        else:
            out[k] = scrub_secrets(v)
    return out


_installed = False


def install_log_scrubbing() -> None:
    """Every log record created from now on in this process (any logger: Beam's, Google's, ours) has its
    message and traceback scrubbed before any handler formats it. Idempotent."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log call: leave it to logging's own error path
            return record
        record.msg, record.args = scrub_string(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub_string(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
