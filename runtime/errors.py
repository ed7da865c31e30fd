"""Errors a user can cause and fix: the CLI prints the one-line message and exits 2."""


class EdgeError(Exception):
    """Base of every user-facing error; its message is one line that names the culprit."""


class ImageError(EdgeError):
    """An image file that is missing, unreadable or not an image."""


class ModelError(EdgeError):
    """A model file that is missing, unreadable or does not fit its manifest."""


class ManifestError(EdgeError):
    """An edge.json that is missing, malformed or does not describe the model beside it."""
