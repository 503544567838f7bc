"""Local HTTP servers that stand in for the platforms' APIs in demos and tests."""
