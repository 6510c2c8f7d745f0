"""Format-aware scanner for model artifacts: detect by content, never execute, fail closed."""
