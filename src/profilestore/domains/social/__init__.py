"""Social graph: contacts (nickname, favorite) and blocks, and the enforcement of blocks."""
