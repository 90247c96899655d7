"""Neural models of the engine. Each takes its config dataclass and tensors; none reads files or flags."""
