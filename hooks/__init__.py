"""Model registry and loading through TransformerLens 4 bridges; hooked, pooled capture."""
