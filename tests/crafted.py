"""A crafted pickle for the checkpoint-safety tests: unpickling it would run code (open a file for writing)."""


class Evil:
    """Unpickles into open(path, "w"): the marker file appears only if a loader ran the pickle's code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))
