"""GraphQL at /graphql: a view over every domain's REST routes (see ``schema``)."""
