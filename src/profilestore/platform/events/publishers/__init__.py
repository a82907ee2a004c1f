"""Broker publishers, chosen by the scheme of ``PROFILESTORE_EVENTS_URL``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from profilestore.platform.events.publisher import Publisher

SCHEMES = ("nats", "redis", "rediss", "amqp", "amqps", "kafka")


def query_options(url: str) -> dict[str, str]:
    """The URL's query as single values (``?stream=x&maxlen=10`` -> {"stream": "x", ...})."""
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


def without_query(url: str) -> str:
    return urlsplit(url)._replace(query="", fragment="").geturl()


def create_publisher(url: str) -> Publisher:
    scheme = urlsplit(url).scheme.lower()
    if scheme == "nats":
        from profilestore.platform.events.publishers.nats import NatsPublisher

        return NatsPublisher(url)
    if scheme in ("redis", "rediss"):
        from profilestore.platform.events.publishers.redis_streams import RedisStreamsPublisher

        return RedisStreamsPublisher(url)
    if scheme in ("amqp", "amqps"):
        from profilestore.platform.events.publishers.rabbitmq import RabbitMqPublisher

        return RabbitMqPublisher(url)
    if scheme == "kafka":
        from profilestore.platform.events.publishers.kafka import KafkaPublisher

        return KafkaPublisher(url)
    raise ValueError(f"unsupported events URL scheme {scheme!r}: use one of {', '.join(SCHEMES)}")
