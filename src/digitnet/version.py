"""digitnet's version: one line that the package, its model files, the server and the build all read."""

__version__ = "0.1.0"
