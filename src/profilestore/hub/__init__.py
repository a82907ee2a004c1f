"""The hub: one API over every domain (the user's aggregate; later GraphQL and federation)."""
