"""dsarctl: answer data subject requests from one inventory file."""

__version__ = "0.1.0"
