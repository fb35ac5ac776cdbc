"""``TINA4_QUEUE_URL`` for Kafka: parsing, validation and redaction.

The URL is ``host:port[,host:port]`` or
``kafka://[user:password@]host:port[,host:port][?options]``. The password and
every option whose name marks it as a secret are replaced by ``***`` wherever
the URL is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from ...errors import ConfigurationError

DEFAULT_PORT = 9092
SCHEMES = ("kafka", "kafka+ssl")
# librdkafka options whose values are secrets: sasl.password,
# ssl.key.password, ssl.keystore.password, sasl.oauthbearer.client.secret,
# the PEM of a private key (ssl.key.pem) and sasl.oauthbearer.config.
SECRET_OPTION_WORDS = ("password", "secret", "token", "key.pem", "oauthbearer.config")


@dataclass(frozen=True)
class KafkaAddress:
    """The parsed ``TINA4_QUEUE_URL``: bootstrap servers and client options."""

    bootstrap: str
    partitions: int = 1
    replication: int = -1
    options: dict[str, str] = field(default_factory=dict)

    def client_config(self) -> dict[str, Any]:
        """Return the librdkafka settings every client of this address shares."""
        return {"bootstrap.servers": self.bootstrap, **self.options}

    def hide_secrets(self, text: str) -> str:
        """Return *text* with the value of every secret option replaced by ``***``."""
        for name, value in self.options.items():
            if value and is_secret(name):
                text = text.replace(value, "***")
        return text


@dataclass(frozen=True)
class UrlParts:
    """The pieces of a Kafka URL, split without decoding anything."""

    scheme: str
    # Empty when the URL names no scheme.
    shown_scheme: str
    userinfo: str | None
    hosts: str
    query: str


def split_url(url: str) -> UrlParts:
    """Split *url* into scheme, userinfo, host list and query.

    The userinfo ends at the last ``@`` before the query, so a password with
    an unencoded ``@``, ``/`` or ``#`` stays in the userinfo. A ``?`` with no
    ``=`` between it and a later ``@`` is taken as part of the password too,
    because a query always starts with ``name=value``.
    """
    text = url.strip()
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "", text
    userinfo: str | None = None
    question = rest.find("?")
    for at in reversed([i for i, char in enumerate(rest) if char == "@"]):
        if question < 0 or at < question or "=" not in rest[question:at]:
            userinfo, rest = rest[:at], rest[at + 1 :]
            break
    hosts, _, query = rest.partition("?")
    return UrlParts(scheme or "kafka", scheme, userinfo, hosts, query)


def redact(url: str) -> str:
    """Return *url* with its password and secret options replaced by ``***``."""
    parts = split_url(url)
    redacted = f"{parts.shown_scheme}://" if parts.shown_scheme else ""
    if parts.userinfo is not None:
        user, colon, _ = parts.userinfo.partition(":")
        redacted += f"{user}:***@" if colon else f"{user}@"
    redacted += parts.hosts
    if parts.query:
        redacted += "?" + "&".join(_redact_option(o) for o in parts.query.split("&"))
    return redacted


def _redact_option(option: str) -> str:
    name, equals, value = option.partition("=")
    return f"{name}=***" if equals and value and is_secret(unquote(name)) else option


def is_secret(option_name: str) -> bool:
    """Return whether the value of the librdkafka option *option_name* is a secret."""
    lowered = option_name.lower()
    return any(word in lowered for word in SECRET_OPTION_WORDS)


def parse_url(url: str) -> KafkaAddress:
    """Parse ``host:port[,host:port]`` or ``kafka://[user:password@]hosts?opts``.

    Query options ``partitions`` (of each job topic) and ``replication`` (of
    every topic, ``-1`` for the broker default) are the backend's own. Any
    other option, such as ``security.protocol=SASL_SSL``, goes to librdkafka.
    A user and password become ``sasl.username`` and ``sasl.password``.

    :raises ConfigurationError: if the URL, a port or an option is invalid.
    """
    parts = split_url(url)
    if parts.scheme not in SCHEMES:
        raise ConfigurationError(
            f"invalid TINA4_QUEUE_URL scheme {parts.scheme!r} for the Kafka "
            "backend; use host:port or kafka://host:port"
        )
    hosts = parts.hosts.removesuffix("/")
    servers = [_with_port(host, url) for host in hosts.split(",") if host]
    if not servers:
        raise ConfigurationError(
            f"TINA4_QUEUE_URL {redact(url)!r} names no Kafka server; use "
            "host:port or kafka://host:port"
        )
    options: dict[str, str] = {}
    if parts.scheme == "kafka+ssl":
        options["security.protocol"] = "SSL"
    if parts.userinfo:
        user, _, password = parts.userinfo.partition(":")
        options["sasl.username"] = unquote(user)
        options["sasl.password"] = unquote(password)
        options.setdefault("security.protocol", "SASL_PLAINTEXT")
        options.setdefault("sasl.mechanism", "PLAIN")
    partitions, replication = 1, -1
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "partitions":
            partitions = _integer_option(name, value, minimum=1)
        elif name == "replication":
            replication = _integer_option(name, value, minimum=-1)
        else:
            options[name] = value
    return KafkaAddress(",".join(servers), partitions, replication, options)


def _with_port(host: str, url: str) -> str:
    """Return ``host:port`` with the default port added if *host* has none.

    :raises ConfigurationError: if the host is malformed or its port is not
        a number from 1 to 65535.
    """
    if host.endswith("]"):  # an IPv6 address without a port, such as [::1]
        return f"{host}:{DEFAULT_PORT}"
    name, colon, port = host.rpartition(":")
    if not colon:
        name, port = host, ""
    if not name or any(char in name for char in "/@?#\\ "):
        raise ConfigurationError(
            f"invalid host {name!r} in TINA4_QUEUE_URL {redact(url)!r}; use "
            "host:port or kafka://host:port, and percent-encode special "
            "characters in the password (@ as %40, ? as %3F)"
        )
    if not colon:
        return f"{host}:{DEFAULT_PORT}"
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ConfigurationError(
            f"invalid port {port!r} for host {name!r} in TINA4_QUEUE_URL "
            f"{redact(url)!r}; use a number from 1 to 65535, or leave the port "
            f"out for {DEFAULT_PORT}"
        )
    return host


def _integer_option(name: str, value: str, *, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum or number == 0:
        raise ConfigurationError(
            f"invalid TINA4_QUEUE_URL option {name}={value!r}; use a whole number "
            f"of at least {max(minimum, 1)}" + (" or -1" if minimum < 0 else "")
        )
    return number
