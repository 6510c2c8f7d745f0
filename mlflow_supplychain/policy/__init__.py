"""Policy file: schema, loader and the pure gate engine."""
