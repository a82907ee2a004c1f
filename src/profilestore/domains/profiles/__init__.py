"""Identity profiles: username, display name, bio, avatar, presence, preferences, addresses."""
