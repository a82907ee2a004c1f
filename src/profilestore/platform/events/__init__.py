"""Events: CloudEvents envelope, transactional outbox, relay, broker publishers, feed."""
