"""One file per model: a config dataclass and an nn.Module with forward(x, state=None)."""
